"""How sure a comparison is: the paired difference of two recipes' accuracies, run on the same
seeds (same initial weights and batches where the models match) and scored on the same images,
with a 95% interval. A winner is named only where the interval excludes zero."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of ``a`` minus accuracy of ``b``: the mean over seeds and its interval."""

    mean: float
    low: float
    high: float
    seeds: int
    images: int
    method: str

    @property
    def clear(self) -> bool:
        """Whether the interval excludes zero: one of the two is better beyond the noise."""
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return {**asdict(self), "clear": self.clear}

    def describe(self) -> str:
        return (f"{self.mean * 100:+.2f} points (95% interval {self.low * 100:+.2f} to {self.high * 100:+.2f}, "
                f"{self.method})")


def paired_difference(hits_a: np.ndarray, hits_b: np.ndarray, resamples: int = RESAMPLES,
                      seed: int = 0) -> PairedDifference:
    """``hits_*``: (seeds, images) arrays, 1 where that seed's model classified that image right,
    seeds and images in the same order for both. The interval is a two-level bootstrap: seeds
    drawn with replacement, then images drawn with replacement (the same draws for ``a`` and
    ``b``), so it covers the spread of both the training runs and the scored images."""
    a, b = np.asarray(hits_a, dtype=np.float64), np.asarray(hits_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"paired hits must be two (seeds, images) arrays of one shape, not {a.shape} and {b.shape}")
    seeds, images = a.shape
    difference = a - b  # per seed and image: -1, 0 or 1
    generator = np.random.default_rng(seed)
    picked_seeds = generator.integers(0, seeds, size=(resamples, seeds))
    means = np.empty(resamples)
    for r in range(resamples):
        picked_images = generator.integers(0, images, size=images)
        means[r] = difference[picked_seeds[r]][:, picked_images].mean()
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return PairedDifference(float(difference.mean()), float(low), float(high), seeds, images,
                            "bootstrap over seeds and images")


def paired_seed_difference(values_a, values_b) -> PairedDifference:
    """A paired t interval over seeds, for results kept only as one number per seed (the images
    they were scored on are not kept): ``values_*`` in the same seed order. One seed has no
    spread: its interval is unbounded."""
    from scipy import stats

    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired values must be two non-empty lists of one length, not {a.shape} and {b.shape}")
    difference = a - b
    mean = float(difference.mean())
    if len(difference) < 2:
        return PairedDifference(mean, -np.inf, np.inf, len(difference), 0, "paired t over seeds")
    half = stats.t.ppf(1 - (1 - CONFIDENCE) / 2, len(difference) - 1) * stats.sem(difference)
    half = 0.0 if not np.isfinite(half) else float(half)  # identical differences: no spread
    return PairedDifference(mean, mean - half, mean + half, len(difference), 0, "paired t over seeds")
