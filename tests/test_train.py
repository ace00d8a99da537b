import math
import re

import numpy as np
import pandas as pd
import pytest
import torch

from mnistflow.checkpoint import load_checkpoint
from mnistflow.datasets import DatasetSpec, read_raw
from mnistflow.models import MODELS, build_model
from mnistflow.train import (
    TensorData,
    TrainConfig,
    Trainer,
    augment_batch,
    evaluate,
    load_optimizer_state,
    make_optimizer,
    near_chance,
    warp_draws,
)

from conftest import gan_recipe, train_recipe

TIMING = ["seconds", "images_per_second"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from synthetic import write_dataset

    directory = tmp_path_factory.mktemp("train") / "idx"
    written = write_dataset(directory, n_train=256, n_test=100)
    torch.set_num_threads(1)
    return TensorData.for_run(read_raw(DatasetSpec.from_config("tiny", written["entry"]), directory), train_recipe())


@pytest.fixture(scope="module")
def split_data(data):
    """The same images with the last 56 training images held out as a validation split."""
    import dataclasses

    train_x, train_y = data.train_x[:200], data.train_y[:200]
    return dataclasses.replace(data, train_x=train_x, train_y=train_y, val_x=data.train_x[200:],
                               val_y=data.train_y[200:])


def quick(**overrides) -> TrainConfig:
    settings = dict(model="lenet", optimizer="SGD", optimizer_kwargs={"lr": 0.05, "momentum": 0.5},
                    epochs=2, batch_size=32, seed=3)
    settings.update(overrides)
    return train_recipe(**settings)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_give_logits_per_class(name):
    torch.manual_seed(0)
    assert build_model(name)(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_article_model_sizes():
    first, second = build_model("first"), build_model("second")
    assert first.fc1.in_features == 21632 and second.fc1.in_features == 64 * 24 * 24


def test_normalisation_uses_the_training_images(data):
    assert data.train_x.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert data.train_x.std().item() == pytest.approx(1.0, abs=1e-3)
    assert data.test_x.shape == (100, 1, 28, 28) and len(data.classes) == 10


def test_unit_scaling_feeds_the_notebooks_pixels_in_0_1_and_the_checkpoint_carries_it(tmp_path):
    from synthetic import write_dataset

    from mnistflow.checkpoint import InputPipeline

    written = write_dataset(tmp_path / "idx", n_train=64, n_test=16)
    dataset = read_raw(DatasetSpec.from_config("tiny", written["entry"]), tmp_path / "idx")
    unit = TensorData.for_run(dataset, train_recipe(input_scaling="unit"))
    # ToTensor(): pixel / 255, nothing subtracted
    expected = torch.from_numpy(dataset.train_images.astype(np.float32) / 255)
    torch.testing.assert_close(unit.train_x.reshape(expected.shape), expected)
    assert (unit.mean, unit.std) == (0.0, 1.0)
    trainer = Trainer(quick(epochs=1, input_scaling="unit"), unit, tmp_path / "r.pt", log=lambda s: None, graphs=False)
    trainer.save(tmp_path / "model.pt", trainer.run())
    _, state = load_checkpoint(tmp_path / "model.pt")
    pipeline = InputPipeline.from_checkpoint(state)  # what every later analysis feeds the model
    torch.testing.assert_close(pipeline(torch.from_numpy(dataset.test_images)), unit.test_x)
    with pytest.raises(ValueError, match="unknown input_scaling 'raw'; choose one of standardise, unit"):
        TensorData.for_run(dataset, train_recipe(input_scaling="raw"))


def test_metrics_test_accuracy_equals_checkpoint_evaluation(data, tmp_path):
    trainer = Trainer(quick(), data, tmp_path / "resume.pt", graphs=False)
    metrics = trainer.run()
    trainer.save(tmp_path / "model.pt", metrics)
    model, state = load_checkpoint(tmp_path / "model.pt")
    with torch.no_grad():
        predictions = model(data.test_x).argmax(dim=1)
    direct = (predictions == data.test_y).sum().item() / 100
    assert metrics.test_accuracy.iloc[-1] == direct
    assert list(metrics.epoch) == [1, 2] and set(metrics.status) == {"ok"}
    assert state["config"]["model"] == "lenet" and state["metrics"][-1]["test_accuracy"] == direct
    assert metrics.train_accuracy.iloc[-1] > 0.3  # it learns the synthetic bars


def test_same_seed_same_metrics(data, tmp_path):
    first = Trainer(quick(augment=True), data, tmp_path / "a.pt", graphs=False).run()
    second = Trainer(quick(augment=True), data, tmp_path / "b.pt", graphs=False).run()
    pd.testing.assert_frame_equal(first.drop(columns=TIMING), second.drop(columns=TIMING))


def run_killed_in_epoch(trainer: Trainer, epoch: int, monkeypatch) -> None:
    """Run ``trainer`` as a job killed when ``epoch`` starts: it leaves its resume file."""
    original = Trainer.train_epoch

    def die(self, current):
        if current == epoch:
            raise KeyboardInterrupt
        return original(self, current)

    monkeypatch.setattr(Trainer, "train_epoch", die)
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    monkeypatch.setattr(Trainer, "train_epoch", original)


def test_resume_after_a_killed_epoch_matches_an_uninterrupted_run(data, tmp_path, monkeypatch):
    config = quick(epochs=3, schedule="step", schedule_kwargs={"step_size": 1, "gamma": 0.5}, augment=True)
    uninterrupted = Trainer(config, data, tmp_path / "whole.pt", graphs=False).run()

    run_killed_in_epoch(Trainer(config, data, tmp_path / "resume.pt", graphs=False), 2, monkeypatch)
    lines = []
    resumed = Trainer(config, data, tmp_path / "resume.pt", log=lines.append, graphs=False).run()
    assert any("resuming after epoch 1" in line for line in lines)
    pd.testing.assert_frame_equal(uninterrupted.drop(columns=TIMING), resumed.drop(columns=TIMING))


def test_huge_learning_rate_is_marked_diverged(data, tmp_path):
    trainer = Trainer(quick(optimizer_kwargs={"lr": 1e12}, epochs=3), data, tmp_path / "r.pt", graphs=False)
    metrics = trainer.run()
    assert metrics.status.iloc[-1] == "diverged"
    assert len(metrics) < 3 or math.isnan(metrics.val_loss.iloc[-1])
    trainer.save(tmp_path / "model.pt", metrics)
    assert load_checkpoint(tmp_path / "model.pt")[1]["status"] == "diverged"


def test_augmentation_keeps_shape_and_background(data):
    x = data.train_x[:8]
    draws = warp_draws(8, torch.Generator().manual_seed(0))
    out = augment_batch(x, draws)
    assert out.shape == x.shape and torch.isfinite(out).all() and not torch.equal(out, x)
    assert out.amin().item() == pytest.approx(x.amin().item(), abs=1e-5)
    identity = augment_batch(x, draws, max_shift=0, max_degrees=0)
    torch.testing.assert_close(identity, x, atol=1e-5, rtol=0)


def test_evaluate_counts_exactly_the_given_examples(data):
    model = build_model("lenet").eval()
    loss, accuracy = evaluate(model, data.test_x, data.test_y, batch_size=32)  # 100 = 3 x 32 + 4
    with torch.no_grad():
        logits = model(data.test_x)
    assert accuracy == (logits.argmax(1) == data.test_y).sum().item() / 100
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.test_y).item(), rel=1e-5)


def test_scoring_under_bfloat16_takes_loss_and_arg_max_of_float32_logits(data):
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            logits = x.flatten(1)[:, :10].to(torch.bfloat16)  # what autocast's last layer returns
            seen.append(logits)
            return logits

    loss, accuracy = evaluate(Probe(), data.test_x, data.test_y)
    logits = torch.cat(seen).float()
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, data.test_y, reduction="sum").item() / 100,
                                 rel=1e-12)
    assert accuracy == pytest.approx((logits.argmax(1) == data.test_y).double().mean().item(), abs=1e-12)


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="unknown optimizer 'Adamm': not a class in torch.optim"):
        make_optimizer("Adamm", build_model("first").parameters(), {})


@pytest.mark.parametrize("optimizer, kwargs, reason", [
    ("LBFGS", {"lr": 1.0}, "LBFGS.step() missing 1 required positional argument: 'closure'"),
    ("SparseAdam", {"lr": 0.01}, "SparseAdam does not support dense gradients, please consider Adam instead"),
])
def test_an_optimizer_whose_step_training_cannot_take_is_refused_naming_the_key(optimizer, kwargs, reason):
    from mnistflow.recipes import check_recipe

    with pytest.raises(ValueError) as error:
        check_recipe({"optimizer": optimizer, "optimizer_kwargs": kwargs, "schedule": "constant", "schedule_kwargs": {}},
                     "train.runs.first")
    assert str(error.value) == (f"config key train.runs.first: optimizer {optimizer} {kwargs}, schedule constant {{}}: "
                                f"{reason}")


def test_mixed_precision_runs_the_forward_pass_in_bfloat16(data, tmp_path):
    trainer = Trainer(quick(mixed_precision=True, epochs=1), data, tmp_path / "resume.pt", log=lambda s: None, graphs=False)
    dtypes = set()
    trainer.model.conv1.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    trainer.train_epoch(1)
    assert dtypes == {torch.bfloat16}
    assert trainer.model.conv1.weight.dtype == torch.float32  # the weights stay float32
    loss, accuracy = evaluate(trainer.model, data.test_x, data.test_y)
    assert math.isfinite(loss) and accuracy > 0.2


class WritesAFileWhenUnpickled:
    """What a crafted checkpoint can hold: unpickling it calls open(marker, "w")."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_no_loader_runs_code_from_a_crafted_checkpoint(tmp_path):
    from mnistflow.gan import load_generator
    from mnistflow.gan_quality import Scorer
    from mnistflow.checkpoint import load_checkpoint, read_resume_file

    marker = tmp_path / "pwned"
    crafted = tmp_path / "model.pt"
    torch.save({"config": {"model": "first"}, "model": WritesAFileWhenUnpickled(marker), "classes": ("0", "1")},
               crafted)
    refused = ("refused: it holds more than tensors, numbers, strings and arrays, and loading it could "
               "run code (Unsupported global: GLOBAL io.open)")
    for load in (load_checkpoint, load_generator, Scorer):
        with pytest.raises(ValueError, match=re.escape(f"{crafted}: {refused}")):
            load(crafted)
    lines = []
    assert read_resume_file(crafted, gan_recipe(), "cpu", lines.append) is None  # a resume file: start afresh
    assert lines == [f"ignoring {crafted}, starting afresh: {refused}"]
    assert not marker.exists()


def test_a_truncated_resume_file_means_a_fresh_start_not_a_crash(tmp_path):
    from mnistflow.checkpoint import read_resume_file

    path = tmp_path / "resume.pt"
    torch.save({"config": {}, "epoch": 3}, path)
    path.write_bytes(path.read_bytes()[:40])
    lines = []
    assert read_resume_file(path, train_recipe(), "cpu", lines.append) is None
    assert lines[0].startswith(f"ignoring {path}, starting afresh:")


def test_a_resume_file_written_for_other_data_is_not_reused(data, tmp_path):
    import dataclasses

    config = quick(epochs=2)
    first = Trainer(dataclasses.replace(config, epochs=1), data, tmp_path / "resume.pt", graphs=False)
    first.run()
    first._save_resume(1)  # as a run killed after epoch 1 leaves it
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    state["config"]["epochs"] = 2
    torch.save(state, tmp_path / "resume.pt")
    replaced = dataclasses.replace(data, train_y=data.train_y.flip(0), digest="the dataset was replaced")
    lines = []
    metrics = Trainer(config, replaced, tmp_path / "resume.pt", log=lines.append, graphs=False).run()
    assert f"ignoring {tmp_path / 'resume.pt'}, starting afresh: it was written for other inputs (data changed)" in lines
    assert metrics.epoch.tolist() == [1, 2]  # trained from the start
    lines = []
    torch.save(state, tmp_path / "resume.pt")
    Trainer(config, data, tmp_path / "resume.pt", log=lines.append, graphs=False).run()
    assert any("resuming after epoch 1" in line for line in lines)  # the same data: resumed


def test_the_data_digest_tells_datasets_apart(tmp_path):
    from synthetic import write_dataset

    written = write_dataset(tmp_path / "idx", n_train=64, n_test=20)
    dataset = read_raw(DatasetSpec.from_config("tiny", written["entry"]), tmp_path / "idx")
    same = TensorData.for_run(dataset, train_recipe()).digest
    assert len(same) == 64 and same == TensorData.for_run(dataset, train_recipe()).digest
    assert TensorData.for_run(dataset, train_recipe(train_subset=32)).digest != same
    dataset.train_labels[0] = (dataset.train_labels[0] + 1) % 10
    assert TensorData.for_run(dataset, train_recipe()).digest != same


def spy_on_evaluate(monkeypatch, data, fake_validation=None):
    """Record which set every evaluation reads (and the model's weights then); optionally fake
    the validation accuracy of each call, in order."""
    import mnistflow.train as train

    calls = []

    def spy(model, x, y, **kwargs):
        name = "test" if x is data.test_x else "validation" if x is data.val_x else "other"
        calls.append((name, {k: v.clone() for k, v in model.state_dict().items()}))
        loss, accuracy = evaluate(model, x, y, **kwargs)
        if name == "validation" and fake_validation:
            accuracy = fake_validation[sum(n == "validation" for n, _ in calls) - 1]
        return loss, accuracy

    monkeypatch.setattr(train, "evaluate", spy)
    return calls


def test_the_epoch_is_selected_on_validation_and_the_test_set_is_read_once_for_it(split_data, tmp_path, monkeypatch):
    calls = spy_on_evaluate(monkeypatch, split_data, fake_validation=[0.5, 0.9, 0.7])
    trainer = Trainer(quick(epochs=3), split_data, tmp_path / "r.pt", log=lambda s: None, graphs=False)
    metrics = trainer.run()
    assert [name for name, _ in calls] == ["validation"] * 3 + ["test"]  # test: once, after training
    assert metrics.selected.tolist() == [False, True, False] and metrics.val_accuracy.tolist() == [0.5, 0.9, 0.7]
    assert metrics.test_accuracy.notna().tolist() == [False, True, False]
    epoch_two, tested = calls[1][1], calls[3][1]
    assert all(torch.equal(tested[k], epoch_two[k]) for k in epoch_two)  # the test scored epoch 2's weights
    kept = trainer.model.state_dict()
    assert all(torch.equal(kept[k], epoch_two[k]) for k in epoch_two)  # and the checkpoint keeps them
    assert not all(torch.equal(calls[2][1][k], epoch_two[k]) for k in epoch_two)


def test_no_selection_reads_a_test_image(split_data, tmp_path):
    """Garbage in place of the test set changes the test score and nothing else."""
    import dataclasses

    config = quick(epochs=3, optimizer_kwargs={"lr": 0.2, "momentum": 0.5})
    garbage = dataclasses.replace(split_data, test_x=torch.randn_like(split_data.test_x) * 50,
                                  test_y=(split_data.test_y + 3) % 10)
    real = Trainer(config, split_data, tmp_path / "a.pt", log=lambda s: None, graphs=False)
    fake = Trainer(config, garbage, tmp_path / "b.pt", log=lambda s: None, graphs=False)
    real_metrics, fake_metrics = real.run(), fake.run()
    tested = ["test_loss", "test_accuracy"]
    pd.testing.assert_frame_equal(real_metrics.drop(columns=TIMING + tested), fake_metrics.drop(columns=TIMING + tested))
    assert all(torch.equal(real.model.state_dict()[k], v) for k, v in fake.model.state_dict().items())
    assert real_metrics.test_accuracy.max() != fake_metrics.test_accuracy.max()


def test_a_finite_blow_up_is_marked_diverged_and_stops_the_run(split_data, tmp_path):
    # epoch 1 learns the bars; then the rate jumps 30-fold and the loss blows up, still finite
    config = quick(batch_size=4, epochs=3, schedule="step", schedule_kwargs={"step_size": 1, "gamma": 30})
    metrics = Trainer(config, split_data, tmp_path / "r.pt", log=lambda s: None, graphs=False).run()
    assert metrics.status.tolist() == ["ok", "diverged"] and math.isfinite(metrics.train_loss.iloc[-1])
    assert metrics.val_accuracy.iloc[0] > 0.5
    assert re.match(r"the smoothed training loss rose to [\d.e+]+, more than ln\(classes\) = 2.303 above its lowest "
                    r"[\d.]+ at step \d+$", metrics.note.iloc[-1])
    assert metrics.selected.tolist() == [True, False]  # epoch 1 kept, and tested


@pytest.mark.parametrize("recording", [None, {"per_epoch": 2}])
@pytest.mark.parametrize("case", ["ok", "finite blow-up", "not finite"])
def test_reading_the_losses_in_blocks_as_on_a_gpu_gives_the_metrics_of_a_check_every_batch(split_data, tmp_path, case,
                                                                                          recording):
    settings = {"ok": dict(epochs=2, augment=True),
                "finite blow-up": dict(batch_size=4, epochs=3, schedule="step", schedule_kwargs={"step_size": 1, "gamma": 30}),
                "not finite": dict(optimizer_kwargs={"lr": 1e12}, epochs=2)}[case]
    runs = []
    for check_every in (1, 3):  # 3 divides neither 200 / 32 = 7 batches nor 200 / 4 = 50
        trainer = Trainer(quick(**settings), split_data, tmp_path / f"{check_every}.pt", log=lambda s: None,
                          recording=recording, graphs=False)
        trainer.check_every = check_every
        runs.append((trainer.run(), None if recording is None else trainer.recorder.weight_arrays()))
    (every_batch, recorded), (blocks, recorded_in_blocks) = runs
    pd.testing.assert_frame_equal(every_batch.drop(columns=TIMING), blocks.drop(columns=TIMING))
    for key in recorded or {}:  # recorded every 3rd batch (7 // 2): checked there too, before recording
        np.testing.assert_array_equal(recorded[key], recorded_in_blocks[key])
    assert every_batch.status.iloc[-1] == ("ok" if case == "ok" else "diverged")
    if case == "not finite":
        assert re.match(r"the training loss is (nan|inf) at step \d+$", blocks.note.iloc[-1])
        assert math.isnan(blocks.train_loss.iloc[-1])


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_gradients_zeroed_in_place_as_a_cuda_graph_needs_stay_the_same_tensors_and_give_the_same_run(
        split_data, tmp_path, schedule):
    # a graph's replays write the gradients it recorded; the update after an eager call (an
    # epoch's smaller last batch: 200 images in batches of 32) must read those same tensors
    settings = dict(epochs=2, augment=True, model="best", optimizer="AdamW", schedule=schedule,
                    optimizer_kwargs={"lr": 0.01, "weight_decay": 5e-4})
    dropped = Trainer(quick(**settings), split_data, tmp_path / "a.pt", log=lambda s: None, graphs=False)
    in_place = Trainer(quick(**settings), split_data, tmp_path / "b.pt", log=lambda s: None, graphs=False)
    assert not dropped.step.graph.enabled and not dropped.step.gradients_in_place  # a CPU records no graph
    in_place.step.gradients_in_place = True  # as with graphs
    gradients = []
    in_place.step.optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: gradients.append([p.grad for p in in_place.model.parameters()]))
    expected, metrics = dropped.run(), in_place.run()
    pd.testing.assert_frame_equal(expected.drop(columns=TIMING), metrics.drop(columns=TIMING))
    for name, value in dropped.model.state_dict().items():
        torch.testing.assert_close(in_place.model.state_dict()[name], value, rtol=0, atol=0)
    assert len(gradients) == 2 * 7 and all(a is b for a, b in zip(gradients[1], gradients[-1]))
    if schedule == "onecycle":
        assert expected.lr.iloc[1] != expected.lr.iloc[0]


@pytest.mark.parametrize("name", ["RMSprop", "Adam"])
def test_a_resume_file_written_with_cuda_graphs_loads_into_a_cpu_optimizer_which_steps(name):
    weights = [torch.nn.Parameter(torch.zeros(2))]
    written = make_optimizer(name, weights, {"lr": 0.1})
    weights[0].grad = torch.ones(2)
    written.step()
    state = written.state_dict()
    state["param_groups"][0]["capturable"] = True  # as a GPU run with graphs writes it
    resumed = make_optimizer(name, weights, {"lr": 0.1})
    load_optimizer_state(resumed, state)
    assert resumed.param_groups[0]["capturable"] is False
    resumed.step()  # torch's own load_state_dict leaves RMSprop refusing: capturable on a CPU
    assert resumed.state[weights[0]]["step"].item() == 2


def test_a_capturable_optimizer_is_asked_for_only_where_torch_has_the_option():
    weight = [torch.nn.Parameter(torch.zeros(2))]
    assert make_optimizer("Adam", weight, {"lr": 0.1}, capturable=True).param_groups[0]["capturable"] is True
    assert make_optimizer("Adam", weight, {"lr": 0.1}).param_groups[0]["capturable"] is False
    assert "capturable" not in make_optimizer("SGD", weight, {"lr": 0.1}, capturable=True).param_groups[0]


# FirstModel under Adam at lr 0.01 (the article's), its first batches on real MNIST
ADAM_OVERSHOOT = [2.3, 47.9, 19.8, 12.0, 10.3, 17.6, 13.1, 13.4, 7.8, 4.3, 1.2, 1.9, 2.0, 2.2, 1.7, 1.1]


def test_the_loss_watch_ignores_noise_and_a_first_overshoot_and_catches_a_rise_above_its_lowest():
    from mnistflow.train import LossWatch

    watch = LossWatch(classes=10)
    overshoot = ADAM_OVERSHOOT
    assert all(watch.update(loss) is None for loss in overshoot)
    assert all(watch.update(loss) is None for loss in [1.5, 0.9, 0.5, 0.3, 0.2, 0.6, 0.1, 0.9, 0.2, 0.4] * 5)
    problems = [watch.update(loss) for loss in [20.0, 20.0, 20.0]]
    assert problems[0] is None and problems[-1] is not None  # smoothed over about ten batches
    assert watch.batches == len(overshoot) + 50 + 3


def test_a_run_whose_epoch_loss_stays_at_a_uniform_guess_is_marked_diverged(split_data, tmp_path):
    import dataclasses

    # each image labelled with the class the untrained model finds least likely (p <= 1/10), and
    # too small a learning rate to change that: the loss stays above ln(10)
    trainer = Trainer(quick(epochs=1, optimizer_kwargs={"lr": 1e-9}), split_data, tmp_path / "r.pt",
                      log=lambda s: None, graphs=False)
    with torch.no_grad():
        least_likely = trainer.model.eval()(split_data.train_x).argmin(dim=1)
    trainer.data = dataclasses.replace(split_data, train_y=least_likely)
    metrics = trainer.run()
    assert metrics.status.tolist() == ["diverged"] and metrics.train_loss.iloc[0] < 3
    assert re.match(r"the mean training loss of the epoch's last 200 images, 2\.\d+, is not below ln\(classes\) = "
                    r"2.303$", metrics.note.iloc[0])


@pytest.mark.parametrize("batches", [94, 125])  # the optimizer sweep's epoch and the comparison's
def test_a_first_overshoot_is_forgiven_whatever_the_epoch_length(data, tmp_path, batches):
    import dataclasses

    curve = ADAM_OVERSHOOT + [1.1] * (batches - len(ADAM_OVERSHOOT))
    # the epoch's mean, the old judge, marked the shorter epoch only: 2.60 against 2.23
    assert (np.mean(curve) >= math.log(10)) == (batches == 94)
    repeats = math.ceil(32 * batches / len(data.train_y))  # batches of 32, as the sweep and comparison train
    images = dataclasses.replace(data, train_x=data.train_x.repeat(repeats, 1, 1, 1)[:32 * batches],
                                 train_y=data.train_y.repeat(repeats)[:32 * batches])
    trainer = Trainer(quick(epochs=1, batch_size=32), images, tmp_path / "r.pt", log=lambda s: None, graphs=False)
    losses = iter(curve)
    trainer.step.backward = lambda *batch: (torch.tensor(next(losses)), torch.tensor(32))
    metrics = trainer.run()
    assert metrics.status.tolist() == ["ok"] and metrics.train_loss.iloc[0] == pytest.approx(np.mean(curve), rel=1e-6)
    # a run that never comes back below a uniform guess is marked at either length
    never = Trainer(quick(epochs=1, batch_size=32), images, tmp_path / "never.pt", log=lambda s: None, graphs=False)
    losses = iter(ADAM_OVERSHOOT + [2.4] * (batches - len(ADAM_OVERSHOOT)))
    never.step.backward = lambda *batch: (torch.tensor(next(losses)), torch.tensor(0))
    assert never.run().status.tolist() == ["diverged"]


def test_a_run_that_ends_near_chance_on_validation_is_marked_diverged(split_data, tmp_path):
    import dataclasses

    # validation labels shifted by one class: a model that learnt the bars scores about 0 there
    shifted = dataclasses.replace(split_data, val_y=(split_data.val_y + 1) % 10)
    metrics = Trainer(quick(epochs=2), shifted, tmp_path / "r.pt", log=lambda s: None, graphs=False).run()
    assert metrics.train_accuracy.iloc[-1] > 0.3 and metrics.status.tolist() == ["ok", "diverged"]
    assert re.match(r"held-out accuracy 0\.\d+ is near chance \(0.1000\)$", metrics.note.iloc[-1])
    assert near_chance(0.14, 10) and not near_chance(0.15, 10) and near_chance(0.52, 2)


def record_epoch_streams(monkeypatch) -> list[tuple[int, int]]:
    """(seed of the batch-order generator, seed of torch's global generator) at each epoch's shuffle."""
    seen, randperm = [], torch.randperm

    def spy(n, *args, generator=None, **kwargs):
        seen.append((generator.initial_seed(), torch.initial_seed()))
        return randperm(n, *args, generator=generator, **kwargs)

    monkeypatch.setattr(torch, "randperm", spy)
    return seen


def test_batch_order_and_dropout_draw_from_independent_streams(data, tmp_path, monkeypatch):
    seen = record_epoch_streams(monkeypatch)
    Trainer(quick(epochs=2), data, tmp_path / "r.pt", log=lambda s: None, graphs=False).run()
    assert len(seen) == 2 and all(order != dropout for order, dropout in seen)
    assert len({seed for pair in seen for seed in pair}) == 4  # and no epoch repeats another's


def test_a_resumed_run_keeps_the_epoch_selected_before_the_kill(split_data, tmp_path, monkeypatch):
    config = quick(epochs=3)
    spy_on_evaluate(monkeypatch, split_data, fake_validation=[0.5, 0.9, 0.7])
    whole = Trainer(config, split_data, tmp_path / "whole.pt", log=lambda s: None, graphs=False)
    uninterrupted = whole.run()
    spy_on_evaluate(monkeypatch, split_data, fake_validation=[0.5, 0.9])
    run_killed_in_epoch(Trainer(config, split_data, tmp_path / "resume.pt", log=lambda s: None, graphs=False), 3, monkeypatch)
    spy_on_evaluate(monkeypatch, split_data, fake_validation=[0.7])
    resumed = Trainer(config, split_data, tmp_path / "resume.pt", log=lambda s: None, graphs=False)
    metrics = resumed.run()
    assert metrics.selected.tolist() == [False, True, False]  # epoch 2, chosen before the kill
    pd.testing.assert_frame_equal(uninterrupted.drop(columns=TIMING), metrics.drop(columns=TIMING))
    assert all(torch.equal(whole.model.state_dict()[k], v) for k, v in resumed.model.state_dict().items())


def test_without_a_validation_split_the_last_epoch_is_kept_and_the_test_set_decides_nothing(data, tmp_path):
    import dataclasses

    # test labels shifted by one class: the test accuracy is about 0, near chance; the run is fine
    shifted = dataclasses.replace(data, test_y=(data.test_y + 1) % 10)
    metrics = Trainer(quick(epochs=2), shifted, tmp_path / "r.pt", log=lambda s: None, graphs=False).run()
    assert metrics.selected.tolist() == [False, True] and metrics.test_accuracy.iloc[-1] < 0.1
    assert metrics.status.tolist() == ["ok", "ok"] and metrics.val_accuracy.isna().all()


def test_a_training_step_is_forward_loss_backward_update_and_nothing_else(split_data):
    # the step object hides only the device machinery: on a CPU it is the plain loop of
    # pytorch/examples' mnist/main.py, to the bit
    from mnistflow.models import build_model
    from mnistflow.train import TrainingStep, make_optimizer

    config = quick(optimizer="Adam", optimizer_kwargs={"lr": 0.01})
    torch.manual_seed(0)
    model = build_model(config.model)
    plain = build_model(config.model)
    plain.load_state_dict(model.state_dict())
    step = TrainingStep(config, model, split_data, graphs=True, log=lambda s: None)  # a CPU: no graph
    optimizer = make_optimizer(config.optimizer, plain.parameters(), config.optimizer_kwargs)
    for batch, index in enumerate(torch.arange(96).split(32)):
        torch.manual_seed(batch)  # the same dropout for both
        loss, hits = step.backward(index)
        step.update()
        torch.manual_seed(batch)
        optimizer.zero_grad()
        logits = plain(split_data.train_x[index])
        expected = torch.nn.functional.cross_entropy(logits, split_data.train_y[index])
        expected.backward()
        optimizer.step()
        assert loss.item() == expected.item() and hits.item() == (logits.argmax(1) == split_data.train_y[index]).sum()
    for name, value in plain.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)
    assert step.graph.replays == 0 and step.lr == 0.01
