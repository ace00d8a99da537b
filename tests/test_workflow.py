"""The workflow through the Snakemake CLI, on the tiny run: scikit-learn's real digits as a folder of
PNGs in class folders, and a synthetic IDX dataset as the transfer source."""

from __future__ import annotations

import re
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from tiny_workflow import REPO, jobs, snakemake, write_config

from mnistflow.datasets import load_dataset
from mnistflow.embed import Embedding, knn_accuracy
from mnistflow.neighbours import NeighbourGraph
from mnistflow.optimizers import pick_learning_rate
from mnistflow.predictions import Predictions
from mnistflow.quality import OutOfSample
from mnistflow.stats import Summary

pytestmark = pytest.mark.workflow

INTROSPECT_FILES = [
    "weights.npz",
    "gradients.npz",
    "weights.gif",
    "weights.html",
    "weights-sheet.png",
    "weight_bands.png",
    "gradient_flow.png",
    "gradient_norms.png",
    "gradients.gif",
    "gradients.html",
    "gradients-sheet.png",
    "filters.png",
    "feature_maps.png",
    "linear_weights.png",
    "logits.png",
    "saliency.png",
    "mistakes.png",
    "hidden_layers.npz",
]

GAN_FILES = [
    "generator.pt",
    "losses.csv",
    "frames.npz",
    "fresh_samples.npz",
    "gan_quality.csv",
    "gan_quality.html",
    "samples.gif",
    "samples.html",
    "samples-sheet.png",
    "losses.png",
    "quality.png",
    "classes.png",
    "pixel_histograms.png",
]

STATS_OUTPUTS = [
    "stats.csv",
    "stats.html",
    "summary.npz",
    "samples.png",
    "class_means.png",
    "class_stds.png",
    "pixel_histograms.png",
    "mean_intensity.png",
    "class_counts.png",
    "train_vs_test.png",
    "conversion.png",
]


def test_every_stats_output_is_produced(tiny_run):
    stats = tiny_run["workdir"] / "results/tiny/stats"
    assert sorted(p.name for p in stats.iterdir()) == sorted(STATS_OUTPUTS)
    for name in STATS_OUTPUTS:
        if name.endswith(".png"):
            with Image.open(stats / name) as image:
                assert image.format == "PNG" and min(image.size) > 100
    # the digits folder goes straight into the cache; the IDX transfer source is acquired
    assert not (tiny_run["workdir"] / "resources/tiny").exists()
    log = (tiny_run["workdir"] / "results/logs/tiny/ingest_cache.log").read_text()
    assert f"{tiny_run['workdir'] / 'digits'}: 1,797 images in 10 classes, a stratified test split drawn" in log
    assert "train (1438, 28, 28), test (359, 28, 28), 10 classes; content digest " in log
    assert (tiny_run["workdir"] / "results/benchmarks/tiny/ingest_cache.tsv").is_file()
    assert (tiny_run["workdir"] / "resources/other/raw/train-images-idx3-ubyte").is_file()
    log = (tiny_run["workdir"] / "results/logs/other/acquire_raw.log").read_text()
    assert "[local] trying local directory" in log and "[local] ok" in log
    assert (tiny_run["workdir"] / "results/benchmarks/tiny/stats_summary.tsv").is_file()


EMBED_OUTPUTS = (
    ["embed_quality.csv", "embed_quality.html", "embed_quality.png", "pca50.npz", "pca.npz", "knn.npz", "tsne-auto.npz",
     "umap.npz", "explorer.html"]
    + [f"pca-{f}.png" for f in ("3d", "variance", "components")]
    + [f"{m}-{f}.png" for m in ("pca", "tsne-auto", "umap") for f in ("scatter", "classes", "axes", "values")]
)


def test_every_embedding_output_is_produced(tiny_run):
    embed = tiny_run["workdir"] / "results/tiny/embed"
    assert sorted(p.name for p in embed.iterdir()) == sorted(EMBED_OUTPUTS)
    quality = pd.read_csv(embed / "embed_quality.csv")
    assert list(quality.method) == ["pca", "tsne-auto", "umap"]
    for row in quality.itertuples():
        embedding = Embedding.load(embed / f"{row.method}.npz")
        assert embedding.coords.shape == (1797, 2) and np.isfinite(embedding.coords).all()  # every digit
        assert row.knn_accuracy == pytest.approx(knn_accuracy(embedding, 10))
        assert 0.5 < row.trustworthiness <= 1.0
    tsne = Embedding.load(embed / "tsne-auto.npz")
    assert tsne.params["backend"] == "opentsne"  # picked by the job: no GPU here, two fake ones in the DAG
    assert tsne.params["perplexity"] == 30 and tsne.params["seed"] == 7 and tsne.params["points"] == 1797
    assert quality.set_index("method").kl_divergence["tsne-auto"] == pytest.approx(tsne.params["kl_divergence"])
    assert quality.set_index("method").kl_divergence[["pca", "umap"]].isna().all()


QUALITY_OUTPUTS = ["probabilities.npz", "scores.npz", "label_issues.csv", "label_issues.html", "label_joint.csv",
                   "duplicates.csv", "outliers.csv", "classes.csv", "summary.csv", "label_issues.png",
                   "label_matrix.png", "duplicates.png", "outliers.png"]


def test_data_quality_of_every_image(tiny_run):
    """The real digits: every image scored out of sample, the suspected errors named by split and
    index with their given label, the headline in the report's description."""
    workdir = tiny_run["workdir"]
    quality = workdir / "results/tiny/quality"
    assert sorted(p.name for p in quality.iterdir()) == sorted(QUALITY_OUTPUTS)
    dataset = load_dataset(workdir / "results/tiny/data/dataset.npz")
    probabilities = OutOfSample.load(quality / "probabilities.npz")
    assert probabilities.probabilities.shape == (1797, 10)
    assert np.allclose(probabilities.probabilities.sum(axis=1), 1, atol=1e-5)
    for label in range(10):  # each class dealt round the 5 folds
        counts = np.bincount(probabilities.fold[probabilities.labels == label], minlength=5)
        assert counts.max() - counts.min() <= 1
    summary = pd.read_csv(quality / "summary.csv").iloc[0]
    assert (summary.images, summary.train_images, summary.test_images, summary.folds) == (1797, 1438, 359, 5)
    assert summary.fold_accuracy_mean == pytest.approx(probabilities.fold_accuracy.mean())
    assert summary.fold_accuracy_min > 0.85
    issues = pd.read_csv(quality / "label_issues.csv", dtype={"given": str, "suggested": str})
    assert len(issues) == summary.label_issues > 0
    assert list(issues["rank"]) == list(range(1, len(issues) + 1))
    files = np.load(workdir / "results/tiny/data/dataset.npz")
    found = {}
    for row in issues.itertuples():
        label = dataset.split(row.split)[1][row.index]
        assert row.given == dataset.classes[label]
        image_row = row.index + (len(dataset.train_labels) if row.split == "test" else 0)
        assert row.label_quality == pytest.approx(probabilities.probabilities[image_row, label], rel=1e-5)
        assert row.suggested == dataset.classes[probabilities.probabilities[image_row].argmax()]
        found[str(files[f"{row.split}_files"][row.index])] = row.suggested
    # the 10 files moved to a wrong class folder: most found, each with its true class suggested
    planted = tiny_run["planted_label_errors"]
    caught = {path: found[path] for path in planted if path in found}
    assert len(caught) >= 8, f"found {sorted(caught)} of {sorted(planted)}"
    assert all(suggested == planted[path] for path, suggested in caught.items())
    assert len(caught) / len(issues) >= 0.5  # precision, where the set's own suspects count against it
    # the planted copy, the one exact pair: named by split and index, found whichever split each is in
    pairs = pd.read_csv(quality / "duplicates.csv")
    exact = pairs[pairs.exact]
    assert len(exact) == summary.exact_duplicate_pairs == 1
    pair = exact.iloc[0]
    named = {str(files[f"{pair.split_a}_files"][pair.index_a]), str(files[f"{pair.split_b}_files"][pair.index_b])}
    assert named == set(tiny_run["planted_duplicate"]) and pair.distance == 0
    assert pair.across_splits == (pair.split_a != pair.split_b)
    outliers = pd.read_csv(quality / "outliers.csv")
    assert len(outliers) == summary.outliers and (outliers.score >= 3.5).all()
    assert pd.read_csv(quality / "classes.csv").images.sum() == 1797
    headline = (workdir / "results/report/headline.rst").read_text()
    assert "Data quality" in headline and f"{int(summary.label_issues)} (" in headline


def test_every_embedding_reads_the_one_neighbour_graph(tiny_run):
    """The graph is built once; t-SNE and UMAP both take it as input, and their logs say they
    used it: forcing the graph reruns exactly them (and what depends on them)."""
    workdir = tiny_run["workdir"]
    graph = NeighbourGraph.load(workdir / "results/tiny/embed/knn.npz")
    assert graph.search == "exact" and graph.indices.shape == (1797, 90)  # 3 x perplexity 30
    result = snakemake(workdir, "--cores", "1", "--configfile", "config.yaml", "-n", "--forcerun", "knn")
    planned = jobs(result)
    assert planned["knn"] == 1 and planned["tsne"] == 1 and planned["umap"] == 1 and "pca" not in planned
    assert planned["embed_quality"] == 1  # the quality table reads the graph too: neighbours kept
    quality = pd.read_csv(workdir / "results/tiny/embed/embed_quality.csv")
    assert quality.neighbours_kept.between(0, 1).all() and quality.set_index("method").neighbours_kept["umap"] > 0.1
    for method in ("tsne-auto", "umap"):
        embedding = Embedding.load(workdir / f"results/tiny/embed/{method}.npz")
        assert embedding.params["neighbour_search"] == "exact"
        assert embedding.params["seconds_neighbour_graph"] == pytest.approx(graph.seconds)


def test_a_new_tsne_setting_reruns_tsne_and_not_the_graph(tiny_run):
    workdir = tiny_run["workdir"]
    target = "results/tiny/embed/tsne-auto.npz"  # auto's settings hold openTSNE's
    result = snakemake(workdir, "--cores", "1", "--configfile", "config.yaml", "-n", target,
                       "--config", "embed={tsne: {opentsne: {iterations: 60}}}")
    assert jobs(result) == {"tsne": 1}


def test_training_runs_and_a_diverged_run_does_not_stop_the_workflow(tiny_run):
    train = tiny_run["workdir"] / "results/tiny/train"
    for run in ("quick", "blowup", "first", "second", "best"):
        # train.best_run's predictions feed the embedding explorer
        predictions = {"test_predictions.npz"} if run == tiny_run["config"]["train"].get("best_run", "best") else set()
        assert {p.name for p in (train / run).iterdir()} == {"model.pt", "metrics.csv", "curves.png"} | predictions
    best = pd.read_csv(train / "best/metrics.csv")
    predictions = Predictions.load(train / "best/test_predictions.npz")
    # the checkpoint holds the selected epoch: its predictions score what that epoch's row says
    assert predictions.accuracy == pytest.approx(best[best.selected].test_accuracy.item(), abs=1e-12)
    assert len(predictions.labels) == 359 and predictions.run == "best"  # the drawn test split
    assert ((predictions.confidence >= 0.1) & (predictions.confidence <= 1)).all()  # the top of 10 classes
    quick = pd.read_csv(train / "quick/metrics.csv")
    assert list(quick.epoch) == [1, 2] and set(quick.status) == {"ok"}
    # selected on the 60 held-out training images; the test set scored for that epoch alone
    assert quick.selected.sum() == 1 and quick.test_accuracy.notna().sum() == 1
    assert quick[quick.selected].test_accuracy.item() > 0.2
    blowup = pd.read_csv(train / "blowup/metrics.csv")
    assert blowup.status.iloc[-1] == "diverged"
    assert "marked diverged" in (tiny_run["workdir"] / "results/logs/tiny/train-blowup.log").read_text()
    # train.cuda_graphs: auto, and the jobs ran on the CPU (under two fake GPUs): no step replayed
    assert torch.load(train / "quick/model.pt", weights_only=True)["cuda_graph_replays"] == 0
    assert ("CUDA graphs (train.cuda_graphs: auto): 0 steps replayed"
            in (tiny_run["workdir"] / "results/logs/tiny/train-quick.log").read_text())


def test_every_gpu_job_leased_a_device(tiny_run):
    workdir = tiny_run["workdir"]
    gpu_rules = {"train", "train_recorded", "optimizer_sweep", "optimizer_seeds", "gan_train", "transfer_features",
                 "transfer_strategy", "tsne"}  # t-SNE's auto may pick torch: it holds a GPU where one is given
    logs = [path for path in (workdir / "results/logs").rglob("*.log")
            if re.match(r".* rule (\w+),", path.read_text()).group(1) in gpu_rules]
    assert len(logs) > 20
    for path in logs:
        assert re.search(r"leased GPU\(s\) [01] of 0, 1: CUDA_VISIBLE_DEVICES=[01]\n", path.read_text()), path
    # two one-thread GPU jobs may run at once on two cores, each on its own device
    assert {p.name for p in (workdir / ".snakemake/gpu-leases").iterdir()} <= {"gpu-0.lock", "gpu-1.lock"}


def test_leaderboard_lists_every_run(tiny_run):
    table = pd.read_csv(tiny_run["workdir"] / "results/tiny/train/leaderboard.csv")
    assert set(table.run) == {"quick", "blowup", "first", "second", "best", "first-Adam-lr0p001-e1-bs32"}
    assert table.iloc[-1].run == "blowup" and table.iloc[-1].status == "diverged"
    assert table.validation_accuracy.dropna().is_monotonic_decreasing


def test_optimizer_comparison_covers_both_protocols(tiny_run):
    optimizers = tiny_run["workdir"] / "results/tiny/optimizers"
    table = pd.read_csv(optimizers / "optimizers.csv")
    assert sorted(table[table.protocol == "article"].optimizer) == sorted(
        ["sgd_momentum", "rmsprop", "adam", "adadelta", "adagrad"])
    assert sorted(table[table.protocol == "tuned"].optimizer) == ["adam", "sgd"]
    assert (table.seeds == 2).all()
    assert (optimizers / "optimizers-curves.png").is_file() and (optimizers / "optimizers-bars.png").is_file()
    sweep = pd.read_csv(optimizers / "sweep/adam.csv")
    # the one-lr sweep (1e-3) is its own edge, so it tries one more step below (sweep_extensions: 1)
    assert sweep.lr.tolist() == pytest.approx([1e-3 / 3] * 2 + [1e-3] * 2)  # two sweep seeds each
    assert sweep.seed.tolist() == [10, 11, 10, 11]  # sweep seeds apart from the compared ones
    tuned_adam = table[(table.protocol == "tuned") & (table.optimizer == "adam")].iloc[0]
    assert tuned_adam.lr == pick_learning_rate(sweep)


def test_introspection_of_the_recorded_runs(tiny_run):
    from mnistflow.atomic import load_arrays

    for run in ("second", "best"):
        folder = tiny_run["workdir"] / "results/tiny/introspect" / run
        assert {p.name for p in folder.iterdir()} == set(INTROSPECT_FILES)
        weights, gradients = load_arrays(folder / "weights.npz"), load_arrays(folder / "gradients.npz")
        assert len(weights["step"]) == len(gradients["step"]) > 0
        assert (weights["counts"].sum(axis=2) == weights["sizes"]).all()
        with Image.open(folder / "weights.gif") as gif:
            assert gif.n_frames == len(weights["step"])
    # runs without introspection record nothing
    assert not (tiny_run["workdir"] / "results/tiny/introspect/quick").exists()


def test_both_gans_are_trained_scored_and_plotted(tiny_run):
    for model in ("cgan_mlp", "dcgan"):
        folder = tiny_run["workdir"] / "results/tiny/gan" / model
        assert {p.name for p in folder.iterdir()} == set(GAN_FILES)
        quality = pd.read_csv(folder / "gan_quality.csv")
        assert quality.epoch.astype(str).tolist() == ["1", "2", "final", "real data"]
        # scored with the best run's classifier, which the DAG shares with the training part
        assert quality.classifier.iloc[0] == "results/tiny/train/best/model.pt"
        with Image.open(folder / "samples.gif") as gif:
            assert gif.n_frames == 2


def test_transfer_tables_and_figures_for_both_sources(tiny_run):
    workdir = tiny_run["workdir"]
    for pair, strategies in (("other_to_tiny", ["scratch", "frozen", "finetune"]),
                             ("imagenet_resnet18_to_tiny", ["frozen", "finetune"])):
        folder = workdir / "results/transfer" / pair
        assert {p.name for p in folder.iterdir()} == {"features.npz", "runs", "transfer.csv", "transfer.html",
                                                      "label_efficiency.png"}
        table = pd.read_csv(folder / "transfer.csv", dtype={"budget": str})
        assert table.strategy.unique().tolist() == strategies
        assert len(table) == len(strategies) * 2 * 2  # budgets x seeds
        # a budget is every label a run saw: 1 of each class's 2 held out to validate on; of the full
        # set's 1,438 (128 to 146 a class), 20% of each class
        assert set(table[table.budget == "2"].labels) == {20} and set(table[table.budget == "2"].validation_images) == {10}
        counts = np.bincount(load_dataset(workdir / "results/tiny/data/dataset.npz").train_labels)
        assert set(table[table.budget == "full"].labels) == {1438}
        assert set(table[table.budget == "full"].validation_images) == {sum(round(0.2 * n) for n in counts)}
        # each run kept one of transfer.lr x lr_factors [1, 3], picked on its validation images
        assert (table.lrs_tried == 2).all()
        for strategy, rows in table.groupby("strategy"):
            base = {"scratch": 0.01, "frozen": 0.03, "finetune": 0.01}[strategy]
            assert set(rows.lr.round(6)) <= {base, 3 * base}
        assert table.test_accuracy.between(0, 1).all() and (table.seconds > 0).all()
        assert table.steps.between(1, 5).all() and set(table.stopped) <= {"converged", "cap"}  # max_steps: 5
        with Image.open(folder / "label_efficiency.png") as image:
            assert image.format == "PNG"
    # the source's checkpoint is the one train.best_run trained on it, through the DAG
    assert (workdir / "results/other/train/best/model.pt").is_file()
    assert not (workdir / "results/other/introspect").exists()
    log = (workdir / "results/logs/transfer/other_to_tiny/frozen.log").read_text()
    assert re.search(r"frozen budget 2 seed 1: lr 0\.0[39] kept, test accuracy [\d.]+ \(20 labels, 10 of them to "
                     r"validate on;", log)


def test_missing_imagenet_weights_fail_the_job_saying_where_to_put_them(tiny_run, tmp_path):
    workdir = tiny_run["workdir"]
    target = "results/transfer/imagenet_vgg16_to_tiny/features.npz"
    empty = tmp_path / "empty-torch-home"
    result = snakemake(workdir, target, "--cores", "1", "--configfile", "config.yaml", check=False,
                       torch_home=empty)
    assert result.returncode != 0
    log = (workdir / "results/logs/transfer/imagenet_vgg16_to_tiny/features.log").read_text()
    assert "no ImageNet weights for vgg16: download is off (transfer.imagenet.download: false)" in log
    expected = empty / "hub/checkpoints/vgg16-397923af.pth"
    assert "Put the file vgg16-397923af.pth" in log and str(expected) in log
    assert not (workdir / target).exists()


def test_unconfigured_transfer_pair_is_named(tmp_path, tiny):
    write_config(tmp_path, {"datasets": ["tiny"], "custom_datasets": {"tiny": tiny["entry"]},
                            "data": {"sources": ["local"], "local_dirs": {"tiny": str(tiny["dir"])}},
                            "transfer": {"pairs": []}})
    result = snakemake(tmp_path, "results/transfer/mnist_to_tiny/transfer.csv", "--cores", "1",
                       "--configfile", "config.yaml", "-n", check=False)
    assert result.returncode != 0
    assert ("transfer mnist to tiny is not configured: add it to transfer.pairs (or transfer.imagenet)"
            in result.stdout + result.stderr)


def test_unknown_training_run_is_named(tiny_run):
    result = snakemake(tiny_run["workdir"], "--cores", "1", "--configfile", "config.yaml", "-n",
                       "results/tiny/train/nope/model.pt", check=False)
    assert result.returncode != 0
    assert ("unknown training run 'nope'; train.runs and train.search define: best, blowup, "
            "first, first-Adam-lr0p001-e1-bs32, quick, second") in result.stdout + result.stderr


@pytest.mark.parametrize("override, key", [("train={best_run: nope}", "train.best_run"),
                                           ("introspect={runs: [nope]}", "introspect.runs")])
def test_runs_named_in_the_config_must_exist(tiny_run, override, key):
    result = snakemake(tiny_run["workdir"], "--cores", "1", "--configfile", "config.yaml", "-n",
                       "--config", override, check=False)
    assert result.returncode != 0
    assert f"{key}: 'nope' is not a run of train.runs or train.search" in result.stdout + result.stderr


def test_null_on_the_command_line_switches_off_a_default_run_the_search_gans_and_transfers(tmp_path):
    """Snakemake merges --config's nested keys into config.yaml's: a null takes one away."""
    default = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"))
    off = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"), "--config",
                    "train={runs: {first: null}, search: {grid: null}}", "gan={models: null}", "transfer={pairs: null}")
    assert {"train", "gan_train", "transfer_strategy"} <= set(jobs(default))
    assert not {"train", "gan_train", "transfer_strategy"} & set(jobs(off))
    for run in ("first", "best-Adam-lr0p001-e1-bs64"):
        assert f"results/mnist/train/{run}/" in default.stdout and f"results/mnist/train/{run}/" not in off.stdout
    assert "results/mnist/train/second/" in off.stdout and "results/mnist/train/best/" in off.stdout
    refused = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"), "--config",
                        "train={runs: {best: null}}", check=False)
    assert refused.returncode != 0
    assert "train.best_run: run 'best' is switched off (train.runs.best: null)" in refused.stdout + refused.stderr


def test_one_tsne_backend_by_file_name(tiny_run):
    target = "results/tiny/embed/tsne-multicore.npz"
    result = snakemake(tiny_run["workdir"], "--cores", "1", "--configfile", "config.yaml", "-n", target)
    assert jobs(result) == {"tsne": 1}


def test_stats_csv_matches_direct_computation(tiny_run):
    table = pd.read_csv(tiny_run["workdir"] / "results/tiny/stats/stats.csv", dtype={"label": str})
    dataset = load_dataset(tiny_run["workdir"] / "results/tiny/data/dataset.npz")
    arrays = {f"{split}_{kind}": getattr(dataset, f"{split}_{kind}") for split in ("train", "test")
              for kind in ("images", "labels")}
    for split in ("train", "test"):
        images = arrays[f"{split}_images"].astype(np.float64) / 255
        labels = arrays[f"{split}_labels"]
        row = table[(table.split == split) & (table.label == "all")].iloc[0]
        assert row.images == len(images)
        assert row.mean_intensity == pytest.approx(images.mean(), rel=1e-9)
        assert row.std_intensity == pytest.approx(images.std(), rel=1e-9)
        row7 = table[(table.split == split) & (table.label == "7")].iloc[0]
        assert row7.mean_intensity == pytest.approx(images[labels == 7].mean(), rel=1e-9)
    summary = Summary.load(tiny_run["workdir"] / "results/tiny/stats/summary.npz")
    assert summary.splits["test"].counts.sum() == len(arrays["test_labels"])


def test_the_default_workflow_profile_applies_unless_turned_off(tiny_run):
    workdir = tiny_run["workdir"]
    with_profile = snakemake(workdir, "--configfile", "config.yaml", "-n")
    assert f"workflow specific profile {REPO / 'profiles/default'}" in with_profile.stderr
    without = snakemake(workdir, "--workflow-profile", "none", "--cores", "1", "--configfile", "config.yaml", "-n")
    assert "profile" not in without.stderr and "Nothing to be done" in without.stdout + without.stderr


def test_second_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run["workdir"], "--cores", "2", "--configfile", "config.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout + result.stderr


def test_a_file_moved_to_another_class_reruns_the_dataset_and_everything_after_it_and_only_then(tiny_run):
    workdir = tiny_run["workdir"]
    moved = sorted((workdir / "digits/3").iterdir())[0]
    relabelled = workdir / "digits/5" / moved.name
    moved.rename(relabelled)
    try:
        planned = jobs(snakemake(workdir, "--cores", "2", "--configfile", "config.yaml", "-n"))
    finally:
        relabelled.rename(moved)
    assert planned["ingest_cache"] == 1 and planned["tsne"] == 1 and planned["gan_train"] == 2
    assert "acquire_raw" not in planned and "dataset_cache" not in planned  # the IDX source is untouched
    # moved back, the content is what the run read: nothing to do
    result = snakemake(workdir, "--cores", "2", "--configfile", "config.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_one_plots_parameters_reruns_only_that_plot(tiny_run):
    workdir = tiny_run["workdir"]
    stats = workdir / "results/tiny/stats"
    before = {p.name: p.stat().st_mtime_ns for p in stats.iterdir()}
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["stats"] = {"pixel_histograms": {"bins": 8}}
    write_config(workdir, config)
    planned = snakemake(workdir, "--cores", "2", "--configfile", "config.yaml", "-n")
    assert jobs(planned) == {"all": 1, "plot_stats": 1}  # the one figure whose options changed
    snakemake(workdir, "--cores", "2", "--configfile", "config.yaml")
    after = {p.name: p.stat().st_mtime_ns for p in stats.iterdir()}
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"pixel_histograms.png"}


def test_restyling_the_drawn_tables_recomputes_none_of_them(tiny_run):
    """The leaderboard, the embedding comparison, the optimizer comparison and the transfer
    figures are drawn by jobs of their own from the tables: forcing the drawing jobs reruns no
    job that computes, and the tables stay as they were."""
    workdir = tiny_run["workdir"]
    drawing = ["plot_leaderboard", "plot_embed_quality", "plot_optimizers", "plot_transfer"]
    planned = snakemake(workdir, "--cores", "2", "--configfile", "config.yaml", "-n", "--forcerun", *drawing)
    assert set(jobs(planned)) == {"all", *drawing}
    original = (workdir / "config.yaml").read_text()
    config = yaml.safe_load(original)
    config["embed"]["point_size"] = 3.5
    write_config(workdir, config)
    try:
        planned = snakemake(workdir, "--cores", "2", "--configfile", "config.yaml", "-n")
    finally:
        (workdir / "config.yaml").write_text(original)
    assert "embed_quality" not in jobs(planned) and "plot_embed_quality" in jobs(planned)


def test_rebuilding_one_figure_by_file_name(tiny_run):
    workdir = tiny_run["workdir"]
    target = "results/tiny/stats/class_means.png"
    result = snakemake(workdir, "--cores", "1", "--configfile", "config.yaml", "--forcerun", target, "-n", target)
    assert jobs(result) == {"plot_stats": 1}
    assert "output: results/tiny/stats/class_means.png" in result.stdout + result.stderr
    # one rule draws every statistics figure: --forcerun by its name redraws the eight (a folder's
    # dataset has the conversion figure)
    result = snakemake(workdir, "--cores", "1", "--configfile", "config.yaml", "--forcerun", "plot_stats", "-n")
    assert jobs(result) == {"all": 1, "plot_stats": 8}


def test_invalid_config_fails_before_any_job_naming_the_key(tmp_path):
    write_config(tmp_path, {"datasets": ["mnist"], "stats": {"pixel_histograms": {"bins": 0}}})
    result = snakemake(tmp_path, "--cores", "1", "--configfile", "config.yaml", "-n", check=False)
    assert result.returncode != 0
    assert "config key stats.pixel_histograms.bins: 0 is less than the minimum of 2" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_config_override_on_the_command_line(tiny_run):
    result = snakemake(
        tiny_run["workdir"], "--cores", "1", "--configfile", "config.yaml", "-n",
        "--config", "stats={train_vs_test: {bins: 5}}",
    )
    assert jobs(result) == {"all": 1, "plot_stats": 1}
    assert "output: results/tiny/stats/train_vs_test.png" in result.stdout + result.stderr


def test_unobtainable_data_fails_with_every_source_listed(tmp_path, tiny):
    config = {
        "datasets": ["tiny"],
        "data": {"sources": ["local"], "local_dirs": {"tiny": str(tmp_path / "nowhere")}},
        "custom_datasets": {"tiny": tiny["entry"]},
        "transfer": {"pairs": []},
    }
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", "--configfile", "config.yaml", check=False)
    assert result.returncode != 0
    log = (tmp_path / "results/logs/tiny/acquire_raw.log").read_text()
    assert "could not obtain dataset 'tiny'" in log
    assert f"local directory {tmp_path / 'nowhere'}: DataError: {tmp_path / 'nowhere'} is not a directory" in log
    assert not (tmp_path / "resources/tiny/raw/train-images-idx3-ubyte").exists()


# a sitecustomize that makes importing the heavy libraries fail
HEAVY_IMPORTS_BLOCKED = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "torchvision", "matplotlib"}:
            raise ImportError(f"{name} imported while building the DAG")
sys.meta_path.insert(0, Blocked())
"""


def test_dry_run_of_the_default_config_lists_every_rule_without_importing_torch_or_matplotlib(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site/sitecustomize.py").write_text(HEAVY_IMPORTS_BLOCKED)
    path = os.pathsep.join(filter(None, [str(tmp_path / "site"), os.environ.get("PYTHONPATH")]))
    result = snakemake(tmp_path, "--cores", "2", "-n", "--configfile", str(REPO / "config.yaml"),
                       env={"PYTHONPATH": path})
    rules = set(snakemake(tmp_path, "--list-rules").stdout.split())
    # every rule but a folder's or npz's cache (the tiny run runs it): MNIST comes as IDX files
    assert rules and set(jobs(result)) == rules - {"ingest_cache"}


def test_the_dag_is_the_same_whatever_gpus_the_machine_that_builds_it_has(tmp_path):
    """t-SNE's auto is decided by its job (under SLURM the machine that builds the DAG is the
    login node): the same jobs and files with four GPUs and with none."""
    def outputs(gpus: str) -> list[str]:
        result = snakemake(tmp_path, "--cores", "2", "-n", "--configfile", str(REPO / "config.yaml"),
                           env={"MNISTFLOW_GPU_COUNT": gpus})
        return sorted(line.strip() for line in result.stdout.splitlines() if line.strip().startswith("output:"))

    with_gpus = outputs("4")
    assert with_gpus == outputs("0")
    assert any("results/mnist/embed/tsne-auto.npz" in line for line in with_gpus)


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_snakefmt_is_clean():
    snakefmt = Path(sys.executable).parent / "snakefmt"
    result = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


GPU_RULES = {"train", "train_recorded", "optimizer_sweep", "optimizer_seeds", "gan_train", "transfer_features",
             "transfer_strategy"}


@pytest.mark.parametrize("gpus, asked", [("0", "gpu=0"), ("1", "gpu=1")])
def test_every_job_writes_a_benchmark_and_asks_for_a_gpu_only_where_there_is_one(tmp_path, monkeypatch, gpus,
                                                                                  asked):
    """bench/run.py sums job times from the benchmark files; on a machine without a GPU the GPU
    jobs ask for none, so the default profile's gpu: 1 does not run them one at a time."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # else it, not the count, names the devices
    result = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config.yaml"), env={"MNISTFLOW_GPU_COUNT": gpus})
    blocks = [b for b in re.split(r"\n\s*\n", result.stdout + result.stderr) if re.search(r"^(local)?rule \w+:", b, re.M)]
    rules = {re.search(r"^(?:local)?rule (\w+):", b, re.M).group(1): b for b in blocks}
    assert set(rules) - {"all"} == set(snakemake(tmp_path, "--list-rules").stdout.split()) - {"all", "ingest_cache"}
    for rule, block in rules.items():
        if rule != "all":
            assert re.search(r"^    benchmark: results/benchmarks/\S+\.tsv$", block, re.M), block
        if rule in GPU_RULES:
            assert re.search(rf"^    resources: .*\b{asked}\b", block, re.M), block
    # embed.tsne.backends: [auto] is one job whatever the machine; it asks for a GPU where one can be
    # given, and picks torch there, else openTSNE, when it runs
    assert re.search(r"^    wildcards: dataset=mnist, backend=auto$", rules["tsne"], re.M), rules["tsne"]
    assert re.search(rf"^    resources: .*\b{asked}\b", rules["tsne"], re.M), rules["tsne"]


def test_a_bad_number_of_jobs_per_gpu_stops_the_workflow_before_any_job(tmp_path):
    result = snakemake(tmp_path, "-n", env={"MNISTFLOW_JOBS_PER_GPU": "0"}, check=False)
    assert result.returncode != 0
    assert "MNISTFLOW_JOBS_PER_GPU='0': expected how many jobs may share a GPU (1, 2, ...)" in result.stdout + result.stderr


@pytest.mark.parametrize("run, message", [
    ({"optimizer": "Adamz"}, "config key train.runs.first: optimizer Adamz {'lr': 0.01, 'momentum': 0.5}, schedule "
                             "constant {}: unknown optimizer 'Adamz': not a class in torch.optim"),
    ({"schedule": "step"}, "config key train.runs.first: optimizer SGD {'lr': 0.01, 'momentum': 0.5}, schedule step "
                           "{}: StepLR.__init__() missing 1 required positional argument: 'step_size'"),
])
def test_a_recipe_torch_would_reject_stops_the_workflow_before_any_job(tmp_path, run, message):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["train"]["runs"]["first"].update(run)
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", "--configfile", "config.yaml", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_a_named_run_with_a_grid_run_id_but_other_settings_is_refused(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["train"]["runs"]["best-Adam-lr0p001-e1-bs64"] = {"model": "first", "epochs": 1}
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "--configfile", "config.yaml", check=False)
    assert result.returncode != 0
    assert ("train.runs.best-Adam-lr0p001-e1-bs64 and a run of train.search.grid have the same id "
            "'best-Adam-lr0p001-e1-bs64' but other settings") in result.stdout + result.stderr


def test_a_run_that_outlasts_its_timeout_is_killed_and_fails_saying_so(tmp_path):
    """The SLURM test's guard against an executor that would wait forever (tests/test_slurm.py)."""
    with pytest.raises(AssertionError, match=r"snakemake --version was still running after 0 s and was killed"):
        snakemake(tmp_path, "--version", timeout=0.01)
