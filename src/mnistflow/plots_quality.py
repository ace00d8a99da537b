"""Figures of what is wrong with the data, drawn from ``quality.DataQuality.scores`` (the npz rule
data_quality writes) and the images, train then test. Each returns a matplotlib Figure."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .stats import SPLITS  # noqa: E402

COLS = 10  # images a row of a grid


def _where(scores: dict, row: int) -> str:
    """'train 123' or 'test 45': the split and the index within it."""
    return f"{SPLITS[int(scores['is_test'][row])]} {scores['index_in_split'][row]}"


def _image_grid(fig, images: np.ndarray, titles: list[str], cols: int = COLS, colours: list[str] | None = None):
    """``images`` in rows of ``cols`` over ``fig`` (a Figure or SubFigure), each titled."""
    rows = max(1, math.ceil(len(images) / cols))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = axes[i // cols, i % cols]
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=7, color="black" if colours is None else colours[i])
    return axes


def _grid_figure(count: int, cols: int = COLS, extra_width: float = 0.0, min_height: float = 0.0):
    rows = max(1, math.ceil(count / cols))
    return plt.figure(figsize=(cols * 1.15 + extra_width, max(min_height, rows * 1.45 + 0.6)))


def _nothing(fig, text: str):
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    return fig


def label_issues(scores: dict, images: np.ndarray, shown: int):
    """The suspected label errors of lowest label quality."""
    classes = scores["classes"]
    ranked = np.flatnonzero(scores["issue_rank"] >= 0)
    ranked = ranked[np.argsort(scores["issue_rank"][ranked])]
    rows = ranked[:shown]
    fig = _grid_figure(len(rows))
    title = (f"{len(ranked):,} suspected label errors of {len(scores['labels']):,} images; the {len(rows)} most "
             "likely: given → suggested (probability of the given label)")
    if not len(rows):
        return _nothing(fig, "no suspected label errors")
    _image_grid(fig, images[rows], [f"{_where(scores, r)}\n{classes[scores['labels'][r]]} → "
                                    f"{classes[scores['suggested'][r]]} ({scores['label_quality'][r]:.2g})"
                                    for r in rows])
    fig.suptitle(title, fontsize=10)
    return fig


def label_matrix(scores: dict, images: np.ndarray, shown: int):
    """Given against suggested labels of the suspected errors, as counts."""
    classes = scores["classes"]
    n = len(classes)
    issues = scores["issue_rank"] >= 0
    counts = np.zeros((n, n), dtype=np.int64)
    np.add.at(counts, (scores["labels"][issues], scores["suggested"][issues]), 1)
    size = min(12.0, 2.5 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    shown = ax.imshow(counts, cmap="Reds", vmin=0)
    fig.colorbar(shown, ax=ax, shrink=0.8, label="suspected label errors", ticks=MaxNLocator(integer=True))
    if n <= 20:
        for given, suggested in zip(*np.nonzero(counts)):
            value = counts[given, suggested]
            ax.text(suggested, given, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > counts.max() / 2 else "black")
    ticks = np.arange(n) if n <= 40 else np.linspace(0, n - 1, 20).round().astype(int)
    ax.set_xticks(ticks, [classes[t] for t in ticks], rotation=90 if n > 10 else 0)
    ax.set_yticks(ticks, [classes[t] for t in ticks])
    ax.set_xlabel("suggested label (most probable out of sample)")
    ax.set_ylabel("given label")
    ax.set_title(f"{int(issues.sum()):,} suspected label errors: given vs suggested")
    return fig


def duplicates(scores: dict, images: np.ndarray, shown: int):
    """Left, the distribution of nearest-image distances with the threshold; right, the closest
    pairs, those across train and test first."""
    first, second = scores["pair_first"], scores["pair_second"]
    across = scores["is_test"][first] != scores["is_test"][second]
    order = np.lexsort((scores["pair_distance"], ~across))[: max(1, shown // 2)]
    threshold = float(scores["near_duplicate_distance"])
    pairs_per_row = COLS // 2
    fig = _grid_figure(2 * len(order), extra_width=5.0, min_height=4.5)
    left, right = fig.subfigures(1, 2, width_ratios=[5.0, COLS * 1.15])
    ax = left.subplots()
    # a log axis from a floor: exact copies (0) are drawn in the first bin
    nearest = scores["nearest_distance"]
    low = max(min(nearest.min(), threshold or np.inf) / 1.5, 1e-3)
    bins = np.geomspace(low, max(nearest.max() * 1.05, low * 10), 60)
    ax.hist(np.clip(nearest, bins[0], bins[-1]), bins=bins, color="tab:blue")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axvline(max(threshold, bins[0]), color="tab:red", ls="--", label=f"near-duplicate threshold {threshold:g}")
    ax.set_xlabel("distance to the nearest other image")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    exact = int(np.sum(scores["pair_exact"]))
    left.suptitle(f"{exact:,} exact and {len(first) - exact:,} near-duplicate pairs,\n{int(across.sum()):,} of them "
                  "across train and test", fontsize=10)
    if not len(first):
        _nothing(right, f"no two images within {threshold:g}")
        return fig
    rows = np.stack([first[order], second[order]], axis=1).ravel()
    titles = [_where(scores, r) + f"\n{scores['classes'][scores['labels'][r]]}" for r in rows]
    for i, k in enumerate(order):
        titles[2 * i + 1] += f" · {scores['pair_distance'][k]:.2f}"
    colours = ["tab:red" if across[k] else "black" for k in order for _ in range(2)]
    _image_grid(right, images[rows], titles, cols=2 * pairs_per_row, colours=colours)
    right.suptitle("the closest pairs side by side (red: one in train, one in test), distance after the second",
                   fontsize=10)
    return fig


def outliers(scores: dict, images: np.ndarray, shown: int):
    """The images farthest from their own class."""
    score, threshold = scores["outlier_score"], float(scores["outlier_threshold"])
    listed = np.flatnonzero(scores["outlier_rank"] >= 0)
    rows = listed[np.argsort(scores["outlier_rank"][listed])][:shown]
    fig = _grid_figure(len(rows))
    if not len(rows):
        return _nothing(fig, f"no image scores {threshold:g} or more")
    _image_grid(fig, images[rows], [f"{_where(scores, r)}\n{scores['classes'][scores['labels'][r]]} · "
                                    f"{score[r]:.1f}" for r in rows])
    fig.suptitle(f"{len(listed):,} images far from their own class (modified z-score ≥ {threshold:g}); "
                 f"the {len(rows)} farthest: label · score", fontsize=10)
    return fig


# registry.QUALITY_FIGURES -> how it is drawn
FIGURES = {"label_issues": label_issues, "label_matrix": label_matrix, "duplicates": duplicates,
           "outliers": outliers}


def quality_figure(figure: str, scores: dict, images: np.ndarray, shown: int):
    """Figure ``figure`` of registry.QUALITY_FIGURES; ``shown``: images (or pairs, half as many) at most."""
    return FIGURES[figure](scores, images, shown)
