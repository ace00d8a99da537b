"""t-SNE in PyTorch, on whichever device torch has: the ``torch`` backend of the t-SNE rule, the
one chosen where CUDA is (``embed.tsne.backends: [auto]``).

The algorithm is openTSNE's (1.0.4), step for step, so that its results read the same:
- exact neighbours (``neighbours.tsne_neighbours`` a point) and Gaussian affinities calibrated to the
  perplexity by bisection, symmetrised and normalised to sum 1;
- the first two PCA coordinates as the start, scaled to standard deviation 1e-4, with a jitter of
  1% of that;
- gradients without the factor 4, the attractive part over the neighbour edges, the repulsive
  part by FFT-accelerated interpolation (Linderman et al. 2019, "FIt-SNE"): charges spread by
  Lagrange polynomials onto 3 equispaced nodes per interval of the embedding's box (intervals of
  width 1 or less, at least ``intervals`` a side), convolved with the Cauchy kernel by FFT, and
  read back the same way;
- gradient descent with momentum 0.8 and gains, each point's step at most 5 long, the learning
  rate ``n / exaggeration`` of each phase, the embedding re-centred after each step.

Nothing waits for the host inside the loop but the grid's size: it is read once in ``box_every``
iterations and sized for the growth seen since the last read (at most what steps of at most 5
can reach), so that intervals stay about 1 wide or less until the next read
(``widest_interval`` in the details says how wide they got).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .neighbours import tsne_neighbours

def fft_friendly(n: int) -> int:
    """The smallest number >= n whose prime factors are 2, 3 and 5: FFTs of such sizes are fast."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def exact_neighbours(x: torch.Tensor, k: int, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest other points of every point: squared distances and indices, nearest first."""
    squared = (x * x).sum(1)
    distances, indices = [], []
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk]
        d = squared[start:start + chunk, None] - 2 * block @ x.T + squared[None, :]
        rows = torch.arange(len(block), device=x.device)
        d[rows, rows + start] = math.inf  # not its own neighbour
        values, nearest = d.topk(k, dim=1, largest=False)
        distances.append(values.clamp_(min=0))
        indices.append(nearest)
    return torch.cat(distances), torch.cat(indices)


def conditional_affinities(distances: torch.Tensor, perplexity: float, steps: int = 64) -> torch.Tensor:
    """p(j | i) over each row's neighbours, the Gaussian's precision found by bisection so that the
    row's entropy is log(perplexity). Every row takes ``steps`` steps (no host wait to stop early):
    64 halvings of the bracket leave it at float precision."""
    d = distances - distances[:, :1]  # rows are sorted: the nearest at 0, for exp's range
    target = math.log(perplexity)
    low = torch.zeros(len(d), dtype=d.dtype, device=d.device)
    high = torch.full_like(low, math.inf)
    beta = torch.ones_like(low) / d[:, -1].clamp(min=1e-12)  # exp(-1) at the farthest neighbour
    for _ in range(steps):
        p = torch.exp(-d * beta[:, None])
        total = p.sum(1)
        entropy = torch.log(total) + beta * (d * p).sum(1) / total
        flat = entropy > target  # too many effective neighbours: a narrower Gaussian
        low = torch.where(flat, beta, low)
        high = torch.where(flat, high, beta)
        beta = torch.where(torch.isinf(high), beta * 2, (low + high) / 2)
    p = torch.exp(-d * beta[:, None])
    return p / p.sum(1, keepdim=True)


def joint_affinities(conditional: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(p(j|i) + p(i|j)) / 2n over every pair that is a neighbour either way: the edges (2, m),
    each pair in both directions, and their values (which sum to 1)."""
    n, k = conditional.shape
    rows = torch.arange(n, device=indices.device).repeat_interleave(k)
    cols = indices.reshape(-1)
    keys, where = torch.unique(torch.cat([rows * n + cols, cols * n + rows]), return_inverse=True)
    values = conditional.reshape(-1) / (2 * n)
    summed = torch.zeros(len(keys), dtype=values.dtype, device=values.device)
    summed.index_add_(0, where, torch.cat([values, values]))
    return torch.stack([keys // n, keys % n]), summed


def lagrange_weights(t: torch.Tensor) -> torch.Tensor:
    """The weights of an interval's 3 nodes, at 1/6, 1/2 and 5/6 of it (openTSNE's
    n_interpolation_points: 3), for positions ``t`` in [0, 1] within it: (..., 3). Written out,
    so that no constant travels to the GPU each iteration."""
    return torch.stack([4.5 * (t - 1 / 2) * (t - 5 / 6), -9 * (t - 1 / 6) * (t - 5 / 6),
                        4.5 * (t - 1 / 6) * (t - 1 / 2)], dim=-1)


class Interpolation:
    """The FFT grid of one iteration: ``intervals`` a side over the embedding's square box."""

    def __init__(self, y: torch.Tensor, intervals: int):
        self.intervals, self.nodes = intervals, 3 * intervals
        low = y.min()
        self.width = (y.max() - low).clamp(min=1e-12) / intervals  # a 0-d tensor: no wait for the host
        scaled = (y - low) / self.width
        box = scaled.floor().clamp_(0, intervals - 1)
        weights = lagrange_weights(scaled - box)  # (n, 2, 3)
        first = (3 * box).long()  # each point's first node, per coordinate
        # the 9 nodes around each point, as flat grid indices, and their weights: (n, 9)
        three = torch.arange(3, device=y.device)
        gx, gy = first[:, 0, None] + three, first[:, 1, None] + three
        self.index = (gx[:, :, None] * self.nodes + gy[:, None, :]).reshape(len(y), 9)
        self.weight = (weights[:, 0, :, None] * weights[:, 1, None, :]).reshape(len(y), 9)
        # the kernels at every node offset, in a circulant of twice the grid's size
        offsets = torch.arange(2 * self.nodes, device=y.device, dtype=y.dtype)
        offsets = torch.where(offsets < self.nodes, offsets, offsets - 2 * self.nodes) * (self.width / 3)
        cauchy = 1 / (1 + offsets[:, None] ** 2 + offsets[None, :] ** 2)
        self.kernels = torch.fft.rfft2(torch.stack([cauchy, cauchy * cauchy]))

    def cauchy_sum(self) -> torch.Tensor:
        """Z: the Cauchy kernel summed over every pair i != j (a 0-d tensor)."""
        n = len(self.index)
        ones = torch.ones(n, 1, dtype=self.weight.dtype, device=self.weight.device)
        return (self.potentials(ones, 0).sum() - n).clamp(min=1e-12)

    def potentials(self, charges: torch.Tensor, kernel: int) -> torch.Tensor:
        """sum_j K(y_i, y_j) charges_j at every point, for each column of ``charges`` (n, c);
        kernel 0: 1 / (1 + r^2), 1: its square."""
        n, c = charges.shape
        grid = torch.zeros(c, self.nodes * self.nodes, dtype=charges.dtype, device=charges.device)
        spread = (self.weight[:, None, :] * charges[:, :, None]).permute(1, 0, 2).reshape(c, -1)
        grid.scatter_add_(1, self.index.reshape(1, -1).expand(c, -1), spread)
        padded = torch.zeros(c, 2 * self.nodes, 2 * self.nodes, dtype=charges.dtype, device=charges.device)
        padded[:, :self.nodes, :self.nodes] = grid.view(c, self.nodes, self.nodes)
        field = torch.fft.irfft2(torch.fft.rfft2(padded) * self.kernels[kernel], s=padded.shape[1:])
        field = field[:, :self.nodes, :self.nodes].reshape(c, -1)
        return (field[:, self.index] * self.weight).sum(2).T


@dataclass(frozen=True)
class TorchTSNE:
    """t-SNE of ``x`` (n, d) into 2-D. The defaults are openTSNE's."""

    perplexity: float = 30
    early_exaggeration: float = 12
    early_exaggeration_iterations: int = 250
    iterations: int = 500
    intervals: int = 50  # openTSNE's min_num_intervals
    box_every: int = 10  # iterations between two reads of the embedding's box
    device: str | None = None  # None: CUDA where there is one

    def fit(self, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict]:
        """The 2-D coordinates and what the run measured (its phases' seconds, the final KL divergence)."""
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        n = len(x)
        if n < 2:
            raise ValueError(f"t-SNE needs at least 2 points, got {n}")
        clock = Clock(device)
        points = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)
        k = tsne_neighbours(self.perplexity, n)
        distances, indices = exact_neighbours(points, k)
        seconds_neighbours = clock.lap()
        edges, weights = joint_affinities(conditional_affinities(distances, min(self.perplexity, k)), indices)
        seconds_affinities = clock.lap()
        # openTSNE's PCA start: the first two PCA coordinates (x is a PCA projection), the first
        # scaled to standard deviation 1e-4, then a jitter of 1% of that
        y = points[:, :2].double()
        y = y / y[:, 0].std().clamp(min=1e-12) * 1e-4
        noise = torch.Generator().manual_seed(seed)
        y = (y + torch.randn(n, 2, generator=noise, dtype=torch.float64).to(device) * 1e-6).float()
        optimiser = GainsDescent(y)
        widest = self._descend(y, edges, weights, optimiser, self.early_exaggeration,
                               self.early_exaggeration_iterations)
        seconds_exaggeration = clock.lap()
        widest = torch.maximum(widest, self._descend(y, edges, weights, optimiser, 1.0, self.iterations))
        kl = kl_divergence(y, edges, weights, grid_intervals(y, self.intervals))
        seconds_optimisation = clock.lap()
        return y.double().cpu().numpy(), {
            "device": str(device), "neighbours": k, "neighbour_search": "exact",
            "seconds_neighbour_graph": seconds_neighbours, "seconds_affinities": seconds_affinities,
            "seconds_early_exaggeration": seconds_exaggeration, "seconds_optimisation": seconds_optimisation,
            "kl_divergence": kl, "widest_interval": float(widest),
        }

    def _descend(self, y, edges, weights, optimiser, exaggeration: float, iterations: int) -> torch.Tensor:
        """``iterations`` steps at this exaggeration; the widest interval the grid had (0-d tensor)."""
        rate = len(y) / exaggeration
        widest = torch.zeros((), device=y.device)
        span = intervals = None
        for iteration in range(iterations):
            if iteration % self.box_every == 0:
                # the host's one wait: the box now. The grid is sized for the growth seen since
                # the last read, but never beyond what steps of at most max_step can reach
                previous, span = span, float((y.max() - y.min()).item())
                reach = span + 2 * optimiser.max_step * self.box_every
                # a phase's first read has no growth to go by (and the map grows fastest as
                # exaggeration ends): sized for the reach
                expected = reach
                if previous is not None:
                    expected = span * (1 + max(0.1, 1.5 * (span / max(previous, 1e-12) - 1)))
                intervals = grid_intervals(y, self.intervals, min(reach, expected))
            gradient, width = tsne_gradient(y, edges, weights, exaggeration, intervals)
            widest = torch.maximum(widest, width)
            optimiser.step(gradient, rate)
        return widest


def grid_intervals(y: torch.Tensor, minimum: int, span: float | None = None) -> int:
    """Intervals a side for a box ``span`` wide (the embedding's own by default): at least
    ``minimum``, at most 1 wide (openTSNE's min_num_intervals and ints_in_interval: 1), and a
    size FFTs are fast at."""
    if span is None:
        span = float((y.max() - y.min()).item())
    return fft_friendly(max(minimum, math.ceil(span)))


def edge_cauchy(y: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Along each edge (i, j): y_i - y_j and the Cauchy kernel 1 / (1 + |y_i - y_j|^2)."""
    rows, cols = edges
    difference = y[rows] - y[cols]
    return difference, 1 / (1 + (difference * difference).sum(1))


def tsne_gradient(y: torch.Tensor, edges: torch.Tensor, weights: torch.Tensor, exaggeration: float,
                  intervals: int) -> tuple[torch.Tensor, torch.Tensor]:
    """openTSNE's gradient (without the factor 4), exaggeration * attraction - repulsion / Z,
    and the width of the grid's intervals (a 0-d tensor)."""
    difference, cauchy = edge_cauchy(y, edges)
    attraction = torch.zeros_like(y).index_add_(0, edges[0], difference * (weights * cauchy)[:, None])
    grid = Interpolation(y, intervals)
    ones = torch.ones(len(y), 1, dtype=y.dtype, device=y.device)
    squared = grid.potentials(torch.cat([ones, y], dim=1), 1)  # sum_j w_ij^2 * (1, y_j)
    repulsion = y * squared[:, :1] - squared[:, 1:]
    return exaggeration * attraction - repulsion / grid.cauchy_sum(), grid.width


def kl_divergence(y: torch.Tensor, edges: torch.Tensor, weights: torch.Tensor, intervals: int) -> float:
    """KL(P || Q) with Q_ij = w_ij / Z: sum p log p - sum p log w + log Z (P sums to 1)."""
    _, cauchy = edge_cauchy(y, edges)
    z = Interpolation(y, intervals).cauchy_sum()
    w = weights.double()
    # xlogy: a neighbour whose affinity underflowed to 0 adds 0, not 0 * log 0
    return float(torch.xlogy(w, w).sum() - (w * torch.log(cauchy.double())).sum() + torch.log(z.double()))


class GainsDescent:
    """openTSNE's gradient descent: momentum, per-coordinate gains (up by 0.2 where the gradient
    turned against the last update, else times 0.8 plus ``min_gain``), each point's step cut to
    ``max_step`` long, re-centring."""

    def __init__(self, y: torch.Tensor, momentum: float = 0.8, min_gain: float = 0.01, max_step: float = 5.0):
        self.y, self.momentum, self.min_gain, self.max_step = y, momentum, min_gain, max_step
        self.update = torch.zeros_like(y)
        self.gains = torch.ones_like(y)

    def step(self, gradient: torch.Tensor, rate: float) -> None:
        flipped = torch.sign(self.update) != torch.sign(gradient)
        self.gains = torch.where(flipped, self.gains + 0.2, self.gains * 0.8 + self.min_gain)
        update = self.momentum * self.update - rate * self.gains * gradient
        length = torch.linalg.vector_norm(update, dim=1, keepdim=True)
        self.update = update * (self.max_step / length).clamp(max=1.0)  # a zero step: inf, clamped to 1
        self.y += self.update
        self.y -= self.y.mean(0)


class Clock:
    """Seconds between laps, waiting for the device's queued work at each."""

    def __init__(self, device: torch.device):
        self.device, self.last = device, time.perf_counter()

    def lap(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        seconds, self.last = now - self.last, now
        return seconds
