"""How good a conditional GAN's samples are, measured in the feature space of the project's own
trained classifier (train.best_run): the Fréchet distance between samples and real images the
classifier never trained on, the accuracy with which the classifier recognises the class a sample
was conditioned on, and the entropy of the predicted-class histogram (mode coverage).

Three choices keep the scores on one footing (``ScoringReference``):

- the reference is the training images the classifier held out (never the test images: a GAN
  recipe chosen on these scores is chosen on held-out training images);
- every scored set, samples and real images alike, has the class frequencies of the GAN's
  training images: samples are generated with them, real sets are weighted to them;
- every point of a chart is scored on the same number of images: the Fréchet distance grows as
  the sample shrinks (its estimate is biased upward at small sample sizes), so points scored on
  different numbers of images cannot be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import InputPipeline, load_checkpoint, unit_images

QUALITY_COLUMNS = ["epoch", "samples", "frechet_distance", "conditional_accuracy", "class_entropy_bits"]


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians, computed the stable way.

    Tr((S1 S2)^(1/2)) equals Tr((sqrt(S1) S2 sqrt(S1))^(1/2)), and sqrt(S1) S2 sqrt(S1) is
    symmetric positive semi-definite: its eigenvalues (``eigvalsh``, clipped at 0 where rounding
    makes them slightly negative) give the trace without the complex or non-finite square roots
    that ``sqrtm`` of the non-symmetric product S1 S2 yields for singular covariances. The result
    is clipped at 0, which rounding alone can cross for two equal distributions."""
    sigma1, sigma2 = _symmetric(sigma1), _symmetric(sigma2)
    eigenvalues, vectors = np.linalg.eigh(sigma1)
    sqrt_sigma1 = (vectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ vectors.T
    product = _symmetric(sqrt_sigma1 @ sigma2 @ sqrt_sigma1)
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(product), 0, None)).sum()
    diff = np.asarray(mu1, dtype=np.float64) - np.asarray(mu2, dtype=np.float64)
    return max(0.0, float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt))


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    return (matrix + matrix.T) / 2


def gaussian(features: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``features`` (one row an image); ``weights``: one per row (the
    class weights of ``class_weights``), None for equal weights."""
    features = features.astype(np.float64)
    return np.average(features, axis=0, weights=weights), np.cov(features, rowvar=False, aweights=weights)


def class_entropy_bits(predicted: np.ndarray, classes: int, weights: np.ndarray | None = None) -> float:
    """Entropy of the predicted-class histogram: log2(classes) when every class is equally
    frequent, 0 when all samples fall in one class (mode collapse)."""
    counts = np.bincount(predicted, weights=weights, minlength=classes)
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0  # 0.0, not -0.0, for one class


def class_frequencies(labels: np.ndarray, classes: int) -> np.ndarray:
    """The share of each class among ``labels``."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)
    return counts / counts.sum()


def class_labels(frequencies: np.ndarray, n: int) -> np.ndarray:
    """``n`` labels, class by class, whose class counts are ``n * frequencies`` rounded so that
    they sum to ``n`` (largest remainders): the labels samples are generated for."""
    exact = np.asarray(frequencies, dtype=np.float64) * n
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[:n - counts.sum()]] += 1
    return np.repeat(np.arange(len(counts)), counts)


def class_weights(labels: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """A weight per image such that the weighted class frequencies of ``labels`` are
    ``frequencies``: weighting keeps every image of a real set where drawing it stratified would
    drop images of its more frequent classes."""
    labels = np.asarray(labels, dtype=np.int64)
    have = class_frequencies(labels, len(frequencies))
    missing = [c for c in range(len(frequencies)) if frequencies[c] > 0 and have[c] == 0]
    if missing:
        raise ValueError(f"no real image of class {', '.join(map(str, missing))} to weight to the training images' "
                         f"class frequencies among {len(labels)} images")
    return (np.asarray(frequencies, dtype=np.float64)[labels] / have[labels])


class Scorer:
    """Scores images with a trained classifier checkpoint: features are the input of its last
    linear layer (the penultimate representation), predictions its argmax."""

    def __init__(self, checkpoint_path: str | Path, device: torch.device | str = "cpu"):
        self.checkpoint = str(checkpoint_path)
        self.model, state = load_checkpoint(checkpoint_path, device, purpose="score GAN samples")
        self.pipeline, self.device = InputPipeline.from_checkpoint(state), torch.device(device)
        self.classes = len(state["classes"])
        self.head = [m for m in self.model.modules() if isinstance(m, nn.Linear)][-1]
        # what the classifier trained on: the first train_subset training images (all of them
        # without one) less the last `validation`, which it held out (train.TensorData.from_dataset)
        config = state.get("config") or {}
        self.train_subset, self.validation = config.get("train_subset"), int(config.get("validation") or 0)

    def held_out(self, training_images: int) -> np.ndarray:
        """The indices of the training images this classifier never trained on, of
        ``training_images``: those it held out to validate on, and any beyond its train_subset."""
        used = min(self.train_subset or training_images, training_images)
        start = used - self.validation
        if start >= training_images:
            raise ValueError(f"{self.checkpoint} trained on every training image (validation: 0): GAN samples are "
                             "scored against training images the classifier held out; give train.best_run's run "
                             "a validation split")
        return np.arange(max(start, 0), training_images)

    @torch.no_grad()
    def features_and_predictions(self, images01: torch.Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """``images01``: (n, 1, 28, 28) in [0, 1]."""
        captured: list[torch.Tensor] = []
        handle = self.head.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].detach().cpu()))
        predictions = []
        try:
            for start in range(0, len(images01), batch_size):
                x = self.pipeline.normalise(images01[start:start + batch_size].to(self.device))
                predictions.append(self.model(x).argmax(1).cpu())
        finally:
            handle.remove()
        return torch.cat(captured).flatten(1).numpy(), torch.cat(predictions).numpy()

    def quality(self, samples01: torch.Tensor, intended: torch.Tensor, reference: tuple[np.ndarray, np.ndarray],
                weights: np.ndarray | None = None) -> dict:
        """``weights``: one per image (``class_weights``), for a real set weighted to other class
        frequencies; the accuracy and the predicted-class histogram are weighted alike."""
        features, predicted = self.features_and_predictions(samples01)
        mu, sigma = gaussian(features, weights)
        correct = (predicted == intended.cpu().numpy()).astype(np.float64)
        return {"samples": len(intended), "frechet_distance": frechet_distance(mu, sigma, *reference),
                "conditional_accuracy": float(np.average(correct, weights=weights)),
                "class_entropy_bits": class_entropy_bits(predicted, self.classes, weights)}


def reference_statistics(scorer: Scorer, images: np.ndarray,
                         weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the classifier features of real (uint8) images, weighted."""
    features, _ = scorer.features_and_predictions(unit_images(torch.from_numpy(images)))
    return gaussian(features, weights)


@dataclass(frozen=True)
class ScoringReference:
    """What a GAN's samples are scored against, and the floor they are read against.

    ``frequencies``: the class frequencies of the GAN's training images. Samples are generated
    with them (``class_labels``) rather than uniformly, and every real set is weighted to them
    (``class_weights``): a GAN that learnt its data makes its classes that often, and weighting
    the real sets, rather than drawing them stratified to uniform classes, keeps all their images
    (stratified, the rarest class would cap every class; Fashion-MNIST's 5,000 held-out images
    would lose 500).

    ``mu``, ``sigma``: the classifier features of the training images it never trained on (its
    held-out validation images; ``Scorer.held_out``), weighted to ``frequencies``. Never the
    test images, so that any choice made on these scores (a GAN recipe) is made without them.

    ``floor_images``, ``floor_labels``: the real-data floor's pool, the test images: real
    digits the classifier never trained on (the held-out ones being the reference), scored as
    samples are. The floor is a line to read a chart by, it chooses nothing. On MNIST it sits
    above what a perfect generator would score, the held-out images (the last 5,000 training
    images) being unlike the rest a little (bench/README.md, "GANs")."""

    mu: np.ndarray
    sigma: np.ndarray
    frequencies: np.ndarray
    reference_images: int
    floor_images: np.ndarray
    floor_labels: np.ndarray
    # the GAN trains on the first this many training images only, none of the reference's: a
    # GAN that memorised the reference would otherwise score as if it had learnt the data
    training_images: int

    @property
    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mu, self.sigma


def scoring_reference(scorer: Scorer, dataset, train_subset: int | None = None) -> ScoringReference:
    """The ``ScoringReference`` of a GAN trained on the first ``train_subset`` training images
    of ``dataset`` (all of them: None) short of those the classifier held out, which are the
    reference, scored with ``scorer``."""
    held_out = scorer.held_out(len(dataset.train_images))
    training_images = min(train_subset or len(dataset.train_images), int(held_out[0]))
    frequencies = class_frequencies(dataset.train_labels[:training_images], scorer.classes)
    weights = class_weights(dataset.train_labels[held_out], frequencies)
    mu, sigma = reference_statistics(scorer, dataset.train_images[held_out], weights)
    return ScoringReference(mu, sigma, frequencies, len(held_out), dataset.test_images,
                            np.asarray(dataset.test_labels, dtype=np.int64), training_images)


def pixel_comparison(samples01: np.ndarray, classes, test_images: np.ndarray, test_labels: np.ndarray,
                     per_class: int, bins: int = 32) -> dict[str, np.ndarray]:
    """The article's real-against-generated pixel comparison: per class of ``classes`` (labels),
    the counts of pixel intensities of the first ``per_class`` samples (``samples01``:
    (len(classes), n, h, w) in [0, 1]) and of as many real test images, on ``bins`` equal bins of
    [0, 1], and how many images each count covers."""
    edges = np.linspace(0, 1, bins + 1)
    real = [test_images[test_labels == c][:per_class] / 255.0 for c in classes]
    fake = [samples01[c, :per_class] for c in range(len(samples01))]
    return {"edges": edges,
            "real_counts": np.stack([np.histogram(images.ravel(), bins=edges)[0] for images in real]),
            "generated_counts": np.stack([np.histogram(images.ravel(), bins=edges)[0] for images in fake]),
            "real_images": np.array([len(images) for images in real]),
            "generated_images": np.array([len(images) for images in fake])}
