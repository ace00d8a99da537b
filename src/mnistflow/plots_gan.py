"""Figures and the GIF frames of a trained conditional GAN, drawn from its saved tables, frames
and fresh samples (``gan.fresh_samples``): nothing here runs a network."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def frame_images(frames: np.ndarray, epochs: np.ndarray, scale: int = 2) -> list[Image.Image]:
    """Sample grids (uint8, a row per class) as labelled RGB frames."""
    images = []
    for grid, epoch in zip(frames, epochs):
        image = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
        canvas = Image.new("RGB", (image.width, image.height + 16), "white")
        canvas.paste(image.convert("RGB"), (0, 16))
        ImageDraw.Draw(canvas).text((4, 2), f"epoch {int(epoch)}", fill="black")
        images.append(canvas)
    return images


def losses_figure(losses: pd.DataFrame, model: str):
    fig, (loss_ax, score_ax) = plt.subplots(1, 2, figsize=(11, 4))
    loss_ax.plot(losses.epoch, losses.discriminator_loss, "o-", label="discriminator")
    loss_ax.plot(losses.epoch, losses.generator_loss, "o-", label="generator")
    loss_ax.set_ylabel("BCE loss")
    if "generator_class_loss" in losses and losses.generator_class_loss.any():
        loss_ax.plot(losses.epoch, losses.discriminator_class_loss, "o--", color="tab:blue",
                     label="discriminator class loss (real images)")
        loss_ax.plot(losses.epoch, losses.generator_class_loss, "o--", color="tab:orange",
                     label="generator class loss (samples)")
        loss_ax.set_ylabel("BCE loss; auxiliary class loss (cross-entropy, dashed)")
    score_ax.plot(losses.epoch, losses.real_score, "o-", label="D(real)")
    score_ax.plot(losses.epoch, losses.fake_score, "o-", label="D(fake)")
    score_ax.set_ylabel("mean discriminator output")
    score_ax.set_ylim(0, 1)
    for ax in (loss_ax, score_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{model}: losses per epoch")
    fig.tight_layout()
    return fig


def quality_figure(quality: pd.DataFrame, model: str, classes: int):
    """Each epoch's scores, and the real-data floor as a dashed line; every point scored on as
    many images (``gan.GanTrainer.quality_table``; the final row is the last epoch's point)."""
    per_epoch = quality[~quality.epoch.isin(["final", "real data"])].astype({"epoch": int})
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    panels = [("frechet_distance", "Fréchet distance to held-out training images (lower is better)"),
              ("conditional_accuracy", "classifier accuracy on the intended class"),
              ("class_entropy_bits", f"entropy of predicted classes (max {np.log2(classes):.2f} bits)")]
    floor = quality[quality.epoch == "real data"]
    for ax, (column, title) in zip(axes, panels):
        ax.plot(per_epoch.epoch, per_epoch[column].astype(float), "o-", label="samples")
        if len(floor):
            value = float(floor[column].iloc[0])
            ax.axhline(value, color="tab:green", linestyle="--",
                       label=f"real test images ({int(floor.samples.iloc[0]):,}): {value:.3g}")
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    sizes = sorted({int(n) for n in per_epoch.samples})
    fig.suptitle(f"{model}: sample quality in the classifier's feature space "
                 f"({' / '.join(f'{n:,}' for n in sizes) or 0} samples per epoch)")
    fig.tight_layout()
    return fig


def class_grid_figure(samples01: np.ndarray, classes, per_class: int):
    """A row of ``per_class`` fresh samples for each class."""
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 0.9, len(classes) * 0.95), squeeze=False)
    for c in range(len(classes)):
        for i in range(per_class):
            ax = axes[c, i]
            ax.imshow(samples01[c * per_class + i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[c, 0].set_ylabel(str(classes[c]), rotation=0, labelpad=12)
    fig.suptitle("generated, one row per conditioning class")
    fig.tight_layout()
    return fig


def pixel_histograms_figure(comparison: dict, classes):
    """Per class, the pixel-intensity distribution of real test images and of samples (the
    article's comparison; log density, as most pixels are background), from the counts of
    ``gan_quality.pixel_comparison``."""
    fig, axes = plt.subplots(2, 5, figsize=(15, 5.5), sharex=True)
    edges = comparison["edges"]
    for ax, c in zip(axes.flat, range(len(classes))):
        # one weighted value per bin: the bars the raw intensities would give
        ax.hist(edges[:-1], bins=edges, weights=comparison["real_counts"][c], alpha=0.6, label="real", density=True)
        ax.hist(edges[:-1], bins=edges, weights=comparison["generated_counts"][c], alpha=0.6, label="generated",
                density=True)
        ax.set_yscale("log")
        ax.set_title(f"{classes[c]} ({comparison['real_images'][c]} real, "
                     f"{comparison['generated_images'][c]} generated)", fontsize=9)
    axes.flat[0].legend()
    fig.supxlabel("pixel intensity")
    fig.tight_layout()
    return fig


def gan_figures(losses: pd.DataFrame, quality: pd.DataFrame, fresh: dict, model: str) -> dict:
    """Every figure of ``registry.GAN_FIGURES``, by name. ``fresh``: what rule gan_samples wrote,
    the class names, a grid of fresh samples per class ((classes, per_class, h, w) in [0, 1])
    and ``gan_quality.pixel_comparison``'s counts."""
    classes, grid = [str(c) for c in fresh["classes"]], fresh["grid"]
    return {"losses": losses_figure(losses, model),
            "quality": quality_figure(quality, model, len(classes)),
            "classes": class_grid_figure(grid.reshape(-1, *grid.shape[2:]), classes, grid.shape[1]),
            "pixel_histograms": pixel_histograms_figure(fresh, classes)}
