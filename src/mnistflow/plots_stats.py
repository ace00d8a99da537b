"""Figures. Each function returns a matplotlib Figure; rule scripts save it atomically."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .datasets import Dataset  # noqa: E402
from .stats import SPLITS, Summary, rebin  # noqa: E402

SPLIT_COLORS = {"train": "tab:blue", "test": "tab:orange"}


def _class_axes(n_classes: int, cols: int = 5, size: float = 2.0):
    rows = math.ceil(n_classes / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.1), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n_classes:]:
        ax.set_visible(False)
    return fig, axes[:n_classes]


def _image_panels(images: np.ndarray, titles, suptitle: str, cmap: str, vmax: float, label: str):
    fig, axes = _class_axes(len(images))
    for ax, image, title in zip(axes, images, titles):
        shown = ax.imshow(image, cmap=cmap, vmin=0.0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=list(axes), shrink=0.8, label=label)
    fig.suptitle(suptitle)
    return fig


def samples_figure(dataset: Dataset, rows: int, cols: int, seed: int, split: str = "train"):
    images, labels = dataset.split(split)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=min(rows * cols, len(images)), replace=False)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), picks):
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{dataset.classes[labels[i]]}", fontsize=8)
    fig.suptitle(f"{dataset.name}: {len(picks)} random {split} images (seed {seed})")
    return fig


def class_mean_images(summary: Summary, split: str = "train"):
    s = summary.splits[split]
    titles = [f"{c} (n={n:,})" for c, n in zip(summary.classes, s.counts)]
    return _image_panels(
        s.mean_images(), titles, f"{summary.name}: mean image per class ({split}, every image)", "gray", 1.0, "mean intensity"
    )


def class_std_images(summary: Summary, split: str = "train"):
    s = summary.splits[split]
    stds = s.std_images()
    return _image_panels(
        stds,
        summary.classes,
        f"{summary.name}: per-pixel standard deviation per class ({split})",
        "magma",
        float(stds.max()) or 1.0,
        "std of intensity",
    )


def pixel_histograms(summary: Summary, bins: int, log_scale: bool, split: str = "train"):
    counts, edges = rebin(summary.splits[split].value_counts, bins)
    fig, axes = _class_axes(len(summary.classes), size=2.4)
    for ax, c, row in zip(axes, summary.classes, counts):
        ax.stairs(row, edges, fill=True, color="tab:blue")
        ax.set_title(str(c), fontsize=9)
        ax.set_xlim(edges[0], edges[-1])
        if log_scale:
            ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    fig.supxlabel("pixel intensity")
    fig.supylabel("pixels" + (" (log scale)" if log_scale else ""))
    fig.suptitle(f"{summary.name}: pixel-value histogram per class ({split}, {bins} bins)")
    fig.tight_layout()
    return fig


def _split_bars(summary: Summary, values: dict[str, np.ndarray], ylabel: str, title: str):
    x = np.arange(len(summary.classes))
    width = 0.4
    fig, ax = plt.subplots(figsize=(max(6, len(x) * 0.8), 4))
    for k, split in enumerate(SPLITS):
        ax.bar(
            x + (k - 0.5) * width,
            values[split],
            width,
            label=split,
            color=SPLIT_COLORS[split],
        )
    ax.set_xticks(x, summary.classes, rotation=30 if max(map(len, summary.classes)) > 2 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def mean_intensity(summary: Summary):
    return _split_bars(
        summary,
        {s: summary.splits[s].intensity_moments()[0] for s in SPLITS},
        "mean pixel intensity",
        f"{summary.name}: mean intensity per class (every pixel of every image)",
    )


def class_counts(summary: Summary):
    fig = _split_bars(
        summary,
        {s: summary.splits[s].counts for s in SPLITS},
        "images",
        f"{summary.name}: images per class",
    )
    ax = fig.axes[0]
    for container in ax.containers:
        if hasattr(container, "patches"):
            ax.bar_label(container, fontsize=6, rotation=90, padding=2)
    ax.margins(y=0.15)
    return fig


def train_vs_test(summary: Summary, bins: int):
    fig, (hist_ax, diff_ax) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.6, 1]})
    for split in SPLITS:
        vc = summary.splits[split].value_counts.sum(axis=0)
        counts, edges = rebin(vc, bins)
        hist_ax.stairs(counts / counts.sum(), edges, label=f"{split} ({vc.sum():,} pixels)", color=SPLIT_COLORS[split])
    hist_ax.set_yscale("log")
    hist_ax.set_xlabel("pixel intensity")
    hist_ax.set_ylabel("fraction of pixels (log scale)")
    hist_ax.set_title("pixel-value distribution, all classes")
    hist_ax.legend()
    means = {}
    for split in SPLITS:
        s = summary.splits[split]
        means[split] = s.pixel_sum.sum(axis=0) / max(s.counts.sum(), 1) / 255.0
    diff = means["train"] - means["test"]
    limit = float(np.abs(diff).max()) or 1.0
    shown = diff_ax.imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit)
    diff_ax.set_title("mean image: train − test")
    diff_ax.set_xticks([])
    diff_ax.set_yticks([])
    fig.colorbar(shown, ax=diff_ax, shrink=0.8)
    fig.suptitle(f"{summary.name}: train vs test")
    fig.tight_layout()
    return fig


def conversion_figure(samples, cols: int = 4):
    """Each original (as read, a thumbnail) beside its 28 x 28 version, as every analysis sees it."""
    k = len(samples.originals)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.4, rows * 1.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(k):
        left, right = axes[i // cols, 2 * (i % cols)], axes[i // cols, 2 * (i % cols) + 1]
        left.imshow(samples.originals[i])
        left.set_title(f"{samples.sizes[i][1]} x {samples.sizes[i][0]}", fontsize=7)
        right.imshow(samples.converted[i], cmap="gray", vmin=0, vmax=255)
        right.set_title("28 x 28", fontsize=7)
    fig.suptitle(f"the first {k} training images as read, and as 28 x 28 grayscale"
                 + (" (inverted)" if samples.inverted else ""))
    return fig


# registry.STATS_FIGURES -> how it is drawn: the samples and the conversion from the dataset
# cache, the others from the statistics summary
FIGURES = {
    "samples": samples_figure,
    "class_means": class_mean_images,
    "class_stds": class_std_images,
    "pixel_histograms": pixel_histograms,
    "mean_intensity": mean_intensity,
    "class_counts": class_counts,
    "train_vs_test": train_vs_test,
    "conversion": conversion_figure,
}


def stats_figure(figure: str, source, options: dict):
    """The statistics figure ``figure`` from its source: the Dataset for ``samples``, else the Summary."""
    return FIGURES[figure](source, **options)
