"""A tiny synthetic MNIST-like dataset, written as real IDX files for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistflow.datasets import RAW_FILES, sha256_hex
from mnistflow.idx import encode_idx, write_idx

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
