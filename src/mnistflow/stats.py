"""Dataset statistics computed exactly over every image of each split.

Everything is derived from integer sums (per-class pixel-value counts and per-pixel sums and
sums of squares), so the numbers are exact and any histogram binning can be made later from
the 256 counts without touching the images again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic
from .datasets import Dataset

SPLITS = ("train", "test")
LEVELS = 256  # uint8 pixel values; intensities are value / 255


@dataclass(frozen=True)
class SplitSummary:
    counts: np.ndarray  # (C,) images per class
    value_counts: np.ndarray  # (C, 256) pixels per class with each value
    pixel_sum: np.ndarray  # (C, H, W) int64 sum of values
    pixel_sqsum: np.ndarray  # (C, H, W) int64 sum of squared values

    @classmethod
    def compute(cls, images: np.ndarray, labels: np.ndarray, n_classes: int) -> "SplitSummary":
        h, w = images.shape[1:]
        counts = np.bincount(labels, minlength=n_classes).astype(np.int64)
        value_counts = np.zeros((n_classes, LEVELS), np.int64)
        pixel_sum = np.zeros((n_classes, h, w), np.int64)
        pixel_sqsum = np.zeros((n_classes, h, w), np.int64)
        for c in range(n_classes):
            members = images[labels == c]
            value_counts[c] = np.bincount(members.ravel(), minlength=LEVELS)
            wide = members.astype(np.int64)
            pixel_sum[c] = wide.sum(axis=0)
            pixel_sqsum[c] = np.einsum("nij,nij->ij", wide, wide)
        return cls(counts, value_counts, pixel_sum, pixel_sqsum)

    def mean_images(self) -> np.ndarray:
        """Per-class mean image, intensities in [0, 1]."""
        n = np.maximum(self.counts, 1)[:, None, None]
        return self.pixel_sum / n / 255.0

    def std_images(self) -> np.ndarray:
        """Per-class per-pixel standard deviation (population), in intensity units."""
        n = np.maximum(self.counts, 1)[:, None, None]
        mean = self.pixel_sum / n
        var = np.maximum(self.pixel_sqsum / n - mean**2, 0.0)
        return np.sqrt(var) / 255.0

    def intensity_moments(self, value_counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of pixel intensity over all pixels, per row of ``value_counts``."""
        vc = self.value_counts if value_counts is None else value_counts
        values = np.arange(LEVELS) / 255.0
        total = np.maximum(vc.sum(axis=-1), 1)
        mean = (vc * values).sum(axis=-1) / total
        var = np.maximum((vc * values**2).sum(axis=-1) / total - mean**2, 0.0)
        return mean, np.sqrt(var)


@dataclass(frozen=True)
class Summary:
    name: str
    classes: tuple[str, ...]
    splits: dict[str, SplitSummary]

    @classmethod
    def compute(cls, dataset: Dataset) -> "Summary":
        n = len(dataset.classes)
        splits = {s: SplitSummary.compute(*dataset.split(s), n) for s in SPLITS}
        return cls(dataset.name, dataset.classes, splits)

    def save(self, path: str | Path) -> None:
        arrays = {"name": np.array(self.name), "classes": np.array(self.classes)}
        for split, summary in self.splits.items():
            for field, value in vars(summary).items():
                arrays[f"{split}_{field}"] = value
        atomic.save_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Summary":
        with atomic.load_npz(path) as npz:
            splits = {
                s: SplitSummary(
                    **{f: npz[f"{s}_{f}"] for f in ("counts", "value_counts", "pixel_sum", "pixel_sqsum")}
                )
                for s in SPLITS
            }
            return cls(str(npz["name"]), tuple(str(c) for c in npz["classes"]), splits)

    def table(self) -> pd.DataFrame:
        """One row per split and class, plus an ``all`` row per split."""
        rows = []
        for split, s in self.splits.items():
            per_class = list(enumerate(self.classes)) + [(None, "all")]
            vcs = np.vstack([s.value_counts, s.value_counts.sum(axis=0, keepdims=True)])
            counts = np.append(s.counts, s.counts.sum())
            mean, std = s.intensity_moments(vcs)
            pixels = np.maximum(vcs.sum(axis=1), 1)
            for i, (label, class_name) in enumerate(per_class):
                rows.append(
                    {
                        "split": split,
                        "label": "all" if label is None else str(label),
                        "class_name": class_name,
                        "images": int(counts[i]),
                        "mean_intensity": mean[i],
                        "std_intensity": std[i],
                        "zero_fraction": vcs[i, 0] / pixels[i],
                        "saturated_fraction": vcs[i, LEVELS - 1] / pixels[i],
                    }
                )
        return pd.DataFrame(rows)


def rebin(value_counts: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram with ``bins`` bins from exact 256-level counts.

    Each bin holds a run of whole levels (the same number when ``bins`` divides 256), with its
    edges halfway between levels. Equal-width bins over [0, 1] would instead give some bins one
    level more than others, a spurious spike. Returns (counts of shape (..., bins), edges of shape
    (bins + 1,) in intensity units, from -0.5/255 to 255.5/255).
    """
    first_level = -(-np.arange(bins + 1) * LEVELS // bins)  # ceil(k * 256 / bins)
    index = np.arange(LEVELS) * bins // LEVELS
    out = np.stack([value_counts[..., index == b].sum(axis=-1) for b in range(bins)], axis=-1)
    return out, (first_level - 0.5) / 255.0
