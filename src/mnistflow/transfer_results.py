"""The transfer study's results summarised per strategy and budget. Without torch: the report's
headline and the label-efficiency figure's script read it."""

from __future__ import annotations

import pandas as pd


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of test accuracy, mean steps, the runs that reached the step cap before
    converging, and mean seconds, per strategy and budget."""
    grouped = results.groupby(["strategy", "budget", "per_class", "labels"], sort=False)
    return grouped.agg(test_accuracy_mean=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"),
                       steps_mean=("steps", "mean"), at_cap=("stopped", lambda s: int((s == "cap").sum())),
                       seconds_mean=("seconds", "mean"), runs=("seed", "count")).reset_index()
