"""The model search: a grid of training settings expanded into named runs, and the leaderboard."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

GRID_KEYS = ("model", "optimizer", "lr", "epochs", "batch_size", "augment")


def run_id(settings: dict) -> str:
    """A readable, file-name-safe, unique id, e.g. ``best-Adam-lr0p003-e2-bs128-aug``."""
    lr = format(settings["optimizer_kwargs"]["lr"], "g").replace(".", "p")
    name = f"{settings['model']}-{settings['optimizer']}-lr{lr}-e{settings['epochs']}-bs{settings['batch_size']}"
    return name + ("-aug" if settings["augment"] else "")


def expand_grid(grid: dict, defaults: dict) -> dict[str, dict]:
    """Every combination of the grid's lists as a run: run id -> settings over ``defaults``.

    ``lr`` sets ``optimizer_kwargs.lr`` and keeps the defaults' other optimizer arguments only
    when the optimizer is the defaults' one (momentum means nothing to Adam)."""
    lists = {key: grid.get(key, [defaults["optimizer_kwargs"]["lr"] if key == "lr" else defaults[key]])
             for key in GRID_KEYS}
    runs = {}
    for values in itertools.product(*(lists[key] for key in GRID_KEYS)):
        chosen = dict(zip(GRID_KEYS, values))
        kwargs = dict(defaults["optimizer_kwargs"]) if chosen["optimizer"] == defaults["optimizer"] else {}
        kwargs["lr"] = chosen.pop("lr")
        settings = dict(defaults, **chosen, optimizer_kwargs=kwargs)
        name = run_id(settings)
        if name in runs and runs[name] != settings:
            raise ValueError(f"train.search.grid: lr {runs[name]['optimizer_kwargs']['lr']!r} and {kwargs['lr']!r} "
                             f"both give the run id {name!r} (ids show 6 significant digits): one run would "
                             f"overwrite the other's files; use learning rates that differ in 6 digits")
        runs[name] = settings
    return runs


def selected_epoch(metrics: pd.DataFrame) -> pd.Series | None:
    """The row of a run's metrics (train.METRIC_COLUMNS) that the run kept, or None when it
    kept none (it diverged before an epoch finished)."""
    selected = metrics[metrics.selected.astype(bool)]
    return selected.iloc[0] if len(selected) else None


def leaderboard(metrics_paths: list[str | Path], runs: dict[str, dict]) -> pd.DataFrame:
    """One row per run: the epoch selected on its validation split, its validation accuracy, and
    that epoch's test accuracy (the one time the run read the test set). Ranked on validation
    accuracy, runs that finished ahead of diverged ones; the test set ranks nothing. A run's id
    is its metrics file's folder name."""
    rows = []
    for path in metrics_paths:
        run = Path(path).parent.name
        metrics = pd.read_csv(path)
        settings = runs[run]
        chosen = selected_epoch(metrics)
        rows.append({
            "run": run,
            "model": settings["model"],
            "optimizer": settings["optimizer"],
            "lr": settings["optimizer_kwargs"].get("lr"),
            "epochs": settings["epochs"],
            "batch_size": settings["batch_size"],
            "augment": settings["augment"],
            "schedule": settings["schedule"],
            "validation_images": settings["validation"],
            "selected_epoch": None if chosen is None else int(chosen.epoch),
            "validation_accuracy": None if chosen is None else chosen.val_accuracy,
            "test_accuracy": None if chosen is None else chosen.test_accuracy,
            "status": "diverged" if (metrics.status == "diverged").any() else "ok",
            "train_seconds": metrics.seconds.sum(),
        })
    table = pd.DataFrame(rows)
    table["finished"] = table.status == "ok"
    table = table.sort_values(["finished", "validation_accuracy"], ascending=[False, False], na_position="last")
    return table.drop(columns="finished").reset_index(drop=True)
