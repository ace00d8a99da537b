"""A tiny synthetic MNIST-like dataset, written as real IDX files for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistflow.datasets import RAW_FILES, Dataset, sha256_hex
from mnistflow.embed import Embedding
from mnistflow.idx import encode_idx, write_idx
from mnistflow.predictions import Predictions

CLASSES = [f"c{i}" for i in range(10)]


def make_split(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each class a bright bar at its own place over uniform noise, with saturated and zero pixels."""
    labels = rng.integers(0, len(CLASSES), size=n).astype(np.uint8)
    images = rng.integers(0, 90, size=(n, 28, 28)).astype(np.int64)
    images[rng.random((n, 28, 28)) < 0.5] = 0
    for i, c in enumerate(labels):
        images[i, 2 * c + 2 : 2 * c + 6, 4:24] += rng.integers(100, 220)
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_dataset(directory: Path, n_train: int = 300, n_test: int = 100, seed: int = 0, gz: bool = False) -> dict:
    """Write the four IDX files; return the arrays and the config entry (classes, sha256)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    arrays["train_images"], arrays["train_labels"] = make_split(n_train, rng)
    arrays["test_images"], arrays["test_labels"] = make_split(n_test, rng)
    sha256 = {}
    for role, name in RAW_FILES.items():
        write_idx(directory / (name + (".gz" if gz else "")), arrays[role])
        sha256[role] = sha256_hex(encode_idx(arrays[role]))
    return {"arrays": arrays, "entry": {"classes": CLASSES, "sha256": sha256}}


# The embedding explorer's points (tests/test_explorer.py, bench/explorer.py)

EXPLORER_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def sparse_images(labels: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """MNIST-like images: black but for a bright stroke whose place and length tell the class,
    and a few random pixels that make every image its own."""
    images = np.zeros((len(labels), size, size), dtype=np.uint8)
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        images[rows, 2 + 2 * c: 4 + 2 * c, 4: 8 + 2 * c] = 200
    flat = images.reshape(len(labels), -1)
    pixels = rng.integers(0, size * size, size=(len(labels), 12))
    flat[np.arange(len(labels))[:, None], pixels] = rng.integers(1, 256, size=pixels.shape, dtype=np.uint8)
    return images


def explorer_set(n_train: int, n_test: int, seed: int = 0):
    """A dataset, three embeddings of every image (classes in clusters), and predictions with
    known mistakes: every 50th test image is taken for the next class."""
    rng = np.random.default_rng(seed)
    train_labels, test_labels = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    dataset = Dataset("synthetic", EXPLORER_CLASSES, sparse_images(train_labels, rng), train_labels,
                      sparse_images(test_labels, rng), test_labels)
    labels = np.concatenate([train_labels, test_labels])
    index = np.arange(n_train + n_test)
    embeddings = []
    for method, scale in (("pca", 3.0), ("tsne-opentsne", 40.0), ("umap", 8.0)):
        centres = rng.normal(size=(10, 2)) * scale
        coords = centres[labels] + rng.normal(size=(len(labels), 2)) * scale / 6
        embeddings.append(Embedding(method, coords, labels, index >= n_train, index, 1.0))
    predicted = test_labels.copy()
    predicted[::50] = (predicted[::50] + 1) % 10
    confidence = rng.uniform(0.2, 1.0, n_test).astype(np.float32)
    return dataset, embeddings, Predictions("best", test_labels, predicted, confidence)
