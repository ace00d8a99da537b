"""A training step replayed as one CUDA graph.

On a fast GPU a small model's training step is bound by the host, not the device: Python and the
launch of its few hundred small kernels take longer than the kernels run (an MLP cGAN epoch of
600 steps took 6.6 s on an H200, bench/results/gpu-h200.json). A CUDA graph records the step's
kernels once, forward, backward and optimizer update, and replays them all with one launch.

A step can be captured when it reads only its inputs and tensors that stay where they are (the
weights, the optimizer's state, running sums it adds into in place), takes its random numbers
from torch's generator (dropout: each replay draws fresh ones), never waits for the device
(``.item()``, ``.cpu()``, a data-dependent shape) and keeps its learning rate: a replay uses the
one it was recorded with. Adam and AdamW must be made ``capturable`` (``make_optimizer``).
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch


class GraphedStep:
    """Calls ``step(*inputs)``, a function of tensors returning a tuple of tensors, as a CUDA
    graph once it has run eagerly ``warmup`` times (which allocates what the step builds lazily:
    the optimizer's moments, cuBLAS's workspace). A replay copies the inputs into the recorded
    ones and returns the recorded outputs, which the next call overwrites: read them first.

    A call whose inputs have other shapes than the recorded ones (an epoch's last, smaller batch)
    runs eagerly, as every call does with ``enabled=False`` (a CPU). A capture that fails is
    logged, and the step then always runs eagerly: the run goes on, slower (``failure`` says why)."""

    def __init__(self, step: Callable[..., tuple[torch.Tensor, ...]], enabled: bool, warmup: int = 3,
                 log: Callable[[str], None] = print):
        self.step, self.enabled, self.warmup, self.log = step, enabled, warmup, log
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_calls = self.replays = 0
        self.failure: str | None = None
        self._inputs: tuple[torch.Tensor, ...] = ()
        self._outputs: tuple[torch.Tensor, ...] = ()

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.graph is None and self.enabled and self.eager_calls >= self.warmup:
            self._capture(inputs)
        if self.graph is None or not self._fits(inputs):
            return self._eager(inputs)
        for recorded, given in zip(self._inputs, inputs):
            recorded.copy_(given)
        self.graph.replay()
        self.replays += 1
        return self._outputs

    def _fits(self, inputs) -> bool:
        return all(a.shape == b.shape and a.dtype == b.dtype for a, b in zip(self._inputs, inputs))

    def _eager(self, inputs):
        self.eager_calls += 1
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

    def _capture(self, inputs) -> None:
        self._inputs = tuple(t.clone() for t in inputs)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._outputs = tuple(self.step(*self._inputs))
        except Exception as exc:  # noqa: BLE001 - logged; the step runs eagerly from here on
            self.enabled, self.failure = False, f"{type(exc).__name__}: {exc}"
            self.log(f"the training step could not be recorded as a CUDA graph, so it runs step by step "
                     f"(slower): {self.failure}")
            return
        self.graph = graph
