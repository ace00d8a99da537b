"""Data quality: planted label errors found, known duplicates and a planted outlier ranked, the
tables' rows where the images are, and bad input refused."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from mnistflow import quality
from mnistflow.datasets import DataError, Dataset
from mnistflow.neighbours import exact_neighbours

CLASSES = tuple(str(c) for c in range(10))
# small-set settings: 30 epochs of 1,438 images in batches of 64 (the workflow's defaults reach as
# many batches through min_batches)
MODEL = quality.FoldModel(hidden=256, epochs=30, batch_size=64, lr=1e-3, min_batches=0)


def planted_flips(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` with ``fraction`` of them moved to another class at random, and which."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), round(fraction * len(labels)), replace=False)] = True
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    return noisy, flipped


@pytest.mark.parametrize("fraction", [0.01, 0.05])
def test_planted_label_errors_are_found_far_above_chance(fraction):
    """scikit-learn's real digits with 1% or 5% of their labels flipped: most flips are flagged,
    most flagged images are flips, and the label-quality score ranks flips first (chance: as many
    found as flagged x fraction, an area under the ROC curve of 0.5)."""
    digits = load_digits()
    pixels, labels = digits.data.astype(np.float32) / 16, digits.target.astype(np.int64)
    noisy, flipped = planted_flips(labels, fraction, seed=0)
    is_test = np.arange(len(labels)) >= 1438
    result = quality.out_of_sample_probabilities(pixels, noisy, is_test, CLASSES, MODEL, folds=5, seed=0)
    assert result.fold_accuracy.min() > 0.85  # against the true labels' near 96%, as the noise allows
    issues = quality.label_issues(noisy, result.probabilities)
    found = np.isin(np.flatnonzero(flipped), issues.ranked)
    precision = np.isin(issues.ranked, np.flatnonzero(flipped)).mean()
    assert found.mean() >= 0.7, f"recall {found.mean():.2f}"
    assert precision >= 0.5, f"precision {precision:.2f} (chance {fraction})"
    assert roc_auc_score(flipped, -issues.label_quality) > 0.99
    # the suggested label of a found flip is mostly its true one
    caught = np.intersect1d(issues.ranked, np.flatnonzero(flipped))
    assert np.mean(issues.suggested[caught] == labels[caught]) > 0.8
    # ranked by label quality, lowest first
    assert np.all(np.diff(issues.label_quality[issues.ranked]) >= 0)


def test_every_image_is_scored_by_a_model_that_never_saw_it():
    """Folds deal each class evenly; an image's probabilities come from its own fold's model,
    which trained on every other fold and never on its own."""
    labels = np.repeat(np.arange(3), [50, 40, 12])
    fold = quality.stratified_folds(labels, ("a", "b", "c"), folds=4, seed=1)
    for c, n in zip(range(3), (50, 40, 12)):
        assert sorted(np.bincount(fold[labels == c], minlength=4)) == sorted([n // 4 + (i < n % 4) for i in range(4)])
    assert np.array_equal(fold, quality.stratified_folds(labels, ("a", "b", "c"), folds=4, seed=1))
    # each fold's model trains on the other folds' rows alone and scores its own (the feature is
    # the row number, scaled)
    seen = []

    class Spy(quality.FoldModel):
        def fit_predict(self, x, y, held_out, classes, seed, fold):
            seen.append((set(np.rint(x[:, 0] * scale).astype(int)), set(np.rint(held_out[:, 0] * scale).astype(int))))
            return np.full((len(held_out), classes), 1 / classes, dtype=np.float32)

    features = np.arange(len(labels), dtype=np.float32)[:, None]
    scale = features.std()
    result = quality.out_of_sample_probabilities(features, labels, np.zeros(len(labels), bool), ("a", "b", "c"),
                                                 Spy(8, 2, 16, 1e-2, 0), folds=4, seed=1)
    for k, (trained, scored) in enumerate(seen):
        assert scored == set(np.flatnonzero(fold == k)) and trained == set(np.flatnonzero(fold != k))
    assert np.array_equal(result.fold, fold) and len(result.fold_accuracy) == 4


def test_too_few_images_of_a_class_or_a_single_class_is_refused():
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(DataError) as error:
        quality.stratified_folds(labels, ("cat", "dog"), folds=5, seed=0)
    assert str(error.value) == ("data_quality.folds is 5, but class(es) 'dog' (3) have fewer images than that: "
                                "each fold's model must see every class. Add images, lower data_quality.folds to 3, "
                                "or set data_quality.enabled: false")
    with pytest.raises(DataError) as error:  # one image: no number of folds would do
        quality.stratified_folds(np.array([0] * 10 + [1]), ("cat", "dog"), folds=2, seed=0)
    assert str(error.value).endswith("Add images, or set data_quality.enabled: false")
    with pytest.raises(DataError, match="at least two classes.*only 'cat'"):
        quality.stratified_folds(np.zeros(20, dtype=np.int64), ("cat", "dog"), folds=5, seed=0)


@pytest.mark.parametrize("bad, message", [
    (lambda p: p * 1.1, r"row\(s\) of probabilities are not a distribution \(row 0 sums to 1\.1"),
    (lambda p: np.where(np.arange(3) == 0, -0.1, p + 0.05), "its smallest entry -0.1"),
    (lambda p: np.full_like(p, np.nan), "sums to nan"),
    (lambda p: p[:, :2] * 1.5, r"probabilities of shape \(4, 2\) for 4 images with labels up to 2"),
    (lambda p: p[:3], r"probabilities of shape \(3, 3\) for 4 images with labels up to 2"),
])
def test_probabilities_that_are_not_distributions_are_refused(bad, message):
    probabilities = np.full((4, 3), 1 / 3)
    with pytest.raises(DataError, match=message):
        quality.label_issues(np.array([0, 1, 2, 0]), bad(probabilities))


def clustered_images(n_per_class: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """28 x 28 uint8 images in 3 classes: a class's bright square, in a place of its own, with
    random grey noise: no two images are alike."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            image = rng.integers(0, 60, size=(28, 28))
            image[4 + 6 * c:12 + 6 * c, 4:20] += 150
            images.append(image)
            labels.append(c)
    return np.array(images, dtype=np.uint8), np.array(labels)


def graph_of(images: np.ndarray, k: int = 10):
    """The exact neighbour graph of the pixels scaled to [0, 1] (the workflow's is of the PCA
    projection, whose distances are never longer)."""
    return exact_neighbours(images.reshape(len(images), -1).astype(np.float32) / 255, k)


def test_known_duplicates_are_found_within_and_across_splits():
    images, labels = clustered_images()
    is_test = np.arange(len(images)) >= 100  # 100 train, 20 test
    # exact copies: train 3 -> train 50 and test 110 (a group of three); test 105 -> test 115
    images[50] = images[110] = images[3]
    images[115] = images[105]
    # a near copy: test 112 is train 7 a grey level off in 300 pixels (0.07 apart), train 8 is
    # train 9 changed by 60 grey levels in 30 pixels (1.29 apart: a different image)
    images[112] = images[7]
    images[112].flat[:300] += 1
    images[8] = images[9]
    images[8].flat[:30] += 60
    pairs = quality.duplicate_pairs(images, is_test, graph_of(images), distance=0.5)
    found = {(int(a), int(b), bool(e)) for a, b, e in zip(pairs.first, pairs.second, pairs.exact)}
    assert found == {(3, 50, True), (3, 110, True), (105, 115, True), (7, 112, False)}
    near = pairs.distance[~pairs.exact][0]
    assert near == pytest.approx(np.sqrt(300) / 255, rel=1e-5)
    assert np.all(pairs.distance[pairs.exact] == 0)

    dataset = Dataset("planted", CLASSES[:3], images[:100], labels[:100], images[100:], labels[100:])
    table = quality_of(dataset, pairs=pairs).duplicate_table()
    rows = {(r.split_a, r.index_a, r.split_b, r.index_b, r.exact, r.across_splits) for r in table.itertuples()}
    assert rows == {("train", 3, "train", 50, True, False), ("train", 3, "test", 10, True, True),
                    ("test", 5, "test", 15, True, False), ("train", 7, "test", 12, False, True)}
    summary = quality_of(dataset, pairs=pairs).summary().iloc[0]
    assert (summary.exact_duplicate_pairs, summary.near_duplicate_pairs, summary.pairs_across_splits,
            summary.test_images_with_a_train_copy) == (3, 1, 2, 2)


def test_an_exact_group_is_named_with_its_training_image():
    """A test image that comes first in its group is still paired with the training copy."""
    images, _ = clustered_images(10)
    is_test = np.arange(len(images)) < 5  # test images first in the rows here
    images[20] = images[2]
    pairs = quality.duplicate_pairs(images, is_test, graph_of(images, 5), distance=0.5)
    assert (pairs.first.tolist(), pairs.second.tolist()) == ([20], [2])


def test_a_planted_outlier_is_ranked_first():
    images, labels = clustered_images()
    images[17] = 255 - images[17]  # a class-0 image inverted: far from every other
    projection = images.reshape(len(images), -1).astype(np.float32) / 255
    distances = quality.own_class_distances(projection, labels, neighbours=5)
    scores = quality.modified_z_scores(distances)
    assert np.argmax(scores) == 17
    assert scores[17] >= 3.5 and np.sort(scores)[-2] < 3.5
    dataset = Dataset("planted", CLASSES[:3], images[:100], labels[:100], images[100:], labels[100:])
    table = quality_of(dataset, own_class_distance=distances).outlier_table()
    assert table[["rank", "split", "index", "label"]].values.tolist() == [[1, "train", 17, "0"]]


def test_modified_z_scores_follow_iglewicz_and_hoaglin():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])  # median 3, MAD 1
    assert quality.modified_z_scores(values).tolist() == pytest.approx([-1.349, -0.6745, 0, 0.6745, 65.4265])
    # over half the values equal: the mean absolute deviation (here 97 / 5) stands in for the MAD
    assert quality.modified_z_scores(np.array([1.0, 1, 1, 1, 98])).tolist() == pytest.approx(
        [0, 0, 0, 0, 97 / (1.253314 * 97 / 5)])
    assert quality.modified_z_scores(np.ones(4)).tolist() == [0, 0, 0, 0]


def quality_of(dataset: Dataset, pairs=None, own_class_distance=None) -> quality.DataQuality:
    """A DataQuality of ``dataset`` with no label issues, and what the test plants."""
    labels = np.concatenate([dataset.train_labels, dataset.test_labels])
    n = len(labels)
    none = np.empty(0, dtype=np.int64)
    return quality.DataQuality(
        classes=dataset.classes, labels=labels, is_test=np.arange(n) >= len(dataset.train_labels),
        issues=quality.LabelIssues(none, np.ones(n, np.float32), labels.astype(np.int16),
                                   np.eye(len(dataset.classes)) / len(dataset.classes)),
        pairs=pairs or quality.DuplicatePairs(none, none, np.empty(0, np.float32), np.empty(0, bool)),
        nearest_distance=np.ones(n, np.float32),
        own_class_distance=np.ones(n) if own_class_distance is None else own_class_distance,
        outlier_threshold=3.5, near_duplicate_distance=0.5, fold_accuracy=np.array([0.9, 0.8]))


def test_label_issue_table_names_each_image_by_its_split_and_index():
    """Rows of train then test become (split, index within it), with class names."""
    images, labels = clustered_images(4)
    dataset = Dataset("named", ("cat", "dog", "eel"), images[:8], labels[:8], images[8:], labels[8:])
    base = quality_of(dataset)
    suggested = labels.astype(np.int16).copy()
    suggested[[1, 9]] = [2, 0]
    issues = quality.LabelIssues(np.array([9, 1]), np.linspace(0.1, 0.9, 12).astype(np.float32), suggested,
                                 base.issues.joint)
    table = quality.DataQuality(**{**vars(base), "issues": issues}).label_issue_table()
    assert list(table.columns) == ["rank", "split", "index", "given", "suggested", "label_quality"]
    assert table[["rank", "split", "index", "given", "suggested"]].values.tolist() == [
        [1, "test", 1, "eel", "cat"], [2, "train", 1, "cat", "eel"]]
    summary = quality.DataQuality(**{**vars(base), "issues": issues}).summary().iloc[0]
    assert (summary.label_issues, summary.label_issues_train, summary.label_issues_test) == (2, 1, 1)
    assert summary.fold_accuracy_mean == pytest.approx(0.85)
    classes = quality.DataQuality(**{**vars(base), "issues": issues}).class_table()
    assert classes.values.tolist() == [["cat", 4, 1, 1, 0], ["dog", 4, 0, 0, 0], ["eel", 4, 1, 1, 0]]
    assert isinstance(base.joint_table(), pd.DataFrame)


def test_assess_refuses_a_projection_of_a_sample():
    images, labels = clustered_images(10)
    dataset = Dataset("sampled", CLASSES[:3], images[:20], labels[:20], images[20:], labels[20:])
    probabilities = quality.OutOfSample(np.full((30, 3), 1 / 3, np.float32), np.zeros(30, np.int8), np.ones(5),
                                        labels, np.arange(30) >= 20, 1.0)
    sample = images[:25].reshape(25, -1).astype(np.float32)
    with pytest.raises(DataError) as error:
        quality.assess(dataset, probabilities, sample, graph_of(images[:25]), 0.5, 3, 3.5)
    assert str(error.value) == ("the PCA projection holds 25 images, dataset 'sampled' 30: data quality needs every "
                                "image (embed.subset: null); rebuild it")


def test_a_pair_near_in_the_projection_but_not_in_pixels_is_not_listed():
    """The graph proposes, the pixels decide: a projection may put two different images close."""
    from mnistflow.neighbours import NeighbourGraph

    images, _ = clustered_images(2)
    indices = np.array([[(i + 1) % 6] for i in range(6)])
    claimed = np.full((6, 1), 0.1, dtype=np.float32)  # every neighbour claimed within the threshold
    pairs = quality.duplicate_pairs(images, np.zeros(6, bool), NeighbourGraph(indices, claimed, "exact", 0.0), 0.5)
    assert len(pairs.first) == 0


def test_each_image_names_its_nearest_copy():
    """An image in two pairs (an exact copy, and a near one where it comes first) is shown with
    the exact copy."""
    images, labels = clustered_images(4)
    dataset = Dataset("copies", CLASSES[:3], images[:8], labels[:8], images[8:], labels[8:])
    pairs = quality.DuplicatePairs(first=np.array([2, 5]), second=np.array([5, 9]),
                                   distance=np.array([0.0, 0.3], np.float32), exact=np.array([True, False]))
    scores = quality_of(dataset, pairs=pairs).scores()
    assert scores["duplicate_of"].tolist() == [-1, -1, 5, -1, -1, 2, -1, -1, -1, 5, -1, -1]
    np.testing.assert_allclose(scores["duplicate_distance"], [np.nan, np.nan, 0, np.nan, np.nan, 0, np.nan, np.nan,
                                                              np.nan, 0.3, np.nan, np.nan], rtol=1e-6)
    assert scores["index_in_split"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]


@pytest.mark.parametrize("classes", [3, 25])
def test_every_figure_draws_with_nothing_found_and_with_many_classes(classes):
    import matplotlib.pyplot as plt

    from mnistflow.plots_quality import FIGURES, quality_figure
    from mnistflow.registry import QUALITY_FIGURES

    assert list(FIGURES) == list(QUALITY_FIGURES)
    rng = np.random.default_rng(0)
    labels = np.arange(60) % classes
    images = rng.integers(0, 255, size=(60, 28, 28), dtype=np.uint8)
    dataset = Dataset("many", tuple(f"c{c}" for c in range(classes)), images[:50], labels[:50], images[50:],
                      labels[50:])
    nothing = quality_of(dataset).scores()
    with_findings = quality_of(dataset, pairs=quality.DuplicatePairs(
        np.array([0]), np.array([55]), np.array([0.0], np.float32), np.array([True])),
        own_class_distance=np.r_[np.ones(59), 50.0]).scores()
    with_findings["nearest_distance"][:] = 0.0  # every image with an exact copy: a log axis still draws
    with_findings["near_duplicate_distance"] = np.array(0.0)  # exact copies alone
    for scores in (nothing, with_findings):
        for figure in QUALITY_FIGURES:
            plt.close(quality_figure(figure, scores, images, shown=10))


def test_the_headline_table_reads_each_summary(tmp_path):
    from docutils.core import publish_parts

    pd.DataFrame([{"images": 70000, "train_images": 60000, "test_images": 10000, "folds": 5,
                   "fold_accuracy_mean": 0.977386, "fold_accuracy_min": 0.975, "label_issues": 128,
                   "label_issues_train": 116, "label_issues_test": 12, "exact_duplicate_pairs": 0,
                   "near_duplicate_pairs": 33, "pairs_across_splits": 8, "test_images_with_a_train_copy": 5,
                   "near_duplicate_distance": 0.5, "outliers": 100, "outlier_threshold": 3.5}]).to_csv(
        tmp_path / "summary.csv", index=False)
    text = quality.headline_table({"mnist": tmp_path / "summary.csv"})
    body = publish_parts(text, writer="html", settings_overrides={"halt_level": 2})["html_body"]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", body, re.S)]
    assert cells == ["mnist", "70,000", "5-fold, 97.74%", "128 (116 train, 12 test)", "0 exact, 33 near", "5", "100"]
    assert quality.headline_table({}) == ""
