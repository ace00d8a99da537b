"""What is wrong with a labelled image set: suspected label errors, exact and near duplicates
(within a split and across train and test) and outliers, over every train and test image.

- **Out-of-sample probabilities.** Every image is scored by a model that never trained on it:
  K-fold cross-validation over train and test together, stratified by the given label
  (``out_of_sample_probabilities``). The model is a one-hidden-layer MLP on the PCA projection
  the embeddings start from; bench/README.md, "Data quality", measured it against kNN on the
  shared graph, logistic regression, an MLP on the pixels and a small CNN.
- **Label issues**: cleanlab's confident learning on those probabilities (``label_issues``).
- **Duplicates**: exact copies by their bytes; near copies from the shared neighbour graph. A PCA
  projection never lengthens a distance, so every pair of images within ``distance`` of each
  other in pixels is within it in the projection too: the graph's neighbours under the threshold
  are the candidates, and their pixel distance decides (``duplicate_pairs``).
- **Outliers**: images far from every neighbour of their own given class: the mean distance to
  the nearest images of that class in the PCA projection, as a modified z-score over all images
  (``own_class_distances``, ``modified_z_scores``). Scaling each class by its own spread instead
  ranked only the tight class of ones (bench/README.md, "Data quality").

Distances are Euclidean between images scaled to [0, 1]: sqrt(784) x (RMS difference) / 255
for 28 x 28 images, so 0.5 is an RMS difference of 4.6 grey levels.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import atomic
from .datasets import DataError, Dataset
from .stats import SPLITS

if TYPE_CHECKING:
    import pandas as pd

    from .neighbours import NeighbourGraph

# how far a row of probabilities may stray from summing to one (float32 softmax rounding)
SUM_TOLERANCE = 1e-3
SPLIT_NAMES = np.array(SPLITS)


def stratified_folds(labels: np.ndarray, classes: tuple[str, ...], folds: int, seed: int) -> np.ndarray:
    """Each image's fold (0 .. folds - 1): every class is dealt round the folds in a random order
    drawn from ``seed``, so each fold holds a 1/folds share of every class. A class with fewer
    images than folds, or a single class, is refused: some fold's model would never see it."""
    counts = np.bincount(labels, minlength=len(classes))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise DataError(f"data quality needs at least two classes to tell label errors apart; the images hold "
                        f"only {', '.join(repr(classes[c]) for c in present) or 'none'}")
    short = [f"{classes[c]!r} ({counts[c]})" for c in present if counts[c] < folds]
    if short:
        fewest = counts[present].min()
        lower = f"lower data_quality.folds to {fewest}, " if fewest >= 2 else ""
        raise DataError(f"data_quality.folds is {folds}, but class(es) {', '.join(short)} have fewer images than "
                        f"that: each fold's model must see every class. Add images, {lower}or set "
                        "data_quality.enabled: false")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int8)
    for c in present:
        members = np.flatnonzero(labels == c)
        fold[rng.permutation(members)] = np.arange(len(members)) % folds
    return fold


@dataclass(frozen=True)
class FoldModel:
    """The cross-validation model: one hidden ReLU layer (none: logistic regression) on the PCA
    projection, trained with Adam on cross-entropy for ``epochs`` passes, or more where that is
    fewer than ``min_batches`` batches (a small set's few batches an epoch leave it
    undertrained). Its settings' defaults are data_quality.model's, in the config schema."""

    hidden: int
    epochs: int
    batch_size: int
    lr: float
    min_batches: int

    def epochs_for(self, images: int) -> int:
        return max(self.epochs, math.ceil(self.min_batches / math.ceil(images / self.batch_size)))

    def fit_predict(self, x: np.ndarray, y: np.ndarray, held_out: np.ndarray, classes: int, seed: int,
                    fold: int) -> np.ndarray:
        """Train on ``x``, ``y``; the softmax probabilities of ``held_out``'s rows."""
        import torch
        import torch.nn.functional as F

        from .rng import generator, seed_global

        seed_global(seed, "init", fold)
        model = (torch.nn.Linear(x.shape[1], classes) if self.hidden == 0 else  # logistic regression
                 torch.nn.Sequential(torch.nn.Linear(x.shape[1], self.hidden), torch.nn.ReLU(),
                                     torch.nn.Linear(self.hidden, classes)))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        for epoch in range(self.epochs_for(len(x))):
            for batch in torch.randperm(len(x), generator=generator(seed, "order", fold, epoch)).split(self.batch_size):
                optimizer.zero_grad()
                F.cross_entropy(model(x[batch]), y[batch]).backward()
                optimizer.step()
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(held_out)), dim=1).numpy()


@dataclass(frozen=True)
class OutOfSample:
    """Class probabilities of every image (train then test) from the fold model that did not
    train on it, and each fold model's accuracy on the images it held out."""

    probabilities: np.ndarray  # (n, classes) float32
    fold: np.ndarray  # (n,) int8
    fold_accuracy: np.ndarray  # (folds,)
    labels: np.ndarray  # (n,) the given labels
    is_test: np.ndarray  # (n,) bool
    seconds: float
    params: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        atomic.save_npz(path, probabilities=self.probabilities, fold=self.fold, fold_accuracy=self.fold_accuracy,
                        labels=self.labels, is_test=self.is_test, seconds=np.array(self.seconds),
                        params=np.array(json.dumps(self.params, sort_keys=True)))

    @classmethod
    def load(cls, path: str | Path) -> "OutOfSample":
        values = atomic.load_arrays(path)
        return cls(**{**values, "seconds": float(values["seconds"]), "params": json.loads(str(values["params"]))})


def out_of_sample_probabilities(features: np.ndarray, labels: np.ndarray, is_test: np.ndarray,
                                classes: tuple[str, ...], model: FoldModel, folds: int, seed: int) -> OutOfSample:
    """K-fold cross-validation over every image (``features``: the PCA projection, one row an
    image). The features are divided by their overall standard deviation, one number, so that
    the model's learning rate suits any projection's scale."""
    started = time.perf_counter()
    x = np.ascontiguousarray(features / features.std(), dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    fold = stratified_folds(labels, classes, folds, seed)
    probabilities = np.zeros((len(labels), len(classes)), dtype=np.float32)
    accuracy = np.zeros(folds)
    for k in range(folds):
        held = fold == k
        probabilities[held] = model.fit_predict(x[~held], labels[~held], x[held], len(classes), seed, k)
        accuracy[k] = np.mean(probabilities[held].argmax(axis=1) == labels[held])
    return OutOfSample(probabilities, fold, accuracy, labels, np.asarray(is_test, dtype=bool),
                       time.perf_counter() - started,
                       {"folds": folds, "seed": seed, "features": int(x.shape[1]), **vars(model)})


def check_probabilities(probabilities: np.ndarray, labels: np.ndarray) -> None:
    """Refuse probabilities cleanlab would misread: not one row per label with a column for every
    label, negative, not finite, or rows that do not sum to one."""
    if probabilities.ndim != 2 or len(probabilities) != len(labels) or probabilities.shape[1] <= labels.max():
        raise DataError(f"probabilities of shape {probabilities.shape} for {len(labels)} images with labels up to "
                        f"{labels.max()}: rebuild them (snakemake --forcerun quality_probabilities)")
    sums = probabilities.sum(axis=1)
    bad = np.flatnonzero(~np.isfinite(sums) | (probabilities.min(axis=1) < 0) | (np.abs(sums - 1) > SUM_TOLERANCE))
    if len(bad):
        raise DataError(f"{len(bad)} row(s) of probabilities are not a distribution (row {bad[0]} sums to "
                        f"{sums[bad[0]]:.4g}, its smallest entry {probabilities[bad[0]].min():.4g}): rebuild them "
                        "(snakemake --forcerun quality_probabilities)")


@dataclass(frozen=True)
class LabelIssues:
    """Suspected label errors by confident learning, most likely first, and what ranks them."""

    ranked: np.ndarray  # rows of the suspected errors, lowest label quality first
    label_quality: np.ndarray  # (n,) the out-of-sample probability of the given label
    suggested: np.ndarray  # (n,) the most probable class
    joint: np.ndarray  # (classes, classes) estimated joint of given (rows) and true (columns) labels


def label_issues(labels: np.ndarray, probabilities: np.ndarray, threads: int = 1) -> LabelIssues:
    """cleanlab's ``find_label_issues`` (its default: prune by noise rate) ranked by
    self-confidence, which is also the label-quality score; and its estimate of the joint."""
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    check_probabilities(probabilities, labels)
    ranked = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=threads)
    return LabelIssues(np.asarray(ranked, dtype=np.int64),
                       get_label_quality_scores(labels, probabilities, method="self_confidence").astype(np.float32),
                       probabilities.argmax(axis=1).astype(np.int16), estimate_joint(labels, probabilities))


@dataclass(frozen=True)
class DuplicatePairs:
    """Pairs of images (rows in train-then-test order, ``first`` < ``second`` unless an exact
    group's training image comes later) within ``distance`` of each other."""

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray  # in pixels scaled to [0, 1]
    exact: np.ndarray  # same bytes


def first_of_each(key: np.ndarray, *ties: np.ndarray) -> np.ndarray:
    """The position of the first element of each distinct ``key``, ties broken by ``ties`` in
    order (each as ``np.lexsort`` takes a key: smallest first)."""
    order = np.lexsort((*reversed(ties), key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return order[first]


def pixel_distance(flat: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows ``a`` and ``b`` of uint8 images, scaled to [0, 1]."""
    difference = flat[a].astype(np.float32) - flat[b].astype(np.float32)
    return np.sqrt(np.einsum("ij,ij->i", difference, difference)) / 255.0


def duplicate_pairs(images: np.ndarray, is_test: np.ndarray, graph: "NeighbourGraph",
                    distance: float) -> DuplicatePairs:
    """Every exact duplicate (as pairs with its group's first training image, else its first
    image, so that each test copy of a training image is named with one: a group of m copies is
    m - 1 pairs) and every other pair of the graph's neighbours within ``distance``. An exact
    graph finds every near pair unless more than its k images lie closer to one of them; an
    approximate one (embed.neighbours.search: annoy) may miss some."""
    flat = images.reshape(len(images), -1)
    _, group = np.unique(flat, axis=0, return_inverse=True)
    group = group.ravel()
    # a group's representative: its first training image, else its first image
    heads = first_of_each(group, is_test, np.arange(len(group)))
    representative = np.empty(group.max() + 1 if len(group) else 0, dtype=np.int64)
    representative[group[heads]] = heads
    exact_second = np.flatnonzero(representative[group] != np.arange(len(group)))
    exact_first = representative[group[exact_second]]

    # slack for the graph's float32 rounding (faiss's error is in the squared distance, so it
    # grows as the distance shrinks): the pixel distance decides
    rows, column = np.nonzero(graph.distances <= distance * (1 + 1e-4) + 1e-3)
    a, b = np.minimum(rows, graph.indices[rows, column]), np.maximum(rows, graph.indices[rows, column])
    near = np.unique(np.stack([a, b], axis=1), axis=0) if len(a) else np.empty((0, 2), dtype=np.int64)
    near = near[group[near[:, 0]] != group[near[:, 1]]]
    near_distance = pixel_distance(flat, near[:, 0], near[:, 1])
    near = near[near_distance <= distance]
    near_distance = near_distance[near_distance <= distance]
    first = np.concatenate([exact_first, near[:, 0]])
    second = np.concatenate([exact_second, near[:, 1]])
    gap = np.concatenate([np.zeros(len(exact_first), dtype=np.float32), near_distance])
    sort = np.lexsort((second, first, gap))
    return DuplicatePairs(first[sort], second[sort], gap[sort], np.arange(len(first))[sort] < len(exact_first))


def nearest_distances(images: np.ndarray, graph: "NeighbourGraph", neighbours: int = 3,
                      block: int = 8192) -> np.ndarray:
    """Each image's pixel distance to the nearest of its ``neighbours`` nearest in the graph (an
    upper bound of its distance to the nearest image): the distribution the near-duplicate
    threshold is read against (the duplicates figure)."""
    flat = images.reshape(len(images), -1)
    k = min(neighbours, graph.k)
    nearest = np.empty(len(flat), dtype=np.float32)
    for start in range(0, len(flat), block):  # blocks: a (n k, 784) float copy would take gigabytes
        rows = np.arange(start, min(start + block, len(flat)))
        distances = pixel_distance(flat, np.repeat(rows, k), graph.indices[rows, :k].ravel())
        nearest[rows] = distances.reshape(-1, k).min(axis=1)
    return nearest


def own_class_distances(projection: np.ndarray, labels: np.ndarray, neighbours: int, threads: int = 1) -> np.ndarray:
    """Each image's mean distance to its ``neighbours`` nearest images of the same given class, in
    the PCA projection (an exact search within each class; NaN for a class of one image)."""
    from .neighbours import exact_neighbours

    distances = np.full(len(labels), np.nan)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) > 1:
            distances[members] = exact_neighbours(projection[members], neighbours, threads).distances.mean(axis=1)
    return distances


def modified_z_scores(values: np.ndarray) -> np.ndarray:
    """Iglewicz and Hoaglin's modified z-score, 0.6745 (x - median) / MAD: a z-score that the
    outliers it looks for do not inflate. They call a score above 3.5 an outlier. Where over half
    the values are equal (MAD 0), the mean absolute deviation stands in, as (x - median) /
    (1.253314 mean AD); where all are, every score is 0."""
    median = np.nanmedian(values)
    deviation = np.abs(values - median)
    mad = np.nanmedian(deviation)
    if mad > 0:
        return 0.6745 * (values - median) / mad
    mean_deviation = np.nanmean(deviation)
    return (values - median) / (1.253314 * mean_deviation) if mean_deviation > 0 else np.zeros_like(values)


@dataclass(frozen=True)
class DataQuality:
    """Everything the part found in one dataset, rows in train-then-test order; the tables and
    the per-image scores (``scores``) are what the workflow writes."""

    classes: tuple[str, ...]
    labels: np.ndarray
    is_test: np.ndarray
    issues: LabelIssues
    pairs: DuplicatePairs
    nearest_distance: np.ndarray
    own_class_distance: np.ndarray
    outlier_threshold: float
    near_duplicate_distance: float
    fold_accuracy: np.ndarray

    def _where(self, rows: np.ndarray) -> dict:
        """Split name and index within that split of each row."""
        n_train = int(np.sum(~self.is_test))
        return {"split": SPLIT_NAMES[self.is_test[rows].astype(int)],
                "index": np.where(self.is_test[rows], rows - n_train, rows)}

    def _names(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[labels]

    @cached_property
    def outlier_score(self) -> np.ndarray:
        return modified_z_scores(self.own_class_distance)

    @cached_property
    def outliers(self) -> np.ndarray:
        """Rows scoring at least the threshold, most outlying first."""
        rows = np.flatnonzero(self.outlier_score >= self.outlier_threshold)
        return rows[np.argsort(-self.outlier_score[rows], kind="stable")]

    def label_issue_table(self) -> "pd.DataFrame":
        import pandas as pd

        rows = self.issues.ranked
        return pd.DataFrame({"rank": np.arange(1, len(rows) + 1), **self._where(rows),
                             "given": self._names(self.labels[rows]),
                             "suggested": self._names(self.issues.suggested[rows]),
                             "label_quality": self.issues.label_quality[rows]})

    def duplicate_table(self) -> "pd.DataFrame":
        import pandas as pd

        p = self.pairs
        first, second = self._where(p.first), self._where(p.second)
        return pd.DataFrame({"split_a": first["split"], "index_a": first["index"],
                             "label_a": self._names(self.labels[p.first]),
                             "split_b": second["split"], "index_b": second["index"],
                             "label_b": self._names(self.labels[p.second]),
                             "distance": p.distance, "exact": p.exact,
                             "across_splits": self.is_test[p.first] != self.is_test[p.second]})

    def outlier_table(self) -> "pd.DataFrame":
        import pandas as pd

        rows = self.outliers
        return pd.DataFrame({"rank": np.arange(1, len(rows) + 1), **self._where(rows),
                             "label": self._names(self.labels[rows]),
                             "own_class_distance": self.own_class_distance[rows], "score": self.outlier_score[rows]})

    def joint_table(self) -> "pd.DataFrame":
        """The estimated joint as image counts: given label (rows) by true label (columns)."""
        import pandas as pd

        counts = self.issues.joint * len(self.labels)
        return pd.DataFrame(counts, index=pd.Index(self.classes, name="given"), columns=list(self.classes))

    def summary(self) -> "pd.DataFrame":
        """The headline numbers, one row."""
        import pandas as pd

        issues = self.issues.ranked
        first_test, second_test = self.is_test[self.pairs.first], self.is_test[self.pairs.second]
        across = first_test != second_test
        leaked_test = np.unique(np.where(first_test, self.pairs.first, self.pairs.second)[across])
        return pd.DataFrame([{
            "images": len(self.labels), "train_images": int(np.sum(~self.is_test)),
            "test_images": int(np.sum(self.is_test)), "folds": len(self.fold_accuracy),
            "fold_accuracy_mean": float(np.mean(self.fold_accuracy)),
            "fold_accuracy_min": float(np.min(self.fold_accuracy)),
            "label_issues": len(issues), "label_issues_train": int(np.sum(~self.is_test[issues])),
            "label_issues_test": int(np.sum(self.is_test[issues])),
            "exact_duplicate_pairs": int(np.sum(self.pairs.exact)),
            "near_duplicate_pairs": int(np.sum(~self.pairs.exact)),
            "pairs_across_splits": int(np.sum(across)), "test_images_with_a_train_copy": len(leaked_test),
            "near_duplicate_distance": self.near_duplicate_distance,
            "outliers": len(self.outliers), "outlier_threshold": self.outlier_threshold}])

    def class_table(self) -> "pd.DataFrame":
        """Per class: its images, its suspected errors (by given label) and its outliers."""
        import pandas as pd

        n = len(self.classes)
        return pd.DataFrame({"class": list(self.classes), "images": np.bincount(self.labels, minlength=n),
                             "label_issues": np.bincount(self.labels[self.issues.ranked], minlength=n),
                             "suggested_for_issues": np.bincount(self.issues.suggested[self.issues.ranked],
                                                                 minlength=n),
                             "outliers": np.bincount(self.labels[self.outliers], minlength=n)})

    def scores(self) -> dict[str, np.ndarray]:
        """Per image: what the figures and the explorer draw (a rank of -1: not listed)."""
        n = len(self.labels)
        issue_rank = np.full(n, -1, dtype=np.int32)
        issue_rank[self.issues.ranked] = np.arange(len(self.issues.ranked))
        # each image's nearest partner among the listed pairs (-1 for none), and its distance
        p = self.pairs
        mine, other = np.concatenate([p.first, p.second]), np.concatenate([p.second, p.first])
        distance = np.concatenate([p.distance, p.distance])
        nearest = first_of_each(mine, distance)
        duplicate_of = np.full(n, -1, dtype=np.int32)
        duplicate_of[mine[nearest]] = other[nearest]
        duplicate_distance = np.full(n, np.nan, dtype=np.float32)
        duplicate_distance[mine[nearest]] = distance[nearest]
        outlier_rank = np.full(n, -1, dtype=np.int32)
        outlier_rank[self.outliers] = np.arange(len(self.outliers))
        return {"labels": self.labels, "is_test": self.is_test, "classes": np.array(self.classes),
                "index_in_split": self._where(np.arange(n))["index"],
                "label_quality": self.issues.label_quality, "suggested": self.issues.suggested,
                "issue_rank": issue_rank, "duplicate_of": duplicate_of, "duplicate_distance": duplicate_distance,
                "nearest_distance": self.nearest_distance.astype(np.float32),
                "near_duplicate_distance": np.array(self.near_duplicate_distance),
                "outlier_score": self.outlier_score.astype(np.float32), "outlier_rank": outlier_rank,
                "outlier_threshold": np.array(self.outlier_threshold),
                "pair_first": self.pairs.first, "pair_second": self.pairs.second,
                "pair_distance": self.pairs.distance, "pair_exact": self.pairs.exact}


def assess(dataset: Dataset, out_of_sample: OutOfSample, projection: np.ndarray, graph: "NeighbourGraph",
           near_duplicate_distance: float, outlier_neighbours: int, outlier_threshold: float,
           threads: int = 1) -> DataQuality:
    """Label issues, duplicates and outliers of every image of ``dataset`` (train then test, the
    rows of ``out_of_sample``, ``projection`` and ``graph``)."""
    images = np.concatenate([dataset.train_images, dataset.test_images])
    labels = np.concatenate([dataset.train_labels, dataset.test_labels]).astype(np.int64)
    is_test = np.arange(len(labels)) >= len(dataset.train_images)
    for name, rows in (("probabilities", len(out_of_sample.labels)), ("PCA projection", len(projection)),
                       ("neighbour graph", len(graph.indices))):
        if rows != len(labels):
            raise DataError(f"the {name} holds {rows} images, dataset {dataset.name!r} {len(labels)}: data quality "
                            "needs every image (embed.subset: null); rebuild it")
    if not np.array_equal(out_of_sample.labels, labels):
        raise DataError(f"the probabilities were computed for other labels than dataset {dataset.name!r}'s: rebuild "
                        "them (snakemake --forcerun quality_probabilities)")
    return DataQuality(
        classes=tuple(dataset.classes), labels=labels, is_test=is_test,
        issues=label_issues(labels, out_of_sample.probabilities, threads),
        pairs=duplicate_pairs(images, is_test, graph, near_duplicate_distance),
        nearest_distance=nearest_distances(images, graph),
        own_class_distance=own_class_distances(projection, labels, outlier_neighbours, threads),
        outlier_threshold=outlier_threshold, near_duplicate_distance=near_duplicate_distance,
        fold_accuracy=out_of_sample.fold_accuracy)


def headline_table(summaries: dict[str, Path]) -> str:
    """The report's headline table of data quality (reStructuredText), from each dataset's
    summary.csv; empty where the part is off."""
    import pandas as pd

    from .report import percent, rst_table

    rows = []
    for dataset, path in summaries.items():
        row = pd.read_csv(path).iloc[0]
        rows.append([dataset, f"{int(row.images):,}", f"{int(row.folds)}-fold, {percent(row.fold_accuracy_mean)}",
                     f"{int(row.label_issues):,} ({int(row.label_issues_train):,} train, "
                     f"{int(row.label_issues_test):,} test)",
                     f"{int(row.exact_duplicate_pairs):,} exact, {int(row.near_duplicate_pairs):,} near",
                     f"{int(row.test_images_with_a_train_copy):,}", f"{int(row.outliers):,}"])
    if not rows:
        return ""
    return rst_table("Data quality (quality/summary.csv): every image scored by a cross-validated model that never "
                     "trained on it; suspected label errors by confident learning (cleanlab)",
                     ["dataset", "images", "cross-validation accuracy", "suspected label errors", "duplicate pairs",
                      "test images with a copy in train", "outliers"], rows)
