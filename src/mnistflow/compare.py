"""How sure a comparison is: the paired difference of two recipes' accuracies, run on the same
seeds (same initial weights and batches where the models match) and scored on the same images,
with a 95% interval. A winner is named only where the interval excludes zero."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95


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


def paired_difference(hits_a: np.ndarray, hits_b: np.ndarray) -> PairedDifference:
    """``hits_*``: (seeds, images) arrays, 1 where that seed's model classified that image right,
    seeds and images in the same order for both. The interval is a paired t interval over the
    seeds' accuracy differences, widened by the sampling variance of the images they share:
    both the training runs and the scored images could have come out otherwise. (A bootstrap
    over three seeds has at most ten distinct draws and shrinks their spread by a third.)"""
    a, b = np.asarray(hits_a, dtype=np.float64), np.asarray(hits_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired hits must be two (seeds, images) arrays of one shape, not {a.shape} and {b.shape}")
    seeds, images = a.shape
    difference = a - b  # per seed and image: -1, 0 or 1
    per_seed = difference.mean(axis=1)
    image_variance = difference.mean(axis=0).var(ddof=1) / images if images > 1 else 0.0
    return _interval(per_seed, image_variance, images, "paired t over seeds, widened by the images' sampling")


def paired_seed_difference(values_a, values_b) -> PairedDifference:
    """A paired t interval over seeds, for results kept as one accuracy per seed (the images
    they were scored on are not kept): ``values_*`` in the same seed order. Seeds whose
    differences agree exactly give an interval of no width: a lead alike on every seed, which
    few seeds make likely only by chance on few images. One seed has no spread: an unbounded
    interval."""
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired values must be two non-empty lists of one length, not {a.shape} and {b.shape}")
    return _interval(a - b, 0.0, 0, "paired t over seeds")


def _interval(per_seed: np.ndarray, image_variance: float, images: int, method: str) -> PairedDifference:
    from scipy import stats

    seeds, tail = len(per_seed), 1 - (1 - CONFIDENCE) / 2
    mean = float(per_seed.mean())
    if seeds > 1:
        half = stats.t.ppf(tail, seeds - 1) * np.sqrt(per_seed.var(ddof=1) / seeds + image_variance)
    elif image_variance:  # one seed: the images' sampling alone
        half = stats.norm.ppf(tail) * np.sqrt(image_variance)
    else:  # one seed and nothing else: no spread to go by
        half = np.inf
    return PairedDifference(mean, float(mean - half), float(mean + half), seeds, images, method)
