"""A trained classifier's prediction for every test image, readable without torch
(``introspect.test_predictions`` computes it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic


@dataclass(frozen=True)
class Predictions:
    run: str
    labels: np.ndarray  # (n,) true classes
    predicted: np.ndarray  # (n,) the most probable class
    confidence: np.ndarray  # (n,) its softmax probability

    @property
    def wrong(self) -> np.ndarray:
        """Indices of the misclassified test images."""
        return np.flatnonzero(self.predicted != self.labels)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.labels))

    def save(self, path: str | Path) -> None:
        atomic.save_npz(path, run=np.array(self.run), labels=self.labels, predicted=self.predicted,
                        confidence=self.confidence)

    @classmethod
    def load(cls, path: str | Path) -> "Predictions":
        values = atomic.load_arrays(path)
        values["run"] = str(values["run"])
        return cls(**values)
