"""Figures and GIFs of weights, gradients and hidden layers, drawn from the recorder's dumps and
the hidden-layers artefact (``introspect.HiddenLayers``): nothing here runs a model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

if TYPE_CHECKING:
    from .introspect import HiddenLayers


def _grid(n: int, columns: int = 4, size: tuple[float, float] = (3.2, 2.4)):
    columns = min(columns, n)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes.flat[:n]


def histogram_frames(edges: np.ndarray, counts: np.ndarray, names, epochs, title: str, xlabel: str,
                     dpi: int = 60, xlims: np.ndarray | None = None) -> list[Image.Image]:
    """One frame per recorded step: a histogram panel per tensor on its fixed edges, with a
    fixed y range (the tensor's highest count over all steps) so the frames are comparable.
    ``edges``: (tensors, bins+1) or (bins+1,) shared; ``counts``: (steps, tensors, bins);
    ``xlims``: (tensors, 2) x ranges to show, else the whole of the edges.

    Axes are drawn once; each frame redraws only the histograms and the heading on a copy of
    that background (matplotlib's blitting), many times faster than a full redraw."""
    edges = np.broadcast_to(edges, (counts.shape[1], counts.shape[2] + 1))
    fig, axes = _grid(len(names))
    fig.set_dpi(dpi)
    histograms = []
    if xlims is None:
        xlims = edges[:, [0, -1]]
    for ax, name, tensor_edges, peak, xlim in zip(axes, names, edges, counts.max(axis=0).max(axis=1), xlims):
        histograms.append(ax.stairs(np.zeros(len(tensor_edges) - 1), tensor_edges, fill=True, color="tab:blue",
                                    animated=True))
        ax.set_xlim(*xlim)
        ax.set_ylim(0, max(1, peak) * 1.05)
        ax.set_title(str(name), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel(xlabel, fontsize=8)
    heading = fig.suptitle(title, animated=True)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames = []
    for step_counts, epoch in zip(counts, epochs):
        fig.canvas.restore_region(background)
        for histogram, tensor_counts in zip(histograms, step_counts):
            histogram.set_data(tensor_counts)
            histogram.axes.draw_artist(histogram)
        heading.set_text(f"{title} — epoch {epoch:.2f}")
        fig.draw_artist(heading)
        frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB"))
    plt.close(fig)
    return frames


def observed_range(weights: dict) -> np.ndarray:
    """Per tensor, the range its weights took over the whole recording (percentiles 0 and 100),
    widened by 5% and never beyond the histogram's edges: (tensors, 2)."""
    low, high = weights["percentiles"][:, :, 0].min(axis=0), weights["percentiles"][:, :, -1].max(axis=0)
    pad = np.maximum(0.05 * (high - low), 1e-3)
    edges = weights["edges"]
    return np.stack([np.maximum(low - pad, edges[:, 0]), np.minimum(high + pad, edges[:, -1])], axis=1)


def weight_frames(weights: dict) -> list[Image.Image]:
    return histogram_frames(weights["edges"], weights["counts"], weights["names"], weights["epoch"],
                            "weight distributions", "value", xlims=observed_range(weights))


def gradient_frames(gradients: dict) -> list[Image.Image]:
    return histogram_frames(gradients["log10_edges"], gradients["counts"], gradients["names"],
                            gradients["epoch"], "gradient distributions", "log10 |gradient|")


def weight_bands(weights: dict):
    """TensorBoard's distribution view: per tensor, bands between percentile pairs (0-100, 7-93,
    16-84, 31-69) over training, darker towards the median line."""
    fig, axes = _grid(len(weights["names"]))
    levels = list(weights["percentile_levels"])
    pairs = [(0, 100), (7, 93), (16, 84), (31, 69)]
    for t, (ax, name) in enumerate(zip(axes, weights["names"])):
        p = weights["percentiles"][:, t, :]
        for i, (low, high) in enumerate(pairs):
            ax.fill_between(weights["epoch"], p[:, levels.index(low)], p[:, levels.index(high)],
                            color="tab:orange", alpha=0.2 + 0.15 * i, linewidth=0)
        ax.plot(weights["epoch"], p[:, levels.index(50)], color="tab:red", linewidth=1)
        ax.set_title(str(name), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("weight percentiles over training (0/7/16/31/50/69/84/93/100)")
    fig.tight_layout()
    return fig


def _weight_tensors(gradients: dict) -> list[int]:
    """The article's gradient flow leaves biases out."""
    return [i for i, name in enumerate(gradients["names"]) if not str(name).endswith("bias")]


def gradient_flow(gradients: dict):
    """The article's chart: mean |gradient| of each weight tensor from first to last layer, one
    faint line per recorded step, coloured from early (dark) to late (yellow)."""
    picked = _weight_tensors(gradients)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(picked) + 3), 4.5))
    colors = plt.cm.viridis(np.linspace(0, 1, len(gradients["step"])))
    for row, color in zip(gradients["mean_abs"][:, picked], colors):
        ax.plot(range(len(picked)), row, color=color, alpha=0.35, linewidth=1)
    ax.set_xticks(range(len(picked)), [str(gradients["names"][i]) for i in picked], rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("mean |gradient|")
    ax.set_title("gradient flow (one line per recorded step, dark = early)")
    ax.grid(alpha=0.3)
    mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(gradients["epoch"][0], gradients["epoch"][-1]))
    fig.colorbar(mappable, ax=ax, label="epoch")
    fig.tight_layout()
    return fig


def gradient_norms(gradients: dict):
    """L2 norm of each tensor's gradient over training (log scale)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for t, name in enumerate(gradients["names"]):
        ax.plot(gradients["epoch"], gradients["l2"][:, t], label=str(name), linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient L2 norm")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _tiles(ax, images: np.ndarray, columns: int, cmap="gray", symmetric: bool = False,
           each_own_range: bool = False) -> None:
    """A (n, h, w) stack as one tiled image with one-pixel gaps; with ``each_own_range`` every
    tile is scaled to [0, 1] on its own (feature maps differ in scale by orders of magnitude)."""
    n, h, w = images.shape
    if each_own_range:
        low = images.min(axis=(1, 2), keepdims=True)
        span = images.max(axis=(1, 2), keepdims=True) - low
        images = (images - low) / np.where(span > 0, span, 1.0)
    rows = math.ceil(n / columns)
    canvas = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image
    if symmetric:
        limit = np.nanmax(np.abs(canvas)) or 1.0
        ax.imshow(canvas, cmap=cmap, vmin=-limit, vmax=limit)
    else:
        ax.imshow(canvas, cmap=cmap)
    ax.axis("off")


def filters(conv_weights: dict[str, np.ndarray]):
    """Every convolution's kernels: a row per output channel, a column per input channel."""
    fig, axes = plt.subplots(1, len(conv_weights), figsize=(5 * len(conv_weights), 6), squeeze=False)
    for ax, (name, weight) in zip(axes.flat, conv_weights.items()):
        out_channels, in_channels, kh, kw = weight.shape
        if in_channels == 1:
            columns = math.ceil(math.sqrt(out_channels))
            _tiles(ax, weight[:, 0], columns, cmap="RdBu_r", symmetric=True)
        else:
            _tiles(ax, weight.reshape(out_channels * in_channels, kh, kw), in_channels, cmap="RdBu_r", symmetric=True)
        ax.set_title(f"{name}: {out_channels}x{in_channels}x{kh}x{kw}", fontsize=9)
    fig.suptitle("convolution filters (red positive, blue negative)")
    return fig


def feature_maps_figure(maps: dict[str, np.ndarray], classes, max_channels: int = 32):
    """For each convolution, its output for one test image per class: a row per image, a column
    per channel (the first ``max_channels``), each map scaled to its own range."""
    fig, axes = plt.subplots(len(maps), 1, figsize=(14, 4.2 * len(maps)), squeeze=False)
    for ax, (name, output) in zip(axes.flat, maps.items()):
        n, channels, h, w = output.shape
        shown = min(channels, max_channels)
        _tiles(ax, output[:, :shown].reshape(n * shown, h, w), shown, cmap="viridis", each_own_range=True)
        ax.set_title(f"{name}: rows = classes {', '.join(map(str, classes))}; "
                     f"{shown} of {channels} channels, {h}x{w}", fontsize=9)
    fig.tight_layout()
    return fig


def linear_weights(weights: dict[str, np.ndarray]):
    """Heatmaps of every fully connected layer's weights (outputs x inputs)."""
    fig, axes = plt.subplots(len(weights), 1, figsize=(12, 2.8 * len(weights)), squeeze=False)
    for ax, (name, weight) in zip(axes.flat, weights.items()):
        limit = np.abs(weight).max() or 1.0
        image = ax.imshow(weight, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_title(f"{name}: {weight.shape[0]} outputs x {weight.shape[1]} inputs", fontsize=9)
        ax.set_xlabel("input")
        ax.set_ylabel("output")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def logits_figure(images: np.ndarray, logits: np.ndarray, classes):
    """The example images (one per class) and their logits as a heatmap."""
    fig = plt.figure(figsize=(10, 5.5))
    grid = fig.add_gridspec(2, len(images), height_ratios=[1, 4])
    for i, image in enumerate(images):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(image, cmap="gray")
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    limit = np.abs(logits).max() or 1.0
    heat = ax.imshow(logits, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for (r, c), value in np.ndenumerate(logits):
        ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(classes)), classes)
    ax.set_yticks(range(len(images)), [f"image of {c}" for c in classes])
    ax.set_xlabel("logit of class")
    fig.colorbar(heat, ax=ax)
    fig.tight_layout()
    return fig


def saliency_figure(examples: np.ndarray, example_saliency: np.ndarray, mean_saliency: np.ndarray,
                    counts: np.ndarray, classes):
    """Per class: an example, its saliency and the mean saliency over the correctly classified
    test images of that class (red: raising the pixel raises the class score)."""
    fig, axes = plt.subplots(3, len(classes), figsize=(1.5 * len(classes), 5), squeeze=False)
    for c in range(len(classes)):
        axes[0, c].imshow(examples[c], cmap="gray")
        axes[0, c].set_title(str(classes[c]), fontsize=9)
        for row, image in ((1, example_saliency[c]), (2, mean_saliency[c])):
            limit = np.abs(image).max() or 1.0
            axes[row, c].imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[2, c].set_xlabel(f"n={counts[c]}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("example")
    axes[1, 0].set_ylabel("its saliency")
    axes[2, 0].set_ylabel("class mean")
    fig.suptitle("d(class score)/d(input pixel)")
    fig.tight_layout()
    return fig


def mistakes_figure(images: np.ndarray, saliency_maps: np.ndarray, true_labels, predicted, confidence, classes):
    """The most confidently wrong test images, each above the saliency of the class it was taken for."""
    n = len(images)
    if n == 0:
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "no test image is misclassified", ha="center", va="center")
        ax.axis("off")
        return fig
    columns = 8
    rows = 2 * math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, columns)
        axes[2 * r, c].imshow(images[i], cmap="gray")
        axes[2 * r, c].set_title(f"{classes[true_labels[i]]}→{classes[predicted[i]]} {100 * confidence[i]:.0f}%",
                                 fontsize=8)
        limit = np.abs(saliency_maps[i]).max() or 1.0
        axes[2 * r + 1, c].imshow(saliency_maps[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle("most confidently wrong test images (true→predicted, confidence) and their saliency")
    fig.tight_layout()
    return fig


# --- the hidden-layer figures, by name ------------------------------------------------------------

# figure name -> how it is drawn from a HiddenLayers artefact (with the feature maps' channel limit)
HIDDEN_LAYER_FIGURES = {
    "filters": lambda layers, _: filters(layers.filters),
    "feature_maps": lambda layers, channels: feature_maps_figure(layers.feature_maps, layers.classes, channels),
    "linear_weights": lambda layers, _: linear_weights(layers.linear_weights),
    "logits": lambda layers, _: logits_figure(layers.example_images, layers.example_logits, layers.classes),
    "saliency": lambda layers, _: saliency_figure(layers.example_images, layers.example_saliency,
                                                  layers.class_saliency, layers.class_saliency_counts,
                                                  layers.classes),
    "mistakes": lambda layers, _: mistakes_figure(layers.mistake_images, layers.mistake_saliency,
                                                  layers.mistake_labels, layers.mistake_predicted,
                                                  layers.mistake_confidence, layers.classes),
}


def hidden_layer_figure(figure: str, layers: "HiddenLayers", max_channels: int = 32):
    """One figure of ``HIDDEN_LAYER_FIGURES``; ``max_channels``: feature maps shown per convolution."""
    return HIDDEN_LAYER_FIGURES[figure](layers, max_channels)
