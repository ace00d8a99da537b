import numpy as np
import pandas as pd
import pytest
import torch

from mnistflow.datasets import DatasetSpec, read_raw
from mnistflow.optimizers import (
    ARTICLE,
    OPTIMIZERS,
    optimizer_settings,
    next_learning_rate,
    pick_learning_rate,
    run_seeds,
    run_sweep,
    summarize,
    sweep_step,
)
from mnistflow.train import TensorData, Trainer, weights_copy

from mnistflow.settings import optimizer_study

from conftest import resolved_config, train_recipe

SETTINGS = {"model": "first", "epochs": 1, "batch_size": 32, "train_subset": None, "validation": 60,
            "seeds": [0, 1], "sweep_seeds": [0, 1], "lr_factors": [0.5, 2.0], "sweep_extensions": 0}
SETTINGS.update(run=optimizer_study({"train": resolved_config()["train"], "optimizers": SETTINGS})["run"],
                cuda_graphs="auto")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from synthetic import write_dataset

    directory = tmp_path_factory.mktemp("opt") / "idx"
    written = write_dataset(directory, n_train=200, n_test=80)
    torch.set_num_threads(1)
    return read_raw(DatasetSpec.from_config("tiny", written["entry"]), directory)


def test_every_optimizer_starts_from_the_same_weights_and_sees_the_same_batches(dataset, tmp_path):
    data = TensorData.for_run(dataset, train_recipe())
    seen = {}
    initial = {}
    for optimizer in OPTIMIZERS:
        name, kwargs = optimizer_settings(optimizer, "tuned", OPTIMIZERS[optimizer][2])
        trainer = Trainer(train_recipe(model="first", optimizer=name, optimizer_kwargs=kwargs, epochs=2,
                                      batch_size=32, seed=5), data, tmp_path / f"{optimizer}.pt", graphs=False)
        initial[optimizer] = weights_copy(trainer.model)
        batches = []
        trainer.model.register_forward_pre_hook(
            lambda module, args: batches.append(args[0].sum().item()) if module.training else None)
        trainer.run()
        seen[optimizer] = batches
    reference = initial["sgd"]
    for optimizer, state in initial.items():
        assert all(torch.equal(state[k], reference[k]) for k in reference), optimizer
        # a run that blows up on this tiny set stops early: the batches it saw are the same
        assert seen[optimizer] and seen[optimizer] == seen["sgd"][:len(seen[optimizer])], optimizer
    assert len(seen["sgd"]) == 2 * 7  # 200 images in batches of 32, two epochs


def test_article_protocol_uses_the_notebooks_settings():
    assert optimizer_settings("rmsprop", "article") == ("RMSprop", {"lr": 0.01, "alpha": 0.5, "eps": 0.1, "momentum": 0.5})
    assert optimizer_settings("adagrad", "article") == ("Adagrad", {"lr": 0.01, "weight_decay": 0.1})
    assert set(ARTICLE) < set(OPTIMIZERS)
    with pytest.raises(ValueError, match="the article used no 'nadam'"):
        optimizer_settings("nadam", "article")
    assert optimizer_settings("nesterov", "tuned", 0.05) == ("SGD", {"momentum": 0.9, "nesterov": True, "lr": 0.05})


def sweep_rows(results: dict[float, list]) -> pd.DataFrame:
    """lr -> (validation accuracy, loss) per sweep seed, None for a seed that diverged."""
    return pd.DataFrame([{"lr": lr, "seed": seed, "val_accuracy": np.nan if r is None else r[0],
                          "val_loss": np.nan if r is None else r[1], "status": "diverged" if r is None else "ok"}
                         for lr, seeds in results.items() for seed, r in enumerate(seeds)])


def test_pick_learning_rate_by_mean_validation_accuracy_then_loss_over_the_sweep_seeds():
    sweep = sweep_rows({0.1: [(0.9, 0.3), (0.9, 0.3)], 0.01: [(0.97, 0.2), (0.93, 0.2)],
                        0.001: [(0.95, 0.1), (0.95, 0.1)], 1.0: [None, None]})
    assert pick_learning_rate(sweep) == 0.001  # mean 0.95 ties 0.01's; the lower loss wins
    with pytest.raises(ValueError, match=r"no learning rate of the sweep \(1\) was stable on every sweep seed \(0, 1\)"):
        pick_learning_rate(sweep[sweep.lr == 1.0])


def test_a_rate_unstable_on_one_sweep_seed_is_not_picked_however_good_its_mean():
    sweep = sweep_rows({0.3: [(0.99, 0.05), None], 0.1: [(0.90, 0.3), (0.91, 0.3)]})
    assert pick_learning_rate(sweep) == 0.1
    # and the sweep extends below the lowest rate when none was stable
    assert next_learning_rate(sweep_rows({0.3: [(0.99, 0.05), None]}), 3.0) == pytest.approx(0.1)


def test_the_sweep_extends_past_an_edge_only_while_the_best_lies_on_it():
    def sweep(accuracies, statuses=None):
        return pd.DataFrame({"lr": [0.01, 0.1, 1.0], "seed": 0, "val_accuracy": accuracies,
                             "val_loss": [0.5, 0.5, 0.5], "status": statuses or ["ok"] * 3})

    assert next_learning_rate(sweep([0.9, 0.8, 0.7]), 10) == pytest.approx(0.001)
    assert next_learning_rate(sweep([0.7, 0.8, 0.9]), 10) == pytest.approx(10.0)
    assert next_learning_rate(sweep([0.7, 0.9, 0.8]), 10) is None
    # the best finished run is interior once a higher lr diverged
    assert next_learning_rate(sweep([0.7, 0.9, float("nan")], ["ok", "ok", "diverged"]), 10) is None
    assert sweep_step([0.333333, 1, 3]) == pytest.approx(3.0, rel=1e-5)
    assert sweep_step([1]) == 3.0


def test_sweep_tries_one_more_lr_beyond_the_winning_edge(dataset):
    sweep = run_sweep(dataset, "adam", dict(SETTINGS, sweep_extensions=1), log=lambda s: None)
    assert len(sweep) == 3 * 2 and list(sweep.lr) == sorted(sweep.lr)  # two sweep seeds per rate
    first_two = sweep[np.isclose(sweep.lr, 5e-4) | np.isclose(sweep.lr, 2e-3)]
    assert len(first_two) == 2 * 2
    extra = sweep.drop(first_two.index).lr.unique().item()
    winner = pick_learning_rate(first_two)
    assert extra == pytest.approx(winner / 4 if winner < 1e-3 else winner * 4)


def test_sweep_and_seeds_on_the_tiny_dataset(dataset):
    sweep = run_sweep(dataset, "adam", SETTINGS, log=lambda s: None)
    assert list(sweep.lr) == pytest.approx([5e-4, 5e-4, 2e-3, 2e-3])
    assert sweep.val_accuracy.between(0, 1).all()
    runs = run_seeds(dataset, "adam", "tuned", SETTINGS, lr=pick_learning_rate(sweep), log=lambda s: None)
    assert list(runs.seed) == [0, 1] and set(runs.protocol) == {"tuned"}
    table = summarize(runs)
    row = table.iloc[0]
    assert row.seeds == 2 and row.lr == pick_learning_rate(sweep)
    tested = runs[runs.selected].test_accuracy
    assert len(tested) == 2 and row.test_accuracy_mean == pytest.approx(tested.mean())
    assert row.test_accuracy_std == pytest.approx(np.std(tested, ddof=1))
    # two sweep seeds per rate, scored on validation only
    assert list(sweep.seed) == [0, 1, 0, 1] and "test_accuracy" not in sweep


def test_summarize_takes_the_selected_epoch_of_each_seed():
    runs = pd.DataFrame({
        "protocol": ["tuned"] * 4, "optimizer": ["sgd"] * 4, "seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
        "test_accuracy": [np.nan, 0.9, np.nan, 0.8], "test_loss": [np.nan, 0.2, np.nan, 0.4], "status": ["ok"] * 4,
        "selected": [False, True, False, True], "lr_setting": [0.1] * 4,
    })
    row = summarize(runs).iloc[0]
    assert row.test_accuracy_mean == pytest.approx(0.85) and row.test_loss_mean == pytest.approx(0.3)
    assert row.diverged == 0


def final_epochs(results: dict[str, list]) -> pd.DataFrame:
    """One final-epoch row per seed: optimizer -> its seeds' test accuracies (None: diverged)."""
    rows = [{"protocol": "tuned", "optimizer": name, "seed": seed, "epoch": 1, "lr_setting": 0.1,
             "test_accuracy": float("nan") if accuracy is None else accuracy,
             "test_loss": float("nan") if accuracy is None else 1 - accuracy,
             "status": "diverged" if accuracy is None else "ok", "selected": accuracy is not None}
            for name, accuracies in results.items() for seed, accuracy in enumerate(accuracies)]
    return pd.DataFrame(rows)


def test_a_diverged_seed_counts_at_chance_and_its_optimizer_is_never_ranked_ahead_of_a_stable_one():
    table = summarize(final_epochs({"adam": [0.90, 0.92, None], "sgd": [0.50, 0.52, 0.51]})).set_index("optimizer")
    assert table.loc["adam", "test_accuracy_mean"] == pytest.approx((0.90 + 0.92 + 0.10) / 3)  # not 0.91
    assert table.loc["adam", "test_accuracy_std"] == pytest.approx(np.std([0.90, 0.92, 0.10], ddof=1))
    assert table.loc["adam", "diverged"] == 1 and np.isnan(table.loc["adam", "test_loss_mean"])
    assert list(table.index) == ["sgd", "adam"]  # the stable one first, though its mean is lower


def test_each_row_leads_the_next_by_a_paired_difference_over_seeds():
    # adam leads sgd by exactly 2 points on every seed: a clear lead however far apart the seeds are;
    # sgd and nadam swap places from seed to seed: an interval about zero
    table = summarize(final_epochs({"adam": [0.92, 0.82, 0.72], "sgd": [0.90, 0.80, 0.70], "nadam": [0.95, 0.60, 0.75]}))
    assert list(table.optimizer) == ["adam", "sgd", "nadam"]
    first, second, last = table.itertuples()
    assert (first.lead_over_next, first.lead_low, first.lead_high) == pytest.approx((0.02, 0.02, 0.02))
    assert second.lead_over_next == pytest.approx(np.mean([-0.05, 0.20, -0.05]))
    assert second.lead_low < 0 < second.lead_high
    assert np.isnan(last.lead_over_next)
    # a failed seed counts at chance on its side of the difference
    failed = summarize(final_epochs({"sgd": [0.50, 0.52, 0.51], "adam": [0.90, 0.92, None]}))
    assert failed.lead_over_next.iloc[0] == pytest.approx(np.mean([0.50 - 0.90, 0.52 - 0.92, 0.51 - 0.10]))


def test_chance_is_one_over_the_number_of_classes():
    table = summarize(final_epochs({"adam": [0.9, None]}), classes=2)
    assert table.test_accuracy_mean.iloc[0] == pytest.approx((0.9 + 0.5) / 2)


def test_the_studys_cuda_graphs_setting_reaches_its_runs(dataset):
    """train.cuda_graphs: on is refused by a run without a GPU, naming the key."""
    from mnistflow.errors import ConfigValueError

    with pytest.raises(ConfigValueError, match="train.cuda_graphs: on, but this job runs on cpu"):
        run_seeds(dataset, "adam", "tuned", dict(SETTINGS, cuda_graphs="on"), lr=0.001, log=lambda s: None)
