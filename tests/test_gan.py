import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mnistflow import rng
from mnistflow.datasets import DatasetSpec, read_raw, save_dataset
from mnistflow.gan import (
    GAN_NETWORKS,
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
    class_frequencies,
    class_labels,
    class_weights,
    frechet_distance,
    gaussian,
    pixel_comparison,
    reference_statistics,
    scoring_reference,
)
from mnistflow.animation import save_gif
from mnistflow.plots_gan import frame_images, gan_figures
from mnistflow.registry import GAN_FIGURES
from mnistflow.train import TensorData, Trainer

from conftest import train_recipe, gan_recipe

SETTINGS = {"model": "cgan_mlp", "epochs": 2, "batch_size": 50, "seed": 3, "quality_samples": 200}


def trained_classifier(out, n_train: int, n_test: int, validation: int) -> dict:
    """A tiny dataset and a classifier trained on its first ``n_train - validation`` training
    images (the scorer's checkpoint), as train.best_run's is."""
    from synthetic import write_dataset

    written = write_dataset(out / "idx", n_train=n_train, n_test=n_test)
    torch.set_num_threads(1)
    dataset = read_raw(DatasetSpec.from_config("tiny", written["entry"]), out / "idx")
    save_dataset(out / "dataset.npz", dataset)
    config = train_recipe(model="best", optimizer="Adam", optimizer_kwargs={"lr": 0.003}, epochs=2, batch_size=32,
                         validation=validation)
    trainer = Trainer(config, TensorData.for_run(dataset, config), out / "r.pt", log=lambda s: None, graphs=False)
    trainer.save(out / "classifier.pt", trainer.run())
    return {"dir": out, "dataset": dataset, "scorer": Scorer(out / "classifier.pt")}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return trained_classifier(tmp_path_factory.mktemp("gan"), n_train=200, n_test=100, validation=40)


def test_real_images_are_scaled_to_the_generators_range():
    x = to_generator_range(np.array([[[0, 255], [127, 128]]], dtype=np.uint8))
    assert x.shape == (1, 1, 2, 2) and x.min() == -1.0 and x.max() == 1.0


@pytest.mark.parametrize("model", sorted(GAN_NETWORKS))
def test_generators_make_28x28_images_in_tanh_range(model):
    generator, discriminator = build_gan(gan_recipe(model=model))
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
    config = gan_recipe(**dict(SETTINGS, **overrides))
    return GanTrainer(config, dataset.train_images, dataset.train_labels, resume, setup["scorer"],
                      scoring_reference(setup["scorer"], dataset, config.train_subset), log=lambda s: None, graphs=False)


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
    quality = gan.quality_table()
    assert quality.epoch.astype(str).tolist() == ["1", "2", "final", "real data"]
    assert quality.samples.tolist() == [200, 200, 200, 100]  # the real-data floor: every test image here
    assert quality.iloc[2, 1:].tolist() == quality.iloc[1, 1:].tolist()  # the final row: the last epoch's
    assert quality.conditional_accuracy.between(0, 1).all() and (quality.frechet_distance > 0).all()
    assert set(quality.classifier) == {str(d / "classifier.pt")}
    gan.save(tmp_path / "generator.pt")
    generator, state = load_generator(tmp_path / "generator.pt")
    assert state["config"]["model"] == "dcgan" and not generator.training

    samples01 = fresh_samples(generator, range(10), state["config"]["noise_dim"], per_class=20, seed=0)
    assert samples01.shape == (10, 20, 28, 28) and samples01.min() >= 0 and samples01.max() <= 1
    assert np.array_equal(samples01, fresh_samples(generator, range(10), state["config"]["noise_dim"], 20, seed=0))
    frames = gan.frame_arrays()
    save_gif(frame_images(frames["frames"], frames["epochs"]), tmp_path / "samples.gif")
    with Image.open(tmp_path / "samples.gif") as gif:
        assert gif.n_frames == 2
    comparison = pixel_comparison(samples01, range(10), dataset.test_images, dataset.test_labels, per_class=20)
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


def test_real_data_floor_scores_images_the_classifier_never_trained_on_as_samples_are_scored(setup, tmp_path):
    gan = trainer(setup, tmp_path / "r.pt")
    floor = gan.real_data_score(80)
    dataset, scorer = setup["dataset"], setup["scorer"]
    index = np.sort(torch.randperm(100, generator=rng.generator(SETTINGS["seed"], "real_subset"))[:80].numpy())
    images, labels = dataset.test_images[index], dataset.test_labels[index].astype(np.int64)
    # the classifier trained on the first 160 of the 200 training images: none of them is in the floor
    trained_on = {image.tobytes() for image in dataset.train_images[:160]}
    assert not trained_on & {image.tobytes() for image in images}
    weights = class_weights(labels, gan.frequencies)
    expected = scorer.quality(torch.from_numpy(images).float().unsqueeze(1) / 255.0, torch.from_numpy(labels),
                              gan.reference.statistics, weights)
    assert floor == pytest.approx(expected)
    # its accuracy: the classifier's on those unseen digits (weighted to the training images' classes)
    _, predicted = scorer.features_and_predictions(torch.from_numpy(images).float().unsqueeze(1) / 255.0)
    assert floor["conditional_accuracy"] == pytest.approx(np.average(predicted == labels, weights=weights))
    assert floor["samples"] == 80
    # the floor's weighted class frequencies are the training images', as the samples' are
    assert np.bincount(labels, weights=weights, minlength=10) / weights.sum() == pytest.approx(gan.frequencies)


def test_the_scoring_reference_is_the_training_images_the_classifier_held_out(setup):
    dataset, scorer = setup["dataset"], setup["scorer"]
    assert scorer.held_out(200).tolist() == list(range(160, 200))
    reference = scoring_reference(scorer, dataset)
    held_out_labels = dataset.train_labels[160:]
    # the GAN trains on the 160 before them only: never on the images it is scored against
    assert reference.training_images == 160 and scoring_reference(scorer, dataset, 100).training_images == 100
    gan = GanTrainer(gan_recipe(**SETTINGS), dataset.train_images, dataset.train_labels, setup["dir"] / "r.pt", scorer,
                     reference, log=lambda s: None, graphs=False)
    assert len(gan.real) == 160
    frequencies = class_frequencies(dataset.train_labels[:160], 10)
    assert reference.frequencies == pytest.approx(frequencies) and reference.reference_images == 40
    weights = class_weights(held_out_labels, frequencies)
    features, _ = scorer.features_and_predictions(torch.from_numpy(dataset.train_images[160:]).float().unsqueeze(1) / 255)
    assert reference.mu == pytest.approx(np.average(features, axis=0, weights=weights), rel=1e-5, abs=1e-6)
    test_features, _ = scorer.features_and_predictions(torch.from_numpy(dataset.test_images).float().unsqueeze(1) / 255)
    assert not np.allclose(reference.mu, test_features.mean(axis=0), rtol=1e-3)  # never the test images
    # the floor's pool: the test images, which the classifier never trained on either
    assert np.array_equal(reference.floor_images, dataset.test_images)


def test_a_classifier_that_held_nothing_out_cannot_give_a_scoring_reference(setup, tmp_path):
    state = torch.load(setup["dir"] / "classifier.pt", weights_only=False)
    state["config"]["validation"] = 0
    torch.save(state, tmp_path / "all.pt")
    with pytest.raises(ValueError, match="trained on every training image .*held out"):
        scoring_reference(Scorer(tmp_path / "all.pt"), setup["dataset"])
    state["config"].update(validation=10, train_subset=150)  # 140 trained on: 140-199 never
    torch.save(state, tmp_path / "subset.pt")
    assert Scorer(tmp_path / "subset.pt").held_out(200).tolist() == list(range(140, 200))


def test_samples_are_generated_with_the_training_images_class_frequencies(setup, tmp_path):
    gan = trainer(setup, tmp_path / "r.pt")
    dataset = setup["dataset"]
    frequencies = np.bincount(dataset.train_labels[:160], minlength=10) / 160  # short of the 40 held out
    assert frequencies.max() - frequencies.min() > 0.05  # not uniform: uniform samples would not match
    _, labels = gan.samples(1000, torch.Generator().manual_seed(0))
    assert np.bincount(labels.numpy(), minlength=10) / 1000 == pytest.approx(frequencies, abs=1 / 1000)
    assert gan.reference.frequencies == pytest.approx(frequencies)
    # largest remainders: the counts sum to n, each within one of n * frequency
    counts = np.bincount(class_labels(np.array([0.5, 0.25, 0.25]) - [0, 1e-9, -1e-9], 7), minlength=3)
    assert counts.sum() == 7 and (np.abs(counts - 7 * np.array([0.5, 0.25, 0.25])) < 1).all()


def test_class_weights_need_every_class_among_the_real_images():
    with pytest.raises(ValueError, match="no real image of class 2"):
        class_weights(np.array([0, 1, 1]), np.array([0.4, 0.4, 0.2]))
    weights = class_weights(np.array([0, 1, 1, 1]), np.array([0.5, 0.5]))
    assert weights.tolist() == pytest.approx([2.0, 2 / 3, 2 / 3, 2 / 3])


@pytest.fixture(scope="module")
def larger(tmp_path_factory):
    """Enough images to see the Fréchet distance's sample-size bias: 1,200 training images (300
    held out of the classifier's) and 1,000 test images."""
    return trained_classifier(tmp_path_factory.mktemp("gan-larger"), n_train=1200, n_test=1000, validation=300)


class RealImages(torch.nn.Module):
    """A perfect generator: real images of the class asked for, each once, from a pool drawn as
    the dataset's are (the same distribution as the held-out and the test images)."""

    def __init__(self, n: int, seed: int):
        from synthetic import make_split

        super().__init__()
        images, labels = make_split(n, np.random.default_rng(seed))
        self.by_class = [to_generator_range(images[labels == c]) for c in range(10)]
        self.used = [0] * 10

    def forward(self, z, labels):
        out = torch.empty(len(labels), 1, 28, 28)
        for i, c in enumerate(labels.tolist()):
            out[i] = self.by_class[c][self.used[c]]
            self.used[c] += 1
        return out


def test_at_equal_distributions_the_epoch_final_and_floor_points_agree(larger, tmp_path):
    """A generator that makes real images scores as the real-data floor does: every point of the
    chart on one sample size. At a quarter of it the same generator scores far worse (the
    Fréchet distance's small-sample bias), as per-epoch points on fewer samples used to."""
    dataset = larger["dataset"]
    config = gan_recipe(**dict(SETTINGS, quality_samples=1000, epochs=1))
    gan = GanTrainer(config, dataset.train_images, dataset.train_labels, tmp_path / "r.pt", larger["scorer"],
                     scoring_reference(larger["scorer"], dataset), log=lambda s: None, graphs=False)
    gan.sampler = RealImages(3000, seed=5)
    gan.quality = [gan.score(1, 1000)]
    quality = gan.quality_table().set_index("epoch")
    assert quality.samples.tolist() == [1000, 1000, 1000]
    distance = quality.frechet_distance
    assert distance["final"] == distance[1]
    # 6.4 and 6.8 here; over pools 5 to 10 the epoch point spread 5.7 to 6.5
    assert distance["final"] == pytest.approx(distance["real data"], rel=0.15)
    gan.sampler = RealImages(3000, seed=6)
    assert gan.score(1, 250)["frechet_distance"] > 1.3 * distance["final"]  # 10.0: 8.2 to 10.2 over pools
def test_an_auxiliary_classifier_needs_a_discriminator_that_does_not_see_the_label():
    with pytest.raises(ValueError, match="an auxiliary classifier needs conditioning 'projection'"):
        build_gan(gan_recipe(class_loss_weight=1.0))
    with pytest.raises(ValueError, match="unknown conditioning 'sum'; choose one of concat, projection"):
        build_gan(gan_recipe(conditioning="sum"))


@pytest.mark.parametrize("model", sorted(GAN_NETWORKS))
def test_projection_discriminator_reads_the_label_only_through_its_embedding(model):
    """Its class logits do not depend on the label given, and its real/fake logit depends on it
    only through <embedding(label), features>."""
    torch.manual_seed(0)
    _, discriminator = build_gan(gan_recipe(model=model, conditioning="projection", class_loss_weight=1.0))
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
    _, discriminator = build_gan(gan_recipe(model="cgan_mlp"))
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
        return GanTrainer(gan_recipe(**dict(SETTINGS, epochs=epochs)), dataset.train_images, dataset.train_labels,
                          tmp_path / "resume.pt", scorer, scoring_reference(scorer, dataset),
                          log=lines.append, graphs=False)

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
    digests = [GanTrainer(gan_recipe(**SETTINGS), dataset.train_images, dataset.train_labels, tmp_path / "r.pt",
                          Scorer(path), None, log=lambda s: None, graphs=False).inputs for path in (tmp_path / "a.pt", tmp_path / "b.pt")]
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


def test_a_gan_of_many_classes_shows_twenty_of_them_spread_evenly_and_says_so(tmp_path):
    from mnistflow.gan import shown_classes

    assert shown_classes(10).tolist() == list(range(10))
    shown = shown_classes(200)
    assert len(shown) == 20 and shown[0] == 0 and shown[-1] == 199 and np.all(np.diff(shown) >= 10)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 255, (60, 28, 28), dtype=np.uint8), np.arange(60) % 30
    lines = []
    gan = GanTrainer(gan_recipe(**dict(SETTINGS, epochs=1)), images, labels, tmp_path / "r.pt", classes=30,
                     log=lines.append, graphs=False)
    gan.run()
    assert lines[0] == ("the sample grid after each epoch shows 20 of the 30 classes, spread evenly (labels "
                        + ", ".join(map(str, shown_classes(30))) + ")")
    assert gan.frame_arrays()["frames"].shape == (1, 20 * 28, 10 * 28)
