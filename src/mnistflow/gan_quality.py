"""How good a conditional GAN's samples are, measured in the feature space of the project's own
trained classifier (train.best_run): the Fréchet distance between real test images and samples,
the accuracy with which the classifier recognises the class a sample was conditioned on, and the
entropy of the predicted-class histogram (mode coverage)."""

from __future__ import annotations

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


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = features.astype(np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def class_entropy_bits(predicted: np.ndarray, classes: int) -> float:
    """Entropy of the predicted-class histogram: log2(classes) when every class is equally
    frequent, 0 when all samples fall in one class (mode collapse)."""
    p = np.bincount(predicted, minlength=classes) / len(predicted)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


class Scorer:
    """Scores images with a trained classifier checkpoint: features are the input of its last
    linear layer (the penultimate representation), predictions its argmax."""

    def __init__(self, checkpoint_path: str | Path, device: torch.device | str = "cpu"):
        self.checkpoint = str(checkpoint_path)
        self.model, state = load_checkpoint(checkpoint_path, device, purpose="score GAN samples")
        self.pipeline, self.device = InputPipeline.from_checkpoint(state), torch.device(device)
        self.classes = len(state["classes"])
        self.head = [m for m in self.model.modules() if isinstance(m, nn.Linear)][-1]

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

    def quality(self, samples01: torch.Tensor, intended: torch.Tensor, reference: tuple[np.ndarray, np.ndarray]) -> dict:
        features, predicted = self.features_and_predictions(samples01)
        mu, sigma = gaussian(features)
        return {"samples": len(intended), "frechet_distance": frechet_distance(mu, sigma, *reference),
                "conditional_accuracy": float((predicted == intended.cpu().numpy()).mean()),
                "class_entropy_bits": class_entropy_bits(predicted, self.classes)}


def reference_statistics(scorer: Scorer, test_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the classifier features of the real test images."""
    features, _ = scorer.features_and_predictions(unit_images(torch.from_numpy(test_images)))
    return gaussian(features)


def pixel_comparison(samples01: np.ndarray, test_images: np.ndarray, test_labels: np.ndarray, per_class: int,
                     bins: int = 32) -> dict[str, np.ndarray]:
    """The article's real-against-generated pixel comparison: per class, the counts of pixel
    intensities of the first ``per_class`` samples (``samples01``: (classes, n, h, w) in [0, 1])
    and of as many real test images, on ``bins`` equal bins of [0, 1], and how many images each
    count covers."""
    edges = np.linspace(0, 1, bins + 1)
    real = [test_images[test_labels == c][:per_class] / 255.0 for c in range(len(samples01))]
    fake = [samples01[c, :per_class] for c in range(len(samples01))]
    return {"edges": edges,
            "real_counts": np.stack([np.histogram(images.ravel(), bins=edges)[0] for images in real]),
            "generated_counts": np.stack([np.histogram(images.ravel(), bins=edges)[0] for images in fake]),
            "real_images": np.array([len(images) for images in real]),
            "generated_images": np.array([len(images) for images in fake])}
