"""Data quality, measured: which cross-validation model (accuracy, planted-error detection and
time, on MNIST's training split alone: the test labels are never looked at to choose), how many
planted label errors the workflow's pipeline finds on all 70,000 images, the part's job time on
the 2-core machine, what it finds in Fashion-MNIST, and the fold model's floor of batches on a
small set (scikit-learn's digits); writes bench/results/quality-mnist.json.

    .venv/bin/python bench/quality.py [--skip-cnn]

Needs results/mnist/data/dataset.npz and results/fashion_mnist/data/dataset.npz (snakemake
results/mnist/data/dataset.npz results/fashion_mnist/data/dataset.npz). Runs the workflow's
quality rules through Snakemake (forced) for the job time. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from bench_common import machine  # noqa: E402
from mnistflow import quality  # noqa: E402
from mnistflow.config import load_yaml, validate_config  # noqa: E402
from mnistflow.datasets import load_dataset  # noqa: E402
from mnistflow.embed import PCAResult  # noqa: E402
from mnistflow.neighbours import NeighbourGraph  # noqa: E402
from mnistflow.registry import QUALITY_FIGURES, QUALITY_TABLES  # noqa: E402
from mnistflow.settings import quality_checks, quality_folds  # noqa: E402

TARGET_JOB_SECONDS = 180.0
QUALITY_RULES = ("quality_probabilities", "data_quality", "plot_quality")
FRACTIONS = (0.01, 0.05)
SEED = 0  # of the planted flips


def config() -> dict:
    return validate_config(load_yaml(ROOT / "config.yaml"), ROOT / "workflow/schemas/config.schema.yaml")


def planted_flips(labels: np.ndarray, candidates: np.ndarray, fraction: float, seed: int, classes: int):
    """``labels`` with ``fraction`` of ``candidates`` (rows) moved to another class at random."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(candidates, round(fraction * len(candidates)), replace=False)] = True
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    return noisy, flipped


def detection(noisy: np.ndarray, flipped: np.ndarray, probabilities: np.ndarray, true: np.ndarray,
              already: np.ndarray | None = None) -> dict:
    """How cleanlab's issues on ``probabilities`` find the flips. ``already``: rows flagged without
    any flip (the set's own suspects), left out of the precision that excludes them."""
    from sklearn.metrics import roc_auc_score

    issues = quality.label_issues(noisy, probabilities)
    flagged = np.zeros(len(noisy), dtype=bool)
    flagged[issues.ranked] = True
    hits = flagged & flipped
    result = {"flipped": int(flipped.sum()), "flagged": int(flagged.sum()), "found": int(hits.sum()),
              "recall": float(hits.sum() / flipped.sum()), "precision": float(hits.sum() / max(1, flagged.sum())),
              "auroc": float(roc_auc_score(flipped, -issues.label_quality)),
              "suggested_is_true_label": float(np.mean(issues.suggested[hits] == true[hits])) if hits.any() else None,
              "chance_precision": float(flipped.mean())}
    if already is not None:
        unplanted = flagged & ~flipped & already
        result["flagged_also_without_flips"] = int(unplanted.sum())
        result["precision_excluding_those"] = float(hits.sum() / max(1, flagged.sum() - unplanted.sum()))
    return result


class SmallCNN:
    """Two convolutions and a linear layer, on the pixels: a stronger, slower fold model."""

    def __init__(self, epochs: int = 3, batch_size: int = 128, lr: float = 1e-3):
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr

    def fit_predict(self, x, y, held_out, classes, seed, fold):
        import torch
        import torch.nn.functional as F

        torch.manual_seed(seed * 100 + fold)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Conv2d(16, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, classes))
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
        x, y = torch.from_numpy(x).view(-1, 1, 28, 28), torch.from_numpy(y)
        for _ in range(self.epochs):
            for batch in torch.randperm(len(x)).split(self.batch_size):
                optimizer.zero_grad()
                F.cross_entropy(model(x[batch]), y[batch]).backward()
                optimizer.step()
        with torch.no_grad():
            return torch.cat([torch.softmax(model(torch.from_numpy(h).view(-1, 1, 28, 28)), 1)
                              for h in np.array_split(held_out, 10)]).numpy()


def knn_probabilities(graph: NeighbourGraph, rows: np.ndarray, labels: np.ndarray, fold: np.ndarray, k: int,
                      classes: int) -> np.ndarray:
    """Out-of-fold kNN votes from the shared graph, among ``rows`` alone (the training split):
    each image's first ``k`` neighbours in ``rows`` and in another fold."""
    position = np.full(len(graph.indices), -1)
    position[rows] = np.arange(len(rows))
    neighbour = position[graph.indices[rows]]
    usable = (neighbour >= 0) & (fold[np.maximum(neighbour, 0)] != fold[:, None])
    usable &= np.cumsum(usable, axis=1) <= k
    votes = np.zeros((len(rows), classes))
    np.add.at(votes, (np.repeat(np.arange(len(rows)), usable.sum(axis=1)), labels[neighbour[usable]]), 1)
    votes += 0.01  # no class impossible
    return votes / votes.sum(axis=1, keepdims=True)


def model_choice(dataset, pca: PCAResult, graph: NeighbourGraph, settings: dict, skip_cnn: bool) -> dict:
    """Each candidate by 5-fold cross-validation over the training split, its labels with 5%
    flipped: accuracy against the given (unflipped) labels, and how the flips are found."""
    train = np.flatnonzero(~pca.is_test)
    true = pca.labels[train]
    classes = len(dataset.classes)
    noisy, flipped = planted_flips(true, np.arange(len(train)), 0.05, SEED, classes)
    fold = quality.stratified_folds(noisy, dataset.classes, settings["folds"], settings["seed"])
    projection = pca.projection[train]
    pixels = dataset.train_images.reshape(len(train), -1).astype(np.float32) / 255
    default = quality.FoldModel(**settings["model"])
    candidates = {
        "knn_10_on_the_graph": None,
        "logistic_on_pca": (quality.FoldModel(**{**settings["model"], "hidden": 0}), projection),
        "mlp_on_pca (the default)": (default, projection),
        "mlp_on_pixels": (default, pixels),
    }
    if not skip_cnn:
        candidates["cnn_3_epochs_on_pixels"] = (SmallCNN(), pixels)
    results = {}
    for name, candidate in candidates.items():
        started = time.perf_counter()
        if candidate is None:
            probabilities = knn_probabilities(graph, train, noisy, fold, 10, classes)
        else:
            model, features = candidate
            x = np.ascontiguousarray(features / (features.std() if features is projection else 1), dtype=np.float32)
            probabilities = np.zeros((len(train), classes), dtype=np.float32)
            for k in range(settings["folds"]):
                held = fold == k
                probabilities[held] = model.fit_predict(x[~held], noisy[~held], x[held], classes, settings["seed"], k)
        seconds = time.perf_counter() - started
        results[name] = {"seconds": seconds, "accuracy_on_given_labels": float(np.mean(probabilities.argmax(1) == true)),
                         **detection(noisy, flipped, probabilities, true)}
        print(name, json.dumps(results[name]), flush=True)
    return results


def planted(dataset, pca: PCAResult, settings: dict) -> dict:
    """The workflow's pipeline on every image, with 1% and 5% of the training labels flipped."""
    labels = pca.labels
    classes = len(dataset.classes)
    model = quality.FoldModel(**settings["model"])

    def probabilities(given):
        return quality.out_of_sample_probabilities(pca.projection, given, pca.is_test, dataset.classes, model,
                                                   settings["folds"], settings["seed"]).probabilities

    clean = probabilities(labels)
    already = np.zeros(len(labels), dtype=bool)
    already[quality.label_issues(labels, clean).ranked] = True
    results = {"flagged_without_flips": int(already.sum())}
    for fraction in FRACTIONS:
        noisy, flipped = planted_flips(labels, np.flatnonzero(~pca.is_test), fraction, SEED, classes)
        results[f"{fraction:g}"] = detection(noisy, flipped, probabilities(noisy), labels, already)
        print(fraction, json.dumps(results[f"{fraction:g}"]), flush=True)
    return results


def rule_seconds(dataset: str) -> dict:
    """The quality rules' job times from their Snakemake benchmark files."""
    seconds = {}
    for rule in QUALITY_RULES:
        for tsv in sorted((ROOT / "results/benchmarks" / dataset).glob(f"{rule}*.tsv")):
            lines = tsv.read_text().splitlines()
            seconds[tsv.stem] = float(lines[1].split("\t")[0])
    return seconds


def run_part(dataset: str) -> dict:
    """Every output of the part through Snakemake, its rules forced (the PCA and the graph, shared
    with the embeddings, are built if missing and not counted)."""
    targets = [f"results/{dataset}/quality/{name}" for name in QUALITY_TABLES] + [
        f"results/{dataset}/quality/{figure}.png" for figure in QUALITY_FIGURES]
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--config", f"datasets=[{dataset}]",
                    "--forcerun", *QUALITY_RULES, "--", *targets], cwd=ROOT, check=True, capture_output=True)
    seconds = rule_seconds(dataset)
    import pandas as pd

    row = pd.read_csv(ROOT / f"results/{dataset}/quality/summary.csv").iloc[0].to_dict()
    summary = {key: value.item() if hasattr(value, "item") else value for key, value in row.items()}
    scores = np.load(ROOT / f"results/{dataset}/quality/scores.npz")
    nearest = scores["nearest_distance"]
    return {"job_seconds": seconds, "total_job_seconds": sum(seconds.values()), "summary": summary,
            "nearest_distance_min": float(nearest.min()),
            "nearest_distance_quantiles": {q: float(np.quantile(nearest, float(q)))
                                           for q in ("0.0005", "0.001", "0.01", "0.5")},
            "images_nearer_than_the_threshold": int(np.sum(nearest <= summary["near_duplicate_distance"]))}


def small_set(settings: dict) -> dict:
    """scikit-learn's digits (1,797), 5% of labels flipped: the default fold model with and
    without its floor of batches."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels, labels = digits.data.astype(np.float32) / 16, digits.target.astype(np.int64)
    is_test = np.arange(len(labels)) >= 1438
    noisy, flipped = planted_flips(labels, np.arange(len(labels)), 0.05, SEED, 10)
    results = {}
    for name, floor in (("without_min_batches", 0), ("default", settings["model"]["min_batches"])):
        model = quality.FoldModel(**{**settings["model"], "min_batches": floor})
        started = time.perf_counter()
        out = quality.out_of_sample_probabilities(pixels, noisy, is_test, tuple(map(str, range(10))), model,
                                                  settings["folds"], settings["seed"])
        results[name] = {"epochs": model.epochs_for(int(len(labels) * 4 / 5)), "seconds": time.perf_counter() - started,
                         "fold_accuracy_mean": float(out.fold_accuracy.mean()),
                         **detection(noisy, flipped, out.probabilities, labels)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cnn", action="store_true", help="leave the slowest candidate out")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # as the workflow's training jobs (train.threads)
    settings = quality_folds(config())
    report = {"machine": machine(), "settings": {**settings, **quality_checks(config())}}
    # the job time first, on a quiet machine, and the PCA and graph it leaves for the rest
    report["mnist"] = run_part("mnist")
    report["job_seconds_target"] = TARGET_JOB_SECONDS
    report["job_seconds_target_met"] = report["mnist"]["total_job_seconds"] <= TARGET_JOB_SECONDS
    report["fashion_mnist"] = run_part("fashion_mnist")
    dataset = load_dataset(ROOT / "results/mnist/data/dataset.npz")
    pca = PCAResult.load(ROOT / "results/mnist/embed/pca50.npz")
    graph = NeighbourGraph.load(ROOT / "results/mnist/embed/knn.npz")
    report["model_choice_on_the_training_split"] = model_choice(dataset, pca, graph, settings, args.skip_cnn)
    report["planted"] = planted(dataset, pca, settings)
    report["small_set_digits"] = small_set(settings)
    out = ROOT / "bench/results/quality-mnist.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
