"""Figures of 2-D embeddings and of the PCA."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .embed import Embedding, PCAResult  # noqa: E402
from .palette import class_colours  # noqa: E402

def _colors(labels: np.ndarray, classes) -> np.ndarray:
    from matplotlib.colors import to_rgba_array

    return to_rgba_array(class_colours(len(classes)))[labels]


def _scatter(ax, embedding: Embedding, classes, point_size: float, centre_labels: bool = True):
    order = np.random.default_rng(0).permutation(len(embedding.coords))  # no class drawn on top
    xy = embedding.coords[order]
    ax.scatter(xy[:, 0], xy[:, 1], c=_colors(embedding.labels[order], classes), s=point_size, linewidths=0,
               rasterized=True)
    if centre_labels:
        for c, name in enumerate(classes):
            members = embedding.coords[embedding.labels == c]
            if len(members):
                x, y = np.median(members, axis=0)
                ax.text(x, y, name, fontsize=9, weight="bold", ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
    ax.set_xticks([])
    ax.set_yticks([])


def scatter(embedding: Embedding, classes, point_size: float):
    fig, ax = plt.subplots(figsize=(8, 7))
    _scatter(ax, embedding, classes, point_size)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colour, label=name)
               for colour, name in zip(class_colours(len(classes)), classes)]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title(f"{embedding.method}: {len(embedding.coords):,} points coloured by class")
    return fig


def class_panels(embedding: Embedding, classes, point_size: float):
    cols = 5
    rows = math.ceil(len(classes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.6), squeeze=False)
    for ax in axes.ravel()[len(classes):]:
        ax.set_visible(False)
    colours = class_colours(len(classes))
    for c, (ax, name) in enumerate(zip(axes.ravel(), classes)):
        ax.scatter(*embedding.coords.T, c="0.88", s=point_size * 0.5, linewidths=0, rasterized=True)
        members = embedding.coords[embedding.labels == c]
        ax.scatter(*members.T, color=colours[c], s=point_size, linewidths=0, rasterized=True)
        ax.set_title(f"{name} (n={len(members):,})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{embedding.method}: each class against all points")
    fig.tight_layout()
    return fig


def axis_histograms(embedding: Embedding, classes, bins: int = 100):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colours = class_colours(len(classes))
    for axis, ax in enumerate(axes):
        values = embedding.coords[:, axis]
        edges = np.histogram_bin_edges(values, bins=bins)
        for c, name in enumerate(classes):
            ax.hist(values[embedding.labels == c], bins=edges, histtype="step", color=colours[c], label=name)
        ax.hist(values, bins=edges, color="0.8", zorder=0, label="all")
        ax.set_xlabel(f"embedding axis {axis}")
        ax.set_ylabel("points")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{embedding.method}: distribution of each embedding axis (grey: all points)")
    fig.tight_layout()
    return fig


def values_comparison(embedding: Embedding, pixel_value_counts: np.ndarray):
    """The article's '784-d vs 2-d': pixel values of the embedded images beside the embedding's values."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    levels = np.arange(len(pixel_value_counts)) / 255.0
    left.bar(levels, pixel_value_counts, width=1 / 255, color="0.3")
    left.set_yscale("log")
    left.set_xlabel("pixel intensity")
    left.set_ylabel("pixels (log scale)")
    left.set_title(f"784-d input: {int(pixel_value_counts.sum()):,} pixel values")
    right.hist(embedding.coords.ravel(), bins=100, color="tab:blue")
    right.set_xlabel("embedding coordinate (both axes)")
    right.set_ylabel("values")
    right.set_title(f"2-d {embedding.method}: {embedding.coords.size:,} values")
    fig.tight_layout()
    return fig


def pca_3d(result: PCAResult, classes, max_points: int = 10000):
    chosen = np.random.default_rng(0).permutation(len(result.labels))[:max_points]
    xyz = result.projection[chosen, :3]
    fig = plt.figure(figsize=(8, 7))
    ax = fig.add_subplot(projection="3d")
    ax.scatter(*xyz.T, c=_colors(result.labels[chosen], classes), s=2, linewidths=0, rasterized=True)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_zlabel("PC 3")
    handles = [plt.Line2D([], [], ls="", marker="o", color=colour, label=name)
               for colour, name in zip(class_colours(len(classes)), classes)]
    ax.legend(handles=handles, loc="upper left", fontsize=7)
    ax.set_title(f"PCA, first three components ({len(chosen):,} random points)")
    return fig


def pca_variance(result: PCAResult, thresholds=(0.5, 0.9, 0.95, 0.99)):
    cumulative = np.cumsum(result.explained_variance_ratio)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(np.arange(1, len(cumulative) + 1), cumulative, color="tab:blue")
    for t in thresholds:
        k = int(np.searchsorted(cumulative, t) + 1)
        ax.axhline(t, color="0.85", lw=0.8, zorder=0)
        ax.plot([k], [cumulative[k - 1]], "o", color="tab:red", ms=4)
        ax.annotate(f"{t:.0%}: {k} components", (k, cumulative[k - 1]), xytext=(8, -12),
                    textcoords="offset points", fontsize=8)
    k = result.projection.shape[1]
    ax.axvline(k, color="tab:green", ls="--", lw=1)
    ax.annotate(f"PCA-{k} (t-SNE/UMAP input): {cumulative[k - 1]:.1%}", (k, 0.3), xytext=(6, 0),
                textcoords="offset points", fontsize=8, color="tab:green")
    ax.set_xscale("log")
    ax.set_xlabel("number of components (log scale)")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1.01)
    ax.set_title("PCA: cumulative explained variance")
    return fig


def pca_components(result: PCAResult, image_shape: tuple[int, int], count: int = 16):
    count = min(count, len(result.components))
    cols = 4
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.2, rows * 2.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:count]):
        component = result.components[i].reshape(image_shape)
        limit = np.abs(component).max()
        ax.imshow(component, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"PC {i + 1} ({result.explained_variance_ratio[i]:.1%})", fontsize=9)
    fig.suptitle("first principal components (red +, blue −)")
    fig.tight_layout()
    return fig


def quality_comparison(embeddings: list[Embedding], quality: pd.DataFrame, classes, point_size: float):
    n = len(embeddings)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.9), squeeze=False)
    for ax, embedding in zip(axes[0], embeddings):
        row = quality.set_index("method").loc[embedding.method]
        _scatter(ax, embedding, classes, point_size, centre_labels=False)
        ax.set_title(f"{embedding.method}\nkNN acc {row.knn_accuracy:.2%} · trust {row.trustworthiness:.3f}"
                     f" · {row.seconds:.0f} s", fontsize=10)
    fig.suptitle("embeddings compared: test-point kNN accuracy in 2-D, trustworthiness, wall time")
    fig.tight_layout()
    return fig


def values_figure(embedding: Embedding, dataset):
    images = np.concatenate([dataset.train_images, dataset.test_images])[embedding.index]
    return values_comparison(embedding, np.bincount(images.ravel(), minlength=256))


# registry.EMBEDDING_FIGURES -> how one is drawn from an embedding, its dataset and the point size
EMBEDDING_FIGURES = {
    "scatter": lambda embedding, dataset, size: scatter(embedding, dataset.classes, size),
    "classes": lambda embedding, dataset, size: class_panels(embedding, dataset.classes, size),
    "axes": lambda embedding, dataset, _: axis_histograms(embedding, dataset.classes),
    "values": lambda embedding, dataset, _: values_figure(embedding, dataset),
}

# registry.PCA_FIGURES -> how one is drawn from the PCA and its dataset
PCA_FIGURES = {
    "3d": lambda result, dataset: pca_3d(result, dataset.classes),
    "variance": lambda result, dataset: pca_variance(result),
    "components": lambda result, dataset: pca_components(result, dataset.train_images.shape[1:]),
}


def embedding_figure(figure: str, embedding: Embedding, dataset, point_size: float):
    """One of the per-method figures of ``EMBEDDING_FIGURES``."""
    return EMBEDDING_FIGURES[figure](embedding, dataset, point_size)


def pca_figure(figure: str, result: PCAResult, dataset):
    return PCA_FIGURES[figure](result, dataset)
