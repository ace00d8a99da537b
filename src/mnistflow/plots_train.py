"""Figures of training runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .search import selected_epoch  # noqa: E402


def training_curves(metrics: pd.DataFrame, run: str):
    """Loss and accuracy per epoch, train against validation, and the selected epoch's test
    score (the test set is read for that epoch only)."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for split, color in (("train", "tab:blue"), ("val", "tab:orange")):
        label = "validation" if split == "val" else split
        loss_ax.plot(metrics.epoch, metrics[f"{split}_loss"], "o-", color=color, label=label)
        acc_ax.plot(metrics.epoch, 100 * metrics[f"{split}_accuracy"], "o-", color=color, label=label)
    chosen = selected_epoch(metrics)
    if chosen is not None:
        loss_ax.plot([chosen.epoch], [chosen.test_loss], "*", color="tab:green", markersize=14, label="test (selected)")
        acc_ax.plot([chosen.epoch], [100 * chosen.test_accuracy], "*", color="tab:green", markersize=14,
                    label="test (selected)")
        picked = "on validation" if metrics.val_accuracy.notna().any() else "(the last)"
        title = (f"run {run}: epoch {int(chosen.epoch)} selected {picked}, "
                 f"test accuracy {100 * chosen.test_accuracy:.2f}%")
    else:
        title = f"run {run}: no epoch to select"
    loss_ax.set_ylabel("cross-entropy loss")
    acc_ax.set_ylabel("accuracy (%)")
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    failed = metrics[metrics.status == "diverged"]
    if len(failed):
        title += f" — diverged in epoch {int(failed.epoch.iloc[0])}"
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def leaderboard_figure(table: pd.DataFrame):
    """Validation accuracy of every run's selected epoch, best on top (the ranking), with that
    epoch's test accuracy and the training time."""
    table = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.5))
    scored = 100 * table.validation_accuracy.fillna(0)
    colors = ["tab:red" if s == "diverged" else "tab:blue" for s in table.status]
    ax.barh(table.run, scored, color=colors)
    for y, (value, row) in enumerate(zip(scored, table.itertuples())):
        label = "diverged" if row.status == "diverged" else (
            f"{value:.2f}% at epoch {row.selected_epoch:.0f}: test {100 * row.test_accuracy:.2f}% "
            f"({row.train_seconds:.0f} s)")
        ax.text(value, y, " " + label, va="center", fontsize=8)
    low = scored[scored > 0].min() if (scored > 0).any() else 0
    ax.set_xlim(max(0, low - 5), 100.5)
    ax.set_xlabel("validation accuracy of the selected epoch (%)")
    ax.set_title("leaderboard: every training run, ranked on validation")
    fig.tight_layout()
    return fig


def optimizer_curves(runs: pd.DataFrame):
    """Training loss per epoch, mean over seeds with a min-max band, one panel per protocol (the
    test set is read once per seed, for the bars)."""
    protocols = sorted(runs.protocol.unique())
    fig, axes = plt.subplots(1, len(protocols), figsize=(6.5 * len(protocols), 4.5), squeeze=False, sharey=True)
    colors = plt.get_cmap("tab10")
    for ax, protocol in zip(axes[0], protocols):
        subset = runs[runs.protocol == protocol]
        for k, (optimizer, group) in enumerate(subset.groupby("optimizer")):
            by_epoch = group.groupby("epoch").train_loss
            mean, low, high = by_epoch.mean(), by_epoch.min(), by_epoch.max()
            ax.plot(mean.index, mean, "o-", color=colors(k % 10), label=optimizer)
            ax.fill_between(mean.index, low, high, color=colors(k % 10), alpha=0.2)
        ax.set_title(f"protocol: {protocol}")
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("mean training loss of the epoch — mean and range over seeds")
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
