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


def leaderboard_figure(table: pd.DataFrame):
    """Best test accuracy of every run, best on top, with final accuracy and training time."""
    table = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.5))
    best = 100 * table.best_test_accuracy.fillna(0)
    colors = ["tab:red" if s == "diverged" else "tab:blue" for s in table.status]
    ax.barh(table.run, best, color=colors)
    for y, (value, row) in enumerate(zip(best, table.itertuples())):
        label = "diverged" if row.status == "diverged" else (
            f"{value:.2f}% (final {100 * row.final_test_accuracy:.2f}%, {row.train_seconds:.0f} s)")
        ax.text(value, y, " " + label, va="center", fontsize=8)
    low = best[best > 0].min() if (best > 0).any() else 0
    ax.set_xlim(max(0, low - 5), 100.5)
    ax.set_xlabel("best test accuracy (%)")
    ax.set_title("leaderboard: every training run")
    fig.tight_layout()
    return fig


def optimizer_curves(runs: pd.DataFrame):
    """Test accuracy per epoch, mean over seeds with a min-max band, one panel per protocol."""
    protocols = sorted(runs.protocol.unique())
    fig, axes = plt.subplots(1, len(protocols), figsize=(6.5 * len(protocols), 4.5), squeeze=False, sharey=True)
    colors = plt.get_cmap("tab10")
    for ax, protocol in zip(axes[0], protocols):
        subset = runs[runs.protocol == protocol]
        for k, (optimizer, group) in enumerate(subset.groupby("optimizer")):
            by_epoch = group.groupby("epoch").test_accuracy
            mean, low, high = 100 * by_epoch.mean(), 100 * by_epoch.min(), 100 * by_epoch.max()
            ax.plot(mean.index, mean, "o-", color=colors(k % 10), label=optimizer)
            ax.fill_between(mean.index, low, high, color=colors(k % 10), alpha=0.2)
        ax.set_title(f"protocol: {protocol}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("test accuracy (%) — mean and range over seeds")
    fig.tight_layout()
    return fig


def optimizer_bars(table: pd.DataFrame):
    """Final test accuracy per optimizer, mean ± std over seeds, both protocols side by side."""
    optimizers = list(table[table.protocol == "tuned"].optimizer) or list(table.optimizer.unique())
    optimizers += [o for o in table.optimizer.unique() if o not in optimizers]
    fig, ax = plt.subplots(figsize=(max(7, 0.9 * len(optimizers)), 4.5))
    width = 0.4
    for k, protocol in enumerate(("article", "tuned")):
        rows = table[table.protocol == protocol].set_index("optimizer")
        x = [i + (k - 0.5) * width for i, o in enumerate(optimizers) if o in rows.index]
        present = [o for o in optimizers if o in rows.index]
        bars = ax.bar(x, 100 * rows.loc[present, "test_accuracy_mean"], width,
                      yerr=100 * rows.loc[present, "test_accuracy_std"].fillna(0), capsize=3, label=protocol)
        failed = rows.loc[present, "diverged"] if "diverged" in rows else pd.Series(0, index=present)
        for bar, optimizer in zip(bars, present):
            if failed[optimizer]:  # unstable: its failed seeds are counted at chance accuracy
                bar.set_hatch("//")
                ax.annotate(f"{int(failed[optimizer])} diverged", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7, rotation=90, color="tab:red")
    ax.set_xticks(range(len(optimizers)), optimizers, rotation=30)
    means = 100 * table.test_accuracy_mean.dropna()
    if len(means):
        ax.set_ylim(max(0, means.min() - 5), 100)
    ax.set_ylabel("final test accuracy (%), mean ± std over seeds\n(hatched: a seed diverged, counted at chance)")
    ax.set_title("optimizers: the article's settings against a tuned learning rate")
    ax.legend()
    fig.tight_layout()
    return fig
