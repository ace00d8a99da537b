"""Figures of the transfer study."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .registry import STRATEGIES  # noqa: E402

STRATEGY_COLORS = {"scratch": "tab:gray", "frozen": "tab:blue", "finetune": "tab:orange"}
STRATEGY_LABELS = {"scratch": "from scratch", "frozen": "frozen features + linear head",
                   "finetune": "fine-tuned"}


def label_efficiency(summary: pd.DataFrame, source: str, target: str, seeds: int):
    """Test accuracy against labelled images per class (log axis), one line per strategy with a
    band of one standard deviation over the seeds; the full training set at its mean per class.
    ``summary``: ``transfer_results.summarise`` of the runs."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for strategy in [s for s in STRATEGIES if s in set(summary.strategy)]:
        rows = summary[summary.strategy == strategy].sort_values("per_class")
        mean, std = 100 * rows.test_accuracy_mean, 100 * rows.test_accuracy_std.fillna(0)
        ax.plot(rows.per_class, mean, "o-", color=STRATEGY_COLORS[strategy],
                label=f"{STRATEGY_LABELS[strategy]} ({rows.seconds_mean.sum():.0f} s a seed)")
        ax.fill_between(rows.per_class, mean - std, mean + std, color=STRATEGY_COLORS[strategy], alpha=0.2)
    budgets = summary.drop_duplicates("budget").sort_values("per_class")
    ax.set_xscale("log")
    ax.set_xticks(budgets.per_class)
    ax.set_xticklabels([b if b != "full" else f"full\n({p:.0f})" for b, p in zip(budgets.budget, budgets.per_class)])
    ax.minorticks_off()
    ax.set_xlabel("labelled training images per class")
    ax.set_ylabel("test accuracy (%), mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"transfer {source} → {target} ({seeds} seeds)")
    fig.tight_layout()
    return fig
