"""The optimizer comparison, done fairly: every optimizer trains the same model from the same
initial weights on the same batch order (both fixed by the seed, see ``train.Trainer``), under
two protocols:

- ``article``: the notebook's exact settings for the five optimizers it used;
- ``tuned``: each optimizer's learning rate picked from a log-spaced sweep on a validation split
  carved from the training images, then retrained on all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import PROTOCOLS
from .search import selected_epoch

# id -> (torch.optim class, settings other than the learning rate, the sweep's centre lr)
OPTIMIZERS = {
    "sgd": ("SGD", {}, 0.1),
    "sgd_momentum": ("SGD", {"momentum": 0.9}, 0.03),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, 0.03),
    "adam": ("Adam", {}, 1e-3),
    "adamw": ("AdamW", {}, 1e-3),
    "rmsprop": ("RMSprop", {}, 1e-3),
    "adagrad": ("Adagrad", {}, 0.03),
    "adadelta": ("Adadelta", {}, 1.0),
    "nadam": ("NAdam", {}, 2e-3),
    "radam": ("RAdam", {}, 1e-3),
}

# The notebook's five, as it ran them (lr 0.01 where it left PyTorch's default).
ARTICLE = {
    "sgd_momentum": ("SGD", {"lr": 0.01, "momentum": 0.5}),
    "rmsprop": ("RMSprop", {"lr": 0.01, "alpha": 0.5, "eps": 0.1, "momentum": 0.5}),
    "adam": ("Adam", {"lr": 0.01, "weight_decay": 1e-3}),
    "adadelta": ("Adadelta", {"lr": 0.01}),
    "adagrad": ("Adagrad", {"lr": 0.01, "weight_decay": 0.1}),
}


def sweep_learning_rates(optimizer: str, factors: list[float]) -> list[float]:
    centre = OPTIMIZERS[optimizer][2]
    return [centre * f for f in factors]


def optimizer_settings(optimizer: str, protocol: str, lr: float | None = None) -> tuple[str, dict]:
    """(torch.optim class name, kwargs) for one optimizer under one protocol."""
    if protocol == "article":
        if optimizer not in ARTICLE:
            raise ValueError(f"the article used no {optimizer!r}; it used {', '.join(ARTICLE)}")
        name, kwargs = ARTICLE[optimizer]
        return name, dict(kwargs)
    if protocol == "tuned":
        name, kwargs, _ = OPTIMIZERS[optimizer]
        return name, dict(kwargs, lr=lr)
    raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def sweep_by_rate(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per learning rate of a sweep (one row per rate and seed): mean validation accuracy
    and loss over the seeds, and whether it was stable on every one of them."""
    return sweep.groupby("lr").agg(val_accuracy=("val_accuracy", "mean"), val_loss=("val_loss", "mean"),
                                   stable=("status", lambda s: bool((s == "ok").all()))).reset_index()


def pick_learning_rate(sweep: pd.DataFrame) -> float:
    """Of the rates stable on every sweep seed, the one with the best mean validation accuracy;
    ties go to the lower mean validation loss."""
    rates = sweep_by_rate(sweep)
    stable = rates[rates.stable]
    if stable.empty:
        raise ValueError(f"no learning rate of the sweep ({', '.join(f'{lr:g}' for lr in rates.lr)}) was stable "
                         f"on every sweep seed ({', '.join(str(s) for s in sorted(sweep.seed.unique()))})")
    best = stable.sort_values(["val_accuracy", "val_loss"], ascending=[False, True]).iloc[0]
    return float(best.lr)


def next_learning_rate(sweep: pd.DataFrame, step: float) -> float | None:
    """One lr beyond the sweep's edge when the best one so far lies on that edge (the optimum may
    lie outside), else None; below the lowest when none was stable. A higher lr that was unstable
    closes the upper edge."""
    rates = sweep_by_rate(sweep)
    if not rates.stable.any():
        return rates.lr.min() / step
    best = pick_learning_rate(sweep)
    if best == rates.lr.min():
        return best / step
    if best == rates.lr.max():
        return best * step
    return None


def sweep_step(factors: list[float]) -> float:
    """The ratio by which an edge extension moves: the sweep's widest spacing, 3 for one factor."""
    ordered = sorted(factors)
    return max((b / a for a, b in zip(ordered, ordered[1:])), default=3.0)


def summarize(runs: pd.DataFrame, classes: int = 10) -> pd.DataFrame:
    """Mean and std over seeds of the test accuracy and loss (of each seed's selected epoch), per
    protocol and optimizer, and each row's paired lead over the next (``with_paired_differences``).

    A seed that diverged counts, at chance accuracy (1 / ``classes``), and leaves the loss mean
    undefined (NaN): a failed seed never vanishes from the average. Rows are ``ranked``."""
    keys = ["protocol", "optimizer", "seed"]
    per_seed = runs.groupby(keys).agg(lr_setting=("lr_setting", "first"),
                                      failed=("status", lambda s: bool((s == "diverged").any())))
    tested = runs[runs.selected.astype(bool)].set_index(keys)[["test_accuracy", "test_loss"]]
    final = per_seed.join(tested).reset_index()
    final["failed"] |= final.test_accuracy.isna()
    final.loc[final.failed, "test_accuracy"] = 1 / classes
    final.loc[final.failed, "test_loss"] = np.nan
    table = final.groupby(["protocol", "optimizer"]).agg(
        lr=("lr_setting", "first"),
        seeds=("seed", "nunique"),
        test_accuracy_mean=("test_accuracy", "mean"),
        test_accuracy_std=("test_accuracy", "std"),
        test_loss_mean=("test_loss", lambda s: s.mean(skipna=False)),
        test_loss_std=("test_loss", lambda s: s.std(skipna=False)),
        diverged=("failed", "sum"),
    ).reset_index()
    table["diverged"] = table.diverged.astype(int)
    return with_paired_differences(ranked(table), final)


def with_paired_differences(table: pd.DataFrame, per_seed: pd.DataFrame) -> pd.DataFrame:
    """Each ranked row's lead over the row below it in its protocol: the mean over seeds of the
    paired difference in test accuracy (the seeds share initial weights and batches), with a
    paired t interval (``compare.paired_seed_difference``); a failed seed counts at chance on its
    side. The last row of a protocol has nothing below it (NaN)."""
    from .compare import paired_seed_difference

    accuracy = per_seed.set_index(["protocol", "optimizer", "seed"]).test_accuracy
    columns = {"lead_over_next": [], "lead_low": [], "lead_high": [], "lead_seeds": []}
    for k, row in enumerate(table.itertuples()):
        following = table.iloc[k + 1] if k + 1 < len(table) else None
        if following is None or following.protocol != row.protocol:
            for values in columns.values():
                values.append(np.nan)
            continue
        ours, theirs = accuracy.loc[row.protocol, row.optimizer], accuracy.loc[row.protocol, following.optimizer]
        seeds = ours.index.intersection(theirs.index)
        lead = paired_seed_difference(ours.loc[seeds], theirs.loc[seeds])
        columns["lead_over_next"].append(lead.mean)
        columns["lead_low"].append(lead.low)
        columns["lead_high"].append(lead.high)
        columns["lead_seeds"].append(lead.seeds)  # the seeds both have: a missing one is not paired
    return table.assign(**columns)


def verdict(group: pd.DataFrame) -> tuple[str, str]:
    """(the winner, why) of one protocol's ranked rows: the top optimizer is named only where its
    paired lead over the runner-up has a 95% interval above zero; otherwise "none clear"."""
    best = group.iloc[0]
    name = f"{best.optimizer} (lr {best.lr:.3g})"
    if len(group) < 2:
        return name, "the only optimizer"
    runner_up = group.iloc[1]
    low, high = best.get("lead_low", np.nan), best.get("lead_high", np.nan)
    lead = (f"{100 * best.lead_over_next:+.2f} points over {runner_up.optimizer}, 95% interval "
            f"{100 * low:+.2f} to {100 * high:+.2f} (paired over {int(best.get('lead_seeds', best.seeds))} seeds)")
    if low > 0:
        return name, lead
    return f"none clear: {name} and {runner_up.optimizer}", f"{lead}: the interval includes zero"


def ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a summary table best first within each protocol: the optimizers without a failed
    seed ahead of those with one, each group by mean accuracy (a table without a ``diverged``
    column, from before it existed, counts none)."""
    table = table.assign(diverged=table.diverged if "diverged" in table else 0)
    return table.sort_values(["protocol", "diverged", "test_accuracy_mean"],
                             ascending=[True, True, False]).reset_index(drop=True)


def _train(data, settings: dict, optimizer_name: str, kwargs: dict, seed: int, log) -> pd.DataFrame:
    import tempfile

    from .train import TrainConfig, Trainer

    from .graphs import graphs_wanted

    config = TrainConfig(**dict(settings["run"], optimizer=optimizer_name, optimizer_kwargs=kwargs, seed=seed))
    graphs = graphs_wanted(settings["cuda_graphs"], data.train_x.device)
    with tempfile.TemporaryDirectory() as scratch:
        return Trainer(config, data, f"{scratch}/resume.pt", log=log, graphs=graphs).run()


def run_sweep(dataset, optimizer: str, settings: dict, device="cpu", log=print) -> pd.DataFrame:
    """Train once per learning rate of the sweep and sweep seed on the training images less a
    validation split, and score each on that split (its selected epoch); the test set is not
    read. While the best stable lr lies on an edge of those tried (or none is stable), up to
    ``sweep_extensions`` more are tried beyond it. One row per rate and seed."""
    from .train import TensorData

    data = TensorData.from_dataset(dataset, device, train_subset=settings["train_subset"],
                                   validation=settings["validation"], scaling=settings["run"]["input_scaling"], test=False)
    rows = []

    def score(lr: float) -> None:
        name, kwargs = optimizer_settings(optimizer, "tuned", lr)
        for seed in settings["sweep_seeds"]:
            log(f"{optimizer}: lr {lr:g}, seed {seed}")
            metrics = _train(data, settings, name, kwargs, seed, log)
            chosen = selected_epoch(metrics)
            chosen = metrics.iloc[-1] if chosen is None else chosen
            rows.append({"optimizer": optimizer, "lr": lr, "seed": seed, "val_accuracy": chosen.val_accuracy,
                         "val_loss": chosen.val_loss,
                         "status": "diverged" if (metrics.status == "diverged").any() else "ok"})

    for lr in sweep_learning_rates(optimizer, settings["lr_factors"]):
        score(lr)
    step = sweep_step(settings["lr_factors"])
    for _ in range(settings["sweep_extensions"]):
        lr = next_learning_rate(pd.DataFrame(rows), step)
        if lr is None:
            break
        score(lr)
    return pd.DataFrame(rows).sort_values(["lr", "seed"]).reset_index(drop=True)


def run_seeds(dataset, optimizer: str, protocol: str, settings: dict, lr: float | None = None,
              device="cpu", log=print) -> pd.DataFrame:
    """Every epoch's metrics of one optimizer under one protocol, for each seed."""
    from .train import TensorData

    name, kwargs = optimizer_settings(optimizer, protocol, lr)
    # no validation split: each protocol's runs train their fixed epochs (the sweep picked the rate)
    data = TensorData.from_dataset(dataset, device, train_subset=settings["train_subset"], validation=0,
                                   scaling=settings["run"]["input_scaling"])
    frames = []
    for seed in settings["seeds"]:
        log(f"{protocol} {optimizer} ({name} {kwargs}), seed {seed}")
        metrics = _train(data, settings, name, kwargs, seed, log)
        frames.append(metrics.assign(protocol=protocol, optimizer=optimizer, seed=seed,
                                     lr_setting=kwargs["lr"]))
    return pd.concat(frames, ignore_index=True)
