import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from mnistflow import introspect
from mnistflow.datasets import DatasetSpec, read_raw
from mnistflow.atomic import load_arrays
from mnistflow.introspect import Recorder, histogram, weight_edges
from mnistflow.models import build_model
from mnistflow.animation import save_contact_sheet, save_gif
from mnistflow import atomic
from mnistflow.checkpoint import InputPipeline, load_checkpoint
from mnistflow.predictions import Predictions
from mnistflow.plots_introspect import (
    HIDDEN_LAYER_FIGURES,
    gradient_flow,
    gradient_frames,
    gradient_norms,
    hidden_layer_figure,
    weight_bands,
    weight_frames,
)
from mnistflow import rng
from mnistflow.train import TensorData, Trainer

from conftest import train_recipe

CONFIG = train_recipe(model="best", optimizer="SGD", optimizer_kwargs={"lr": 0.05, "momentum": 0.9},
                     epochs=2, batch_size=32, seed=5)
RECORDING = {"per_epoch": 4, "weight_bins": 20, "gradient_bins": 28}


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    from synthetic import write_dataset

    directory = tmp_path_factory.mktemp("introspect") / "idx"
    written = write_dataset(directory, n_train=256, n_test=100)
    torch.set_num_threads(1)
    dataset = read_raw(DatasetSpec.from_config("tiny", written["entry"]), directory)
    return dataset


@pytest.fixture(scope="module")
def recorded(dataset_files, tmp_path_factory):
    """A two-epoch run of the best model with recording, its dumps and checkpoint."""
    out = tmp_path_factory.mktemp("recorded")
    data = TensorData.for_run(dataset_files, CONFIG)
    trainer = Trainer(CONFIG, data, out / "resume.pt", log=lambda s: None, recording=RECORDING, graphs=False)
    metrics = trainer.run()
    atomic.save_npz_compressed(out / "weights.npz", **trainer.recorder.weight_arrays())
    atomic.save_npz_compressed(out / "gradients.npz", **trainer.recorder.gradient_arrays())
    trainer.save(out / "model.pt", metrics)
    from mnistflow.datasets import save_dataset

    save_dataset(out / "dataset.npz", dataset_files)
    return {"dir": out, "data": data, "trainer": trainer, "weights": load_arrays(out / "weights.npz"),
            "gradients": load_arrays(out / "gradients.npz")}


def test_dumps_have_one_entry_per_recorded_step_and_tensor(recorded):
    model = build_model("best")
    names = [name for name, _ in model.named_parameters()]
    sizes = [p.numel() for p in model.parameters()]
    steps_per_epoch = 256 // 32  # 8 batches, every 2nd recorded
    expected_steps = [0, 2, 4, 6, 8, 10, 12, 14]
    for dump in (recorded["weights"], recorded["gradients"]):
        assert list(dump["names"]) == names and list(dump["sizes"]) == sizes
        assert list(dump["step"]) == expected_steps
        assert dump["epoch"] == pytest.approx([s / steps_per_epoch for s in expected_steps])
        assert dump["counts"].shape[:2] == (len(expected_steps), len(names))
        # every value counted exactly once, also those outside the fixed range
        assert (dump["counts"].sum(axis=2) == np.array(sizes)).all()
    weights = recorded["weights"]
    assert weights["counts"].shape[2] == 20 and weights["edges"].shape == (len(names), 21)
    assert weights["percentiles"].shape == (8, len(names), 9)
    assert recorded["gradients"]["counts"].shape[2] == 28


def test_recorded_gradient_equals_a_direct_computation_on_the_first_batch(recorded):
    """Rebuild the model with the run's seed, take epoch 1's first batch and compare."""
    data = recorded["data"]
    rng.seed_global(CONFIG.seed, "init")
    model = build_model("best")
    model.train()
    order = torch.randperm(len(data.train_y), generator=rng.generator(CONFIG.seed, "order", 1))
    index = order[:CONFIG.batch_size]
    F.cross_entropy(model(data.train_x[index]), data.train_y[index]).backward()
    gradients, weights = recorded["gradients"], recorded["weights"]
    for t, (name, p) in enumerate(model.named_parameters()):
        assert gradients["mean_abs"][0, t] == pytest.approx(p.grad.abs().mean().item(), rel=1e-5), name
        assert gradients["max_abs"][0, t] == pytest.approx(p.grad.abs().max().item(), rel=1e-5), name
        assert gradients["l2"][0, t] == pytest.approx(p.grad.norm().item(), rel=1e-5), name
        assert weights["mean"][0, t] == pytest.approx(p.mean().item(), abs=1e-7), name
        expected = np.percentile(p.detach().numpy().ravel(), introspect.PERCENTILES)
        assert weights["percentiles"][0, t] == pytest.approx(expected, abs=1e-6), name


def test_histogram_puts_out_of_range_values_in_the_end_bins():
    edges = np.linspace(-1, 1, 5)
    counts = histogram(torch.tensor([-5.0, -0.9, 0.1, 0.2, 0.99, 7.0]), edges)
    assert counts.tolist() == [2, 0, 2, 2]
    assert weight_edges(torch.ones(8), 4)[[0, -1]].tolist() == [0.0, 2.0]
    assert weight_edges(torch.zeros(8), 4)[[0, -1]].tolist() == [-0.5, 0.5]
    assert weight_edges(torch.tensor([-0.1, 0.1]), 4)[[0, -1]] == pytest.approx([-1.0, 1.0])


def test_recording_does_not_change_training(recorded, tmp_path):
    plain = Trainer(CONFIG, recorded["data"], tmp_path / "resume.pt", log=lambda s: None, graphs=False).run()
    with_recording = pd.DataFrame(recorded["trainer"].metrics)
    columns = ["train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"]
    pd.testing.assert_frame_equal(plain[columns], with_recording.reindex(columns=columns))


def test_resume_keeps_the_recording(recorded, tmp_path):
    data = recorded["data"]
    resume = tmp_path / "resume.pt"
    one_epoch = Trainer(CONFIG, data, resume, log=lambda s: None, recording=RECORDING, graphs=False)
    one_epoch.train_epoch(1)
    one_epoch.metrics.append({"epoch": 1})
    one_epoch._save_resume(1)
    resumed = Trainer(CONFIG, data, resume, log=lambda s: None, recording=RECORDING, graphs=False)
    resumed.run()
    assert [r["step"] for r in resumed.recorder.rows] == list(recorded["weights"]["step"])
    assert np.array([r["mean_abs_gradient"] for r in resumed.recorder.rows]) == pytest.approx(
        recorded["gradients"]["mean_abs"], rel=1e-6)


def test_gif_has_one_frame_per_recorded_step_and_a_contact_sheet(recorded, tmp_path):
    paths = {name: tmp_path / name for name in ("w.gif", "w.png", "bands.png", "flow.png", "norms.png",
                                                "g.gif", "g.png")}
    weights, gradients = recorded["weights"], recorded["gradients"]
    for frames, gif in ((weight_frames(weights), "w.gif"), (gradient_frames(gradients), "g.gif")):
        save_gif(frames, paths[gif])
        save_contact_sheet(frames, paths[gif.replace("gif", "png")])
    atomic.save_figure(paths["bands.png"], weight_bands(weights))
    atomic.save_figure(paths["flow.png"], gradient_flow(gradients))
    atomic.save_figure(paths["norms.png"], gradient_norms(gradients))
    for gif in ("w.gif", "g.gif"):
        with Image.open(paths[gif]) as image:
            assert image.format == "GIF" and image.n_frames == 8
            width, height = image.size
        with Image.open(paths[gif.replace("gif", "png")]) as sheet:
            assert sheet.size == (3 * width, height)
    for name in ("bands.png", "flow.png", "norms.png"):
        with Image.open(paths[name]) as image:
            assert image.format == "PNG" and image.size[0] > 200


def test_frames_share_their_axes(recorded):
    frames = weight_frames(recorded["weights"])
    assert len(frames) == 8 and len({f.size for f in frames}) == 1
    assert len(gradient_frames(recorded["gradients"])) == 8


def test_save_gif_round_trips_frames(tmp_path):
    frames = []
    for i in range(5):  # a white square moving right
        frame = Image.new("RGB", (10, 6), (0, 0, 80))
        frame.paste((255, 255, 255), (i, 1, i + 3, 4))
        frames.append(frame)
    save_gif(frames, tmp_path / "a.gif")
    save_contact_sheet(frames, tmp_path / "a.png")
    with Image.open(tmp_path / "a.gif") as image:
        assert image.n_frames == 5
        image.seek(3)
        assert image.convert("RGB").getpixel((4, 2)) == (255, 255, 255)
        assert image.convert("RGB").getpixel((1, 2)) == (0, 0, 80)
    with Image.open(tmp_path / "a.png") as sheet:
        assert sheet.size == (30, 6) and sheet.getpixel((20 + 4, 2)) == (255, 255, 255)


def test_feature_maps_have_each_convolutions_shape(recorded):
    model = recorded["trainer"].model
    maps = introspect.feature_maps(model, recorded["data"].test_x[:3])
    assert {name: m.shape for name, m in maps.items()} == {
        "features.0.0": (3, 16, 28, 28), "features.1.0": (3, 32, 14, 14), "features.2.0": (3, 64, 7, 7)}
    second = build_model("second")
    shapes = {n: m.shape for n, m in introspect.feature_maps(second, torch.zeros(2, 1, 28, 28)).items()}
    assert shapes == {"conv1": (2, 32, 26, 26), "conv2": (2, 64, 24, 24)}


def test_saliency_equals_autograd(recorded):
    model = recorded["trainer"].model.eval()
    x, y = recorded["data"].test_x[:5], recorded["data"].test_y[:5]
    got = introspect.saliency(model, x, y)
    for i in range(5):
        xi = x[i:i + 1].clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(model(xi)[0, y[i]], xi)
        assert torch.allclose(got[i:i + 1], expected, atol=1e-6)


def test_class_saliency_averages_correct_images_only(recorded):
    model = recorded["trainer"].model.eval()
    x, y = recorded["data"].test_x, recorded["data"].test_y
    mean, counts = introspect.class_saliency(model, x, y, 10, batch_size=33)
    with torch.no_grad():
        right = model(x).argmax(1) == y
    assert counts.tolist() == torch.bincount(y[right], minlength=10).tolist()
    c = int(np.argmax(counts))
    keep = right & (y == c)
    direct = introspect.saliency(model, x[keep], y[keep])[:, 0].mean(0).numpy()
    assert mean[c] == pytest.approx(direct, abs=1e-6)


def test_confident_mistakes_are_wrong_and_sorted(recorded):
    model = recorded["trainer"].model.eval()
    x, y = recorded["data"].test_x, recorded["data"].test_y
    index, predicted, confidence = introspect.confident_mistakes(model, x, y, n=5)
    assert (predicted != y[index].numpy()).all()
    assert list(confidence) == sorted(confidence, reverse=True)


def test_hidden_layers_are_computed_once_saved_and_drawn(recorded, tmp_path, dataset_files):
    model, state = load_checkpoint(recorded["dir"] / "model.pt")
    dataset = dataset_files
    layers = introspect.hidden_layers(model, InputPipeline.from_checkpoint(state), dataset.test_images,
                                      dataset.test_labels, state["classes"], mistakes=4)
    x, y = recorded["data"].test_x, recorded["data"].test_y
    wrong, predicted, confidence = introspect.confident_mistakes(model, x, y, 4)
    assert np.array_equal(layers.mistake_index, wrong) and np.array_equal(layers.mistake_predicted, predicted)
    assert np.array_equal(layers.mistake_images, dataset.test_images[wrong])
    assert list(layers.feature_maps) == ["features.0.0", "features.1.0", "features.2.0"]
    assert layers.feature_maps["features.0.0"].shape == (10, 16, 28, 28)
    layers.save(tmp_path / "hidden_layers.npz")
    loaded = introspect.HiddenLayers.load(tmp_path / "hidden_layers.npz")
    for name in ("filters", "linear_weights", "feature_maps"):  # every layer, in the model's order
        assert list(getattr(loaded, name)) == list(getattr(layers, name))
        for layer, array in getattr(layers, name).items():
            assert np.array_equal(getattr(loaded, name)[layer], array)
    assert np.array_equal(loaded.class_saliency, layers.class_saliency)
    assert list(loaded.classes) == list(state["classes"])
    outputs = {figure: tmp_path / f"{figure}.png" for figure in HIDDEN_LAYER_FIGURES}
    for figure, path in outputs.items():
        atomic.save_figure(path, hidden_layer_figure(figure, loaded, 8))
    for path in outputs.values():
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 50


def test_filters_figure_covers_every_convolution():
    from mnistflow.plots_introspect import filters

    model = build_model("second")
    conv = {n: m.weight.detach().numpy() for n, m in introspect.layers_of(model, torch.nn.Conv2d)}
    fig = filters(conv)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["conv1: 32x1x3x3", "conv2: 64x32x3x3"]
    # conv2's panel holds all 64 x 32 kernels, not conv1's again (the article's bug)
    assert fig.axes[1].images[0].get_array().shape == (64 * 4 - 1, 32 * 4 - 1)


@pytest.mark.parametrize("steps_per_epoch, recorded", [(430, 20), (94, 20), (20, 20), (7, 7)])
def test_the_recorder_records_exactly_per_epoch_steps_evenly_spread(steps_per_epoch, recorded):
    recorder = Recorder(build_model("first"), steps_per_epoch=steps_per_epoch, per_epoch=20)
    due = [step for step in range(steps_per_epoch) if recorder.due(step)]
    assert len(due) == recorded and due[0] == 0  # 430 // 20 = 21 steps apart recorded 21
    assert max(np.diff(due), default=1) - min(np.diff(due), default=1) <= 1


def test_recorder_state_must_match_the_model():
    model = build_model("best")
    recorder = Recorder(model, steps_per_epoch=10, per_epoch=5)
    other = Recorder(build_model("lenet"), steps_per_epoch=10, per_epoch=5)
    with pytest.raises(ValueError, match="another model"):
        recorder.load_state_dict(other.state_dict())


def test_predictions_of_every_test_image_are_saved_and_read_back(recorded, tmp_path, dataset_files):
    model, state = load_checkpoint(recorded["dir"] / "model.pt")
    dataset = dataset_files
    predictions = introspect.test_predictions(model, InputPipeline.from_checkpoint(state), dataset.test_images,
                                              dataset.test_labels, "recorded")
    x = recorded["data"].test_x
    with torch.no_grad():
        probabilities = F.softmax(model.eval()(x).double(), 1).numpy()
    assert np.array_equal(predictions.predicted, probabilities.argmax(1))
    assert predictions.confidence == pytest.approx(probabilities.max(1), abs=1e-5)
    assert predictions.accuracy == pytest.approx(np.mean(probabilities.argmax(1) == dataset.test_labels))
    assert np.array_equal(predictions.wrong, np.flatnonzero(probabilities.argmax(1) != dataset.test_labels))
    predictions.save(tmp_path / "test_predictions.npz")
    loaded = Predictions.load(tmp_path / "test_predictions.npz")
    assert loaded.run == "recorded"
    for name in ("labels", "predicted", "confidence"):
        assert np.array_equal(getattr(loaded, name), getattr(predictions, name))


def test_confidence_of_huge_logits_is_exact():
    # logits of 1e4: a softmax by exp overflows to inf/inf = nan; exp of the log-softmax does not
    model = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1e4, 0.0], [0.0, 1e4], [0.0, 0.0]]))
    predicted, confidence = introspect.predict(model, torch.tensor([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]))
    assert predicted.tolist() == [0, 0, 2]
    assert confidence.tolist() == pytest.approx([1.0, 0.5, 1.0])


def test_predictions_of_a_model_with_non_finite_output_are_refused():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"run 'broken': its model's output is not finite for 2 of 2 test images; "
                                         r"retrain it, or choose another run \(train.best_run\)"):
        introspect.test_predictions(model, lambda images: images.float(), np.zeros((2, 2, 2), dtype=np.uint8),
                                    np.array([0, 1]), "broken")
