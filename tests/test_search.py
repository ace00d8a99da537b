import pandas as pd
import pytest

from mnistflow.search import expand_grid, leaderboard, run_id

from conftest import resolved_config

DEFAULTS = resolved_config()["train"]["defaults"]  # every run setting, as the schema fills them


def test_grid_expands_every_combination_over_the_defaults():
    runs = expand_grid({"model": ["first", "best"], "optimizer": ["SGD", "Adam"], "lr": [0.1, 0.003],
                        "augment": [True]}, DEFAULTS)
    assert len(runs) == 8
    sgd = runs["first-SGD-lr0p1-e10-bs32-aug"]
    assert sgd["optimizer_kwargs"] == {"lr": 0.1, "momentum": 0.5} and sgd["augment"] is True
    adam = runs["best-Adam-lr0p003-e10-bs32-aug"]
    assert adam["optimizer_kwargs"] == {"lr": 0.003}  # no SGD momentum for Adam
    assert adam["seed"] == 7 and adam["epochs"] == 10


def test_adding_a_grid_value_keeps_the_existing_run_ids():
    before = expand_grid({"model": ["first"], "lr": [0.01]}, DEFAULTS)
    after = expand_grid({"model": ["first", "lenet"], "lr": [0.01]}, DEFAULTS)
    assert set(before) < set(after) and all(after[r] == before[r] for r in before)


def test_run_ids_are_file_name_safe():
    name = run_id(dict(DEFAULTS, optimizer_kwargs={"lr": 0.00025}))
    assert name == "second-SGD-lr0p00025-e10-bs32"
    assert run_id(dict(DEFAULTS, optimizer_kwargs={"lr": 0.0003})) != name


def test_leaderboard_ranks_on_validation_shows_the_selected_epochs_test_accuracy_and_keeps_diverged_runs(tmp_path):
    runs = expand_grid({"model": ["first", "lenet", "best"]}, DEFAULTS)
    ids = list(runs)
    # run -> per epoch (validation accuracy, selected, test accuracy of the selected epoch)
    epochs = {ids[0]: [(0.90, False, None), (0.95, True, 0.99)],
              ids[1]: [(0.97, True, 0.93), (0.96, False, None)],
              ids[2]: [(float("nan"), False, None)]}
    paths = []
    for run, values in epochs.items():
        (tmp_path / run).mkdir()
        pd.DataFrame({
            "epoch": range(1, len(values) + 1), "val_accuracy": [v for v, _, _ in values],
            "selected": [s for _, s, _ in values], "test_accuracy": [t for _, _, t in values],
            "seconds": [10.0] * len(values),
            "status": ["ok"] * (len(values) - 1) + ["diverged" if values[-1][0] != values[-1][0] else "ok"],
        }).to_csv(tmp_path / run / "metrics.csv", index=False)
        paths.append(tmp_path / run / "metrics.csv")
    table = leaderboard(paths, runs)
    # ranked on validation: ids[1] first although ids[0]'s test accuracy is higher
    assert list(table.run) == [ids[1], ids[0], ids[2]]
    top = table.iloc[0]
    assert top.validation_accuracy == 0.97 and top.selected_epoch == 1 and top.test_accuracy == 0.93
    assert (table.validation_images == DEFAULTS["validation"]).all()  # the run's own, never assumed
    assert table.iloc[1].selected_epoch == 2 and table.iloc[1].test_accuracy == 0.99
    assert table.iloc[2].status == "diverged" and pd.isna(table.iloc[2].validation_accuracy)
    assert table.iloc[1].train_seconds == pytest.approx(20.0)


def test_learning_rates_that_would_share_a_run_id_are_refused_naming_both():
    defaults = {"model": "first", "optimizer": "SGD", "optimizer_kwargs": {"lr": 0.01}, "epochs": 1,
                "batch_size": 32, "augment": False, "schedule": "constant"}
    with pytest.raises(ValueError, match=r"train.search.grid: lr 0.001 and 0.0010000001 both give the run id "
                                         r"'first-SGD-lr0p001-e1-bs32'"):
        expand_grid({"lr": [0.001, 0.0010000001]}, defaults)
    assert len(expand_grid({"lr": [0.001, 0.002]}, defaults)) == 2
