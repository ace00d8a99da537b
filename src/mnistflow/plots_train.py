"""Figures of training runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def training_curves(metrics: pd.DataFrame, run: str):
    """Loss and accuracy per epoch, train against test."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for split, color in (("train", "tab:blue"), ("test", "tab:orange")):
        loss_ax.plot(metrics.epoch, metrics[f"{split}_loss"], "o-", color=color, label=split)
        acc_ax.plot(metrics.epoch, 100 * metrics[f"{split}_accuracy"], "o-", color=color, label=split)
    loss_ax.set_ylabel("cross-entropy loss")
    acc_ax.set_ylabel("accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    final = metrics.iloc[-1]
    status = "" if final.status == "ok" else f" — {final.status} in epoch {int(final.epoch)}"
    fig.suptitle(f"run {run}: final test accuracy {100 * final.test_accuracy:.2f}%{status}")
    fig.tight_layout()
    return fig
