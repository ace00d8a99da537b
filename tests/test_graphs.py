"""GraphedStep's bookkeeping, on a CPU: torch.cuda's graph, stream and capture calls are replaced
by stand-ins that record a step (a capture runs nothing, as a real one) and rerun it on the
recorded inputs at each replay, writing into the recorded outputs."""

import contextlib

import pytest
import torch

from mnistflow import graphs
from mnistflow.graphs import GraphedStep


class FakeGraph:
    captures: list["FakeGraph"] = []
    # as CUDA does with an operation a capture cannot hold: torch's capture_end then raises its
    # own error from the step's, and the capture never ends
    cuda_rejects = False

    def __init__(self):
        self.function = None
        self.ended = False
        FakeGraph.captures.append(self)

    def replay(self):
        self.function()

    def pool(self):
        if not self.ended:
            raise RuntimeError("Called CUDAGraph::pool without a preceding successful capture.")
        return (0, 1)


class Capture:
    """What runs under ``torch.cuda.graph``: the step is called so that its outputs exist, but
    what it computes there is thrown away, as a capture computes nothing."""

    current: FakeGraph | None = None


@pytest.fixture
def fake_cuda(monkeypatch):
    """The streams current in turn (the first is the process's), as set_stream and graph set them."""
    FakeGraph.captures, FakeGraph.cuda_rejects = [], False

    class Stream:
        def __init__(self, name="side"):
            self.name = name

        def wait_stream(self, other):
            pass

    current = [Stream("default")]

    @contextlib.contextmanager
    def graph(g):
        Capture.current = g
        current.append(Stream("capture"))
        try:
            yield
        except Exception:
            if FakeGraph.cuda_rejects:  # capture_end raises, and the capture stream stays current
                raise RuntimeError("operation failed due to a previous error during capture")
            g.ended = True  # a Python error: capture_end still ends the capture
            current.append(current[0])
            raise
        finally:
            Capture.current = None
        g.ended = True
        current.append(current[0])

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda: current[-1])
    monkeypatch.setattr(torch.cuda, "set_stream", current.append)
    monkeypatch.setattr(graphs, "_capture_unfinished", False)
    return current


def affine_step(weight: torch.Tensor):
    """A step of a training loop's shape: reads its input and a weight it updates in place."""
    calls = []

    def step(x: torch.Tensor) -> tuple[torch.Tensor]:
        if Capture.current is not None:  # recording: replays run it on the recorded input
            recorded_weight = weight.clone()
            out = x * recorded_weight
            graph = Capture.current

            def replay():
                out.copy_(x * weight)
                weight.add_(1)
                calls.append("replay")

            graph.function = replay
            calls.append("capture")
            return (out,)
        calls.append("eager")
        out = x * weight
        weight.add_(1)
        return (out,)

    return step, calls


def test_the_step_runs_eagerly_for_its_warm_up_then_is_captured_once_and_replayed_on_fresh_inputs(fake_cuda):
    weight = torch.ones(3)
    step, calls = affine_step(weight)
    graphed = GraphedStep(step, enabled=True, warmup=2, log=lambda s: None)
    outputs = [graphed(torch.full((3,), float(i)))[0].clone() for i in range(5)]
    # weights 1, 2, 3, 4, 5 at the five calls: each call updates once, replays included
    assert [o.tolist() for o in outputs] == [[i * (i + 1.0)] * 3 for i in range(5)]
    assert calls == ["eager", "eager", "capture", "replay", "replay", "replay"]
    assert len(FakeGraph.captures) == 1 and (graphed.eager_calls, graphed.replays) == (2, 3)


def test_a_replay_returns_the_recorded_outputs_which_the_next_call_overwrites(fake_cuda):
    step, _ = affine_step(torch.ones(2))
    graphed = GraphedStep(step, enabled=True, warmup=1, log=lambda s: None)
    graphed(torch.ones(2))
    first = graphed(torch.ones(2))[0]
    second = graphed(torch.ones(2) * 10)[0]
    assert first is second and second.tolist() == [30.0, 30.0]  # weight 3 at the third call


def test_inputs_of_another_shape_run_eagerly_beside_the_graph(fake_cuda):
    weight = torch.ones(1)
    step, calls = affine_step(weight)
    graphed = GraphedStep(step, enabled=True, warmup=1, log=lambda s: None)
    graphed(torch.ones(3))
    graphed(torch.ones(3))  # captured and replayed
    last = graphed(torch.ones(2))[0]  # an epoch's smaller last batch
    assert last.tolist() == [3.0, 3.0] and calls[-1] == "eager"
    assert graphed(torch.ones(3))[0].tolist() == [4.0] * 3 and calls[-1] == "replay"
    assert len(FakeGraph.captures) == 1


def test_the_capture_waits_for_a_call_shaped_as_the_one_before_it_not_for_a_last_smaller_batch(fake_cuda):
    step, calls = affine_step(torch.ones(1))
    graphed = GraphedStep(step, enabled=True, warmup=2, log=lambda s: None)
    for size in (3, 3, 2, 3, 3, 2, 3):  # epochs of two full batches and a smaller one
        graphed(torch.ones(size))
    assert calls == ["eager"] * 4 + ["capture", "replay", "eager", "replay"]
    assert graphed._inputs[0].shape == (3,)


def failing_step(weight, error):
    def step(x):
        if Capture.current is not None:
            raise error
        weight.add_(1)
        return (x * weight,)

    return step


@pytest.mark.parametrize("cuda_rejects", [False, True])
def test_a_failed_capture_is_logged_and_the_step_runs_eagerly_from_then_on(fake_cuda, cuda_rejects):
    FakeGraph.cuda_rejects = cuda_rejects
    weight, logged = torch.ones(1), []
    error = RuntimeError("operation not permitted when stream is capturing")
    graphed = GraphedStep(failing_step(weight, error), enabled=True, warmup=1, log=logged.append)
    results = [graphed(torch.ones(1))[0].item() for _ in range(4)]
    assert results == [2.0, 3.0, 4.0, 5.0]  # the failed capture ran nothing, the retry did
    # the error that names the operation comes first, then torch's own
    failure = "RuntimeError: operation not permitted when stream is capturing" + (
        "; RuntimeError: operation failed due to a previous error during capture" if cuda_rejects else "")
    assert graphed.failure == failure
    assert not graphed.enabled and graphed.graph is None and len(FakeGraph.captures) == 1
    assert logged == [f"the training step could not be recorded as a CUDA graph, so it runs step by step (slower): "
                      f"{failure}"]
    assert fake_cuda[-1] is fake_cuda[0]  # the stream current before the capture is current again
    assert graphs._capture_unfinished is cuda_rejects


def test_after_a_capture_cuda_left_unfinished_no_other_capture_is_tried_in_the_process(fake_cuda):
    FakeGraph.cuda_rejects = True
    first = GraphedStep(failing_step(torch.ones(1), RuntimeError("sync")), enabled=True, warmup=1, log=lambda s: None)
    first(torch.ones(1))
    first(torch.ones(1))
    step, calls = affine_step(torch.ones(1))
    second = GraphedStep(step, enabled=True, warmup=1, log=lambda s: None)
    assert [second(torch.ones(1))[0].item() for _ in range(3)] == [1.0, 2.0, 3.0]
    assert calls == ["eager"] * 3 and len(FakeGraph.captures) == 1
    assert second.failure == "an earlier capture in this process failed inside CUDA"


def test_a_warm_up_of_no_call_is_refused():
    with pytest.raises(ValueError, match="warmup must be at least 1, not 0"):
        GraphedStep(lambda x: (x,), enabled=True, warmup=0)


def test_disabled_it_is_a_plain_call():
    graphed = GraphedStep(lambda x: (x + 1,), enabled=False)
    assert [graphed(torch.zeros(1))[0].item() for _ in range(5)] == [1.0] * 5
    assert (graphed.eager_calls, graphed.replays, graphed.graph) == (5, 0, None)
