"""A training step replayed as one CUDA graph.

On a fast GPU a small model's training step is bound by the host, not the device: Python and the
launch of its few hundred small kernels take longer than the kernels run. A CUDA graph records
the step's kernels once and replays them all with one launch: a GAN's whole step (forward,
backward and both optimizers' updates), a training run's forward and backward pass (its update
and schedule run after each replay: ``train.TrainingStep``). bench/README.md, "On a GPU", has the times.

A step can be captured when it reads only its inputs and tensors that stay where they are (the
weights, gradients zeroed in place, the optimizer's state, running sums it adds into in place),
takes its random numbers from torch's generator (dropout: each replay draws fresh ones), never
waits for the device (``.item()``, ``.cpu()``, a data-dependent shape) and, where it holds the
update, keeps its learning rate: a replay uses the one it was recorded with. An update inside
the graph must be ``capturable`` (``make_optimizer``).
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch

from .errors import ConfigValueError

# train.cuda_graphs
CUDA_GRAPH_SETTINGS = ("auto", "on", "off")


def graphs_wanted(setting: str, device: torch.device | str) -> bool:
    """Whether a job on ``device`` replays its steps as CUDA graphs under ``train.cuda_graphs``:
    auto where the device is a GPU, on everywhere (a job without a GPU is refused), off never."""
    on_gpu = torch.device(device).type == "cuda"
    if setting not in CUDA_GRAPH_SETTINGS:
        raise ConfigValueError(f"train.cuda_graphs: {setting!r}; choose one of {', '.join(CUDA_GRAPH_SETTINGS)}")
    if setting == "on" and not on_gpu:
        raise ConfigValueError(f"train.cuda_graphs: on, but this job runs on {torch.device(device).type}, "
                               "without a GPU: set it to auto or off")
    return setting != "off" and on_gpu


# Set when a capture failed inside CUDA: torch then still counts that capture as under way, and
# its next capture (which empties the allocator's cache first) would fail an internal check, so
# none is tried again in this process.
_capture_unfinished = False


class GraphedStep:
    """Calls ``step(*inputs)``, a function of tensors returning a tuple of tensors, as a CUDA
    graph once it has run eagerly ``warmup`` times (which allocates what the step builds lazily:
    the gradients, the optimizer's moments, cuBLAS's workspace). A replay copies the inputs into the recorded
    ones and returns the recorded outputs, which the next call overwrites: read them first.

    The capture waits for a call with the shapes of the eager call before it, so that it is not
    made on an epoch's last, smaller batch. A call whose inputs have other shapes than the
    recorded ones (such a batch) runs eagerly, as every call does with ``enabled=False`` (a CPU).
    A capture that fails is logged, and the step then always runs eagerly: the run goes on,
    slower (``failure`` says why)."""

    def __init__(self, step: Callable[..., tuple[torch.Tensor, ...]], enabled: bool, warmup: int = 3,
                 log: Callable[[str], None] = print):
        if warmup < 1:  # a capture must find what the step makes lazily (gradients, moments) made already
            raise ValueError(f"warmup must be at least 1, not {warmup}")
        self.step, self.enabled, self.warmup, self.log = step, enabled, warmup, log
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_calls = self.replays = 0
        self.failure: str | None = None
        self._inputs: tuple[torch.Tensor, ...] = ()
        self._outputs: tuple[torch.Tensor, ...] = ()
        self._recorded_shapes: list = []
        self._eager_shapes: list = []

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if not self.enabled:  # a CPU, or a capture given up
            self.eager_calls += 1
            return self.step(*inputs)
        given = shapes(inputs)
        if self.graph is None and self.eager_calls >= self.warmup and given == self._eager_shapes:
            self._capture(inputs, given)
        if self.graph is None or given != self._recorded_shapes:
            return self._eager(inputs, given)
        for recorded, value in zip(self._inputs, inputs):
            recorded.copy_(value)
        self.graph.replay()
        self.replays += 1
        return self._outputs

    def _eager(self, inputs, given_shapes):
        self.eager_calls += 1
        self._eager_shapes = given_shapes
        if not self.enabled:
            return self.step(*inputs)
        # as torch's CUDA graph notes do: eager warm-up on a side stream, so that what it builds
        # lazily is not tied to the stream the capture runs on
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), warnings.catch_warnings():
            # a capturable optimizer stepping outside a graph warns that it is slower so: here it
            # is meant to (warm-up, a smaller last batch)
            warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
            outputs = self.step(*inputs)
        torch.cuda.current_stream().wait_stream(side)
        return outputs

    def _capture(self, inputs, given_shapes) -> None:
        global _capture_unfinished
        if _capture_unfinished:
            self._give_up("an earlier capture in this process failed inside CUDA")
            return
        inputs = tuple(t.clone() for t in inputs)
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.current_stream()
        try:
            with torch.cuda.graph(graph):
                outputs = tuple(self.step(*inputs))
        except Exception as exc:  # noqa: BLE001 - logged; the step runs eagerly from here on
            # When CUDA rejects the capture, torch's context manager leaves its capture stream
            # current, and the error that names the operation is the one this one was raised from.
            torch.cuda.set_stream(stream)
            try:
                graph.pool()
            except RuntimeError:  # the capture never ended
                _capture_unfinished = True
            self._give_up("; ".join(f"{type(e).__name__}: {e}" for e in (exc.__context__, exc) if e is not None))
            return
        self.graph, self._inputs, self._outputs, self._recorded_shapes = graph, inputs, outputs, given_shapes

    def _give_up(self, failure: str) -> None:
        self.enabled, self.failure = False, failure
        self.log(f"the training step could not be recorded as a CUDA graph, so it runs step by step (slower): "
                 f"{failure}")


def shapes(tensors) -> list:
    return [(t.shape, t.dtype) for t in tensors]
