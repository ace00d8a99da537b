"""Independent random streams from one seed.

A run draws several kinds of randomness (initial weights, batch order and augmentation, dropout,
GAN noise, scoring samples); seeding two of them with the same number makes them the same
sequence, so they are correlated. Each stream is instead a child of ``numpy.random.SeedSequence
(seed)``, keyed by its name and, where it restarts every epoch, the epoch: what
``SeedSequence(seed).spawn`` gives, addressed by key so that a resumed run gets the same streams.
"""

from __future__ import annotations

import numpy as np
import torch

STREAMS = ("init", "order", "dropout", "fixed_noise", "score", "real_subset", "noise")
# Resume files record it: one written under other streams would mix two sequences in a run.
VERSION = "seedsequence-1"


def stream_seed(seed: int, stream: str, *index: int) -> int:
    """A 63-bit seed for ``stream`` (one of STREAMS) at ``index`` (e.g. the epoch)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; one of {', '.join(STREAMS)}")
    sequence = np.random.SeedSequence(seed, spawn_key=(STREAMS.index(stream), *index))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def generator(seed: int, stream: str, *index: int) -> torch.Generator:
    """A CPU torch generator on that stream."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, *index))


def seed_global(seed: int, stream: str, *index: int) -> None:
    """torch's global generator (what dropout and weight initialisation draw from) on that stream."""
    torch.manual_seed(stream_seed(seed, stream, *index))


def per_batch(draw, batch_sizes: list[int], generator: torch.Generator, device) -> tuple[torch.Tensor, ...]:
    """``draw(n, generator)`` for each batch in turn, as a loop over the batches would draw them,
    moved to ``device`` in one copy (a GPU then waits once an epoch, not once a batch): one
    tensor per batch."""
    return torch.cat([draw(n, generator) for n in batch_sizes]).to(device).split(batch_sizes)


def shuffled_batches(seed: int, epoch: int, n: int, batch_size: int,
                     device) -> tuple[tuple[torch.Tensor, ...], torch.Generator]:
    """Epoch ``epoch``'s order of ``n`` examples in batches of ``batch_size`` (the last one
    smaller), on ``device``, drawn from the epoch's "order" stream; and that stream, which the
    epoch's augmentation draws on from there."""
    order = generator(seed, "order", epoch)
    return torch.randperm(n, generator=order).to(device).split(batch_size), order
