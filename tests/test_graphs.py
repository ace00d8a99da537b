"""GraphedStep's bookkeeping, on a CPU: torch.cuda's graph, stream and capture calls are replaced
by stand-ins that record a step (a capture runs nothing, as a real one) and rerun it on the
recorded inputs at each replay, writing into the recorded outputs."""

import contextlib

import pytest
import torch

from mnistflow.graphs import GraphedStep


class FakeGraph:
    captures: list["FakeGraph"] = []

    def __init__(self):
        self.function = None
        FakeGraph.captures.append(self)

    def replay(self):
        self.function()


class Capture:
    """What runs under ``torch.cuda.graph``: the step is called so that its outputs exist, but
    what it computes there is thrown away, as a capture computes nothing."""

    current: FakeGraph | None = None


@pytest.fixture
def fake_cuda(monkeypatch):
    FakeGraph.captures = []

    @contextlib.contextmanager
    def graph(g):
        Capture.current = g
        try:
            yield
        finally:
            Capture.current = None

    class Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "current_stream", Stream)


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
    graphed = GraphedStep(step, enabled=True, warmup=0, log=lambda s: None)
    first = graphed(torch.ones(2))[0]
    second = graphed(torch.ones(2) * 10)[0]
    assert first is second and second.tolist() == [20.0, 20.0]


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


def test_a_failed_capture_is_logged_and_the_step_runs_eagerly_from_then_on(fake_cuda):
    weight = torch.ones(1)
    logged = []

    def step(x):
        if Capture.current is not None:
            raise RuntimeError("operation not permitted when stream is capturing")
        weight.add_(1)
        return (x * weight,)

    graphed = GraphedStep(step, enabled=True, warmup=1, log=logged.append)
    results = [graphed(torch.ones(1))[0].item() for _ in range(4)]
    assert results == [2.0, 3.0, 4.0, 5.0]  # the failed capture ran nothing, the retry did
    assert graphed.failure == "RuntimeError: operation not permitted when stream is capturing"
    assert not graphed.enabled and graphed.graph is None and len(FakeGraph.captures) == 1
    assert logged == ["the training step could not be recorded as a CUDA graph, so it runs step by step (slower): "
                      "RuntimeError: operation not permitted when stream is capturing"]


def test_disabled_it_is_a_plain_call():
    graphed = GraphedStep(lambda x: (x + 1,), enabled=False)
    assert [graphed(torch.zeros(1))[0].item() for _ in range(5)] == [1.0] * 5
    assert (graphed.eager_calls, graphed.replays, graphed.graph) == (5, 0, None)
