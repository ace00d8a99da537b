import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mnistflow import rng
from mnistflow.datasets import DatasetSpec, read_raw, save_dataset
from mnistflow.gan import (
    GAN_NETWORKS,
    GanConfig,
    GanTrainer,
    build_gan,
    fresh_samples,
    load_generator,
    sample_grid,
    to_generator_range,
)
from mnistflow.gan_quality import (
    Scorer,
    class_entropy_bits,
    frechet_distance,
    gaussian,
    pixel_comparison,
    reference_statistics,
)
from mnistflow.animation import save_gif
from mnistflow.plots_gan import frame_images, gan_figures
from mnistflow.registry import GAN_FIGURES
from mnistflow.train import TensorData, TrainConfig, Trainer

SETTINGS = {"model": "cgan_mlp", "epochs": 2, "batch_size": 50, "seed": 3, "quality_samples": 200}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny dataset and a classifier trained on it (the scorer's checkpoint)."""
    from synthetic import write_dataset

    out = tmp_path_factory.mktemp("gan")
    written = write_dataset(out / "idx", n_train=200, n_test=100)
    torch.set_num_threads(1)
    dataset = read_raw(DatasetSpec.from_config("tiny", written["entry"]), out / "idx")
    save_dataset(out / "dataset.npz", dataset)
    config = TrainConfig(model="best", optimizer="Adam", optimizer_kwargs={"lr": 0.003}, epochs=2, batch_size=32)
    trainer = Trainer(config, TensorData.from_dataset(dataset), out / "r.pt", log=lambda s: None)
    trainer.save(out / "classifier.pt", trainer.run())
    return {"dir": out, "dataset": dataset, "scorer": Scorer(out / "classifier.pt")}


def test_real_images_are_scaled_to_the_generators_range():
    x = to_generator_range(np.array([[[0, 255], [127, 128]]], dtype=np.uint8))
    assert x.shape == (1, 1, 2, 2) and x.min() == -1.0 and x.max() == 1.0


@pytest.mark.parametrize("model", sorted(GAN_NETWORKS))
def test_generators_make_28x28_images_in_tanh_range(model):
    generator, discriminator = build_gan(GanConfig(model=model))
    labels = torch.arange(4)
    images = generator(torch.randn(4, 100), labels)
    assert images.shape == (4, 1, 28, 28) and images.abs().max() <= 1
    logit, class_logits = discriminator(images, labels)
    assert logit.shape == (4,) and class_logits is None


def test_frechet_distance_of_a_sample_with_itself_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 8))
    reference = gaussian(features)
    assert frechet_distance(*reference, *reference) == pytest.approx(0.0, abs=1e-6)
    distances = [frechet_distance(*gaussian(features + rng.normal(scale=s, size=features.shape)), *reference)
                 for s in (0.1, 0.5, 1.0)]
    assert 0 < distances[0] < distances[1] < distances[2]
    # a pure mean shift adds its squared length
    shifted = gaussian(features + 2.0)
    assert frechet_distance(*shifted, *reference) == pytest.approx(4.0 * 8, rel=1e-6)


def test_frechet_distance_of_known_gaussians_including_nearly_singular_ones():
    rng = np.random.default_rng(1)
    d = 64
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    a, b = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    a[:40], b[:40] = 1e-12, 0.0  # rank 24 of 64, as in features of few samples
    sigma1, sigma2 = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # commuting covariances: Tr((S1 S2)^(1/2)) = sum(sqrt(a b))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6)
    # the same singular Gaussian: exactly 0, never a small negative number
    assert frechet_distance(mu1, sigma1, mu1, sigma1) == 0.0
    assert frechet_distance(mu1, sigma2, mu1, sigma2) == 0.0
    # non-commuting 2x2: Tr(M^(1/2)) = sqrt(Tr M + 2 sqrt(det M)) for M = S1 S2
    for _ in range(5):
        x, y = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        s1, s2 = x @ x.T + 1e-9 * np.eye(2), y @ y.T
        product = s1 @ s2
        trace_sqrt = np.sqrt(np.trace(product) + 2 * np.sqrt(max(np.linalg.det(product), 0)))
        expected = np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
        assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(max(expected, 0), abs=1e-9)


def test_class_entropy():
    assert class_entropy_bits(np.arange(1000) % 10, 10) == pytest.approx(np.log2(10))
    assert class_entropy_bits(np.full(50, 3), 10) == 0.0


def test_conditional_accuracy_equals_a_direct_computation(setup):
    scorer = setup["scorer"]
    dataset = setup["dataset"]
    images01 = torch.from_numpy(dataset.test_images).float().unsqueeze(1) / 255.0
    intended = torch.from_numpy(dataset.test_labels.astype(np.int64))
    reference = reference_statistics(scorer, dataset.test_images)
    quality = scorer.quality(images01, intended, reference)
    with torch.no_grad():
        direct = scorer.model((images01 - scorer.pipeline.mean[0]) / scorer.pipeline.std[0]).argmax(1)
    assert quality["conditional_accuracy"] == pytest.approx((direct == intended).float().mean().item())
    # the real test images against their own statistics (100 points in 576 dimensions: a singular
    # covariance, so the matrix square root is only good to about 1e-3 of the trace)
    assert abs(quality["frechet_distance"]) < 1e-3 * np.trace(reference[1])
    features, _ = scorer.features_and_predictions(images01)
    assert features.shape == (100, 64 * 3 * 3)  # the input of the classifier's last linear layer


def trainer(setup, resume, **overrides):
    dataset = setup["dataset"]
    return GanTrainer(GanConfig(**dict(SETTINGS, **overrides)), dataset.train_images, dataset.train_labels, resume,
                      setup["scorer"], reference_statistics(setup["scorer"], dataset.test_images),
                      log=lambda s: None)


def test_resume_continues_to_the_same_state(setup, tmp_path):
    whole = trainer(setup, tmp_path / "a.pt")
    whole.run()
    partial = trainer(setup, tmp_path / "b.pt", epochs=1)
    partial.run()  # a run killed after epoch 1 leaves this resume file
    state = torch.load(tmp_path / "b.pt", weights_only=False)
    state["config"]["epochs"] = 2
    torch.save(state, tmp_path / "b.pt")
    resumed = trainer(setup, tmp_path / "b.pt")
    resumed.run()
    for a, b in zip(whole.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    assert [r["epoch"] for r in resumed.losses] == [1, 2]
    assert pd.DataFrame(resumed.losses).drop(columns="seconds").equals(pd.DataFrame(whole.losses).drop(columns="seconds"))
    assert len(resumed.frames) == 2 and np.array_equal(resumed.frames[-1], whole.frames[-1])


def test_a_trained_gan_gives_its_tables_checkpoint_samples_and_figures(setup, tmp_path):
    """What rule gan_train then rules gan_samples and plot_gan make of a trained GAN."""
    d, dataset = setup["dir"], setup["dataset"]
    gan = trainer(setup, tmp_path / "resume.pt", model="dcgan")
    gan.run()
    quality = gan.quality_table(final_samples=300)
    assert quality.epoch.astype(str).tolist() == ["1", "2", "final", "real data"]
    assert quality.samples.tolist() == [200, 200, 300, 200]  # the real-data floor: every training image here
    assert quality.conditional_accuracy.between(0, 1).all() and (quality.frechet_distance > 0).all()
    assert set(quality.classifier) == {str(d / "classifier.pt")}
    gan.save(tmp_path / "generator.pt")
    generator, state = load_generator(tmp_path / "generator.pt")
    assert state["config"]["model"] == "dcgan" and not generator.training

    samples01 = fresh_samples(generator, 10, state["config"]["noise_dim"], per_class=20, seed=0)
    assert samples01.shape == (10, 20, 28, 28) and samples01.min() >= 0 and samples01.max() <= 1
    assert np.array_equal(samples01, fresh_samples(generator, 10, state["config"]["noise_dim"], 20, seed=0))
    frames = gan.frame_arrays()
    save_gif(frame_images(frames["frames"], frames["epochs"]), tmp_path / "samples.gif")
    with Image.open(tmp_path / "samples.gif") as gif:
        assert gif.n_frames == 2
    comparison = pixel_comparison(samples01, dataset.test_images, dataset.test_labels, per_class=20)
    real_sevens = dataset.test_images[dataset.test_labels == 7][:20].ravel() / 255.0
    assert comparison["real_counts"][7].tolist() == np.histogram(real_sevens, bins=32, range=(0, 1))[0].tolist()
    assert comparison["generated_counts"].sum(axis=1).tolist() == [20 * 28 * 28] * 10
    fresh = dict(comparison, classes=np.array(dataset.classes), grid=samples01[:, :10])
    figures = gan_figures(gan.losses_table(), quality, fresh, "dcgan")
    assert list(figures) == list(GAN_FIGURES)
    for name, figure in figures.items():
        figure.savefig(tmp_path / f"{name}.png")
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.format == "PNG"


def test_real_data_floor_scores_real_training_images_as_samples_are_scored(setup, tmp_path):
    gan = trainer(setup, tmp_path / "r.pt")
    floor = gan.real_data_score(150)
    dataset, scorer = setup["dataset"], setup["scorer"]
    index = torch.randperm(200, generator=rng.generator(SETTINGS["seed"], "real_subset"))[:150].numpy()
    images01 = torch.from_numpy(dataset.train_images[index]).float().unsqueeze(1) / 255.0
    expected = scorer.quality(images01, torch.from_numpy(dataset.train_labels[index]), gan.reference)
    assert floor == pytest.approx(expected)
    assert floor["samples"] == 150 and floor["conditional_accuracy"] > 0.9  # the classifier on its training images


def test_an_auxiliary_classifier_needs_a_discriminator_that_does_not_see_the_label():
    with pytest.raises(ValueError, match="an auxiliary classifier needs conditioning 'projection'"):
        build_gan(GanConfig(class_loss_weight=1.0))
    with pytest.raises(ValueError, match="unknown conditioning 'sum'; choose one of concat, projection"):
        build_gan(GanConfig(conditioning="sum"))


@pytest.mark.parametrize("model", sorted(GAN_NETWORKS))
def test_projection_discriminator_reads_the_label_only_through_its_embedding(model):
    """Its class logits do not depend on the label given, and its real/fake logit depends on it
    only through <embedding(label), features>."""
    torch.manual_seed(0)
    _, discriminator = build_gan(GanConfig(model=model, conditioning="projection", class_loss_weight=1.0))
    discriminator.eval()
    images = torch.rand(6, 1, 28, 28) * 2 - 1
    ones, sevens = torch.ones(6, dtype=torch.long), torch.full((6,), 7)
    with torch.no_grad():
        logit_1, classes_1 = discriminator(images, ones)
        logit_7, classes_7 = discriminator(images, sevens)
        features = discriminator.net(images if model == "dcgan" else images.flatten(1))
        embedding = discriminator.heads.embedding.weight
    assert classes_1.shape == (6, 10) and torch.equal(classes_1, classes_7)
    assert torch.allclose(logit_7 - logit_1, features @ (embedding[7] - embedding[1]), atol=1e-5)


def test_the_article_recipe_keeps_the_article_discriminator():
    _, discriminator = build_gan(GanConfig(model="cgan_mlp"))
    shapes = [tuple(p.shape) for p in discriminator.parameters()]
    assert shapes == [(1024, 794), (1024,), (512, 1024), (512,), (256, 512), (256,), (1, 256), (1,)]


def test_auxiliary_class_loss_is_trained_and_recorded(setup, tmp_path):
    gan = trainer(setup, tmp_path / "r.pt", epochs=1, conditioning="projection", class_loss_weight=1.0)
    gan.run()
    row = gan.losses[0]
    assert row["discriminator_class_loss"] > 0 and row["generator_class_loss"] > 0
    plain = trainer(setup, tmp_path / "p.pt", epochs=1)
    plain.run()
    assert plain.losses[0]["discriminator_class_loss"] == 0 and plain.losses[0]["generator_class_loss"] == 0


def test_samples_come_from_the_moving_average_of_the_generator(setup, tmp_path):
    gan = trainer(setup, tmp_path / "r.pt", epochs=1, generator_ema=0.9)
    assert gan.sampler is not gan.generator
    gan.run()
    before = [p.clone() for p in gan.sampler.parameters()]
    with torch.no_grad():
        for p in gan.generator.parameters():
            p.add_(1.0)
    gan.update_sampler()
    for average, old, new in zip(gan.sampler.parameters(), before, gan.generator.parameters()):
        assert torch.allclose(average, 0.9 * old + 0.1 * new, atol=1e-6)
    gan.save(tmp_path / "g.pt")
    loaded, _ = load_generator(tmp_path / "g.pt")
    for a, b in zip(loaded.parameters(), gan.sampler.parameters()):
        assert torch.equal(a, b)
    plain = trainer(setup, tmp_path / "p.pt")
    assert plain.sampler is plain.generator  # the article's: samples from the trained generator


def test_a_diverged_classifier_cannot_score_samples_nor_be_transferred_from(setup, tmp_path):
    from mnistflow.transfer import checkpoint_source

    state = torch.load(setup["dir"] / "classifier.pt", weights_only=False)
    state["status"] = "diverged"
    torch.save(state, tmp_path / "diverged.pt")
    with pytest.raises(ValueError, match=f"{tmp_path / 'diverged.pt'}: that training run diverged .*; it cannot "
                                         "score GAN samples"):
        Scorer(tmp_path / "diverged.pt")
    with pytest.raises(ValueError, match="that training run diverged .*; it cannot be transferred from"):
        checkpoint_source("tiny", tmp_path / "diverged.pt")
    assert Scorer(setup["dir"] / "classifier.pt").classes == 10  # a converged one is fine


def test_a_gan_resume_file_is_not_reused_once_its_classifier_changed(setup, tmp_path):
    import shutil

    shutil.copy(setup["dir"] / "classifier.pt", tmp_path / "classifier.pt")
    dataset = setup["dataset"]

    def gan(epochs, lines):
        scorer = Scorer(tmp_path / "classifier.pt")
        return GanTrainer(GanConfig(**dict(SETTINGS, epochs=epochs)), dataset.train_images, dataset.train_labels,
                          tmp_path / "resume.pt", scorer, reference_statistics(scorer, dataset.test_images),
                          log=lines.append)

    gan(1, []).run()  # killed after epoch 1: its resume file stays
    state = torch.load(tmp_path / "resume.pt", weights_only=False)
    state["config"]["epochs"] = 2
    torch.save(state, tmp_path / "resume.pt")
    checkpoint = torch.load(tmp_path / "classifier.pt", weights_only=False)
    first = next(iter(checkpoint["model"]))
    checkpoint["model"][first] = checkpoint["model"][first] + 0.01  # the classifier was retrained
    checkpoint["metrics"] = checkpoint["metrics"] + [{"seconds": 1.0}]
    torch.save(checkpoint, tmp_path / "classifier.pt")
    lines = []
    resumed = gan(2, lines)
    resumed.run()
    assert (f"ignoring {tmp_path / 'resume.pt'}, starting afresh: it was written for other inputs "
            "(classifier changed)") in lines
    assert [row["epoch"] for row in resumed.losses] == [1, 2]


def test_a_gan_resume_file_survives_a_classifier_file_that_differs_only_in_wall_times(setup, tmp_path):
    """The same classifier trained again (on a cluster, say) differs in its timing fields only."""
    checkpoint = torch.load(setup["dir"] / "classifier.pt", weights_only=False)
    torch.save(checkpoint, tmp_path / "a.pt")
    checkpoint["metrics"] = [dict(row, seconds=row["seconds"] + 1) for row in checkpoint["metrics"]]
    torch.save(checkpoint, tmp_path / "b.pt")
    dataset = setup["dataset"]
    digests = [GanTrainer(GanConfig(**SETTINGS), dataset.train_images, dataset.train_labels, tmp_path / "r.pt",
                          Scorer(path), None, log=lambda s: None).inputs for path in (tmp_path / "a.pt", tmp_path / "b.pt")]
    assert digests[0] == digests[1]


def test_sample_grid_puts_a_class_per_row():
    samples = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, -1.0, 1.0, 1.0)])
    grid = sample_grid(samples, rows=2)
    assert grid.shape == (4, 4) and grid[:2].max() == 0 and grid[2:].min() == 255


def test_batch_order_noise_and_dropout_draw_from_independent_streams(setup, tmp_path, monkeypatch):
    from test_train import record_epoch_streams

    seen = record_epoch_streams(monkeypatch)
    trainer(setup, tmp_path / "r.pt").run()
    assert seen and all(order != dropout for order, dropout in seen)
