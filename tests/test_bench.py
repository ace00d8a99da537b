"""bench/gpu.py, the GPU machine's one prepared script, runs through on the CPU (--quick), so
that a device session does not spend its minutes on a broken script."""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistflow.datasets import DatasetSpec, read_raw, save_dataset

REPO = Path(__file__).resolve().parents[1]
# Packages of requirements.txt that the GPU machine lacks (/work/.library/device/KINDS.md, read
# 2026-11-17), by import name; bench/gpu_device.sh carries the others its bench needs (openTSNE, faiss).
MISSING_ON_THE_GPU_MACHINE = ["jsonschema", "snakemake", "bokeh", "umap", "pynndescent", "MulticoreTSNE",
                              "playwright", "pydantic", "referencing", "tornado", "xyzservices", "yte"]
BLOCKER = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {missing!r}:
            raise ImportError(f"No module named {{name!r}} (not on the GPU machine)")
sys.meta_path.insert(0, Missing())
"""


def test_the_gpu_bench_measures_every_target_and_projects_the_article_run(tmp_path):
    from synthetic import write_dataset

    written = write_dataset(tmp_path / "idx", n_train=1200, n_test=100)
    save_dataset(tmp_path / "dataset.npz", read_raw(DatasetSpec.from_config("mnist", written["entry"]), tmp_path / "idx"))
    out = tmp_path / "gpu-cpu.json"
    # what the GPU machine has: no package beyond its own and the wheels carried there
    (tmp_path / "site").mkdir()
    (tmp_path / "site/sitecustomize.py").write_text(BLOCKER.format(missing=set(MISSING_ON_THE_GPU_MACHINE)))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    def bench(*arguments):
        return subprocess.run([sys.executable, str(REPO / "bench/gpu.py"), "--dataset-file", str(tmp_path / "dataset.npz"),
                               "--quick", "--out-dir", str(tmp_path), *arguments],
                              capture_output=True, text=True, timeout=600, env=env)

    jobs = tmp_path / "article-jobs.json"  # as bench/gpu_device.sh prepare writes it
    jobs.write_text(json.dumps({"train": 34, "train_recorded": 2, "gan_train": 2, "plot_curves": 35}))
    done = bench("--article-jobs", str(jobs))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [name for name, part in report.items() if isinstance(part, dict) and "error" in part] == []
    assert report["device"] == "cpu" and report["quick"] is True
    assert report["train"]["warm_up_seconds"] > 0 and report["tsne"]["warm_up_seconds"] > 0
    best = report["train"]["best"]
    assert best["epochs"] == 1 and best["status"] == "ok" and best["article_epochs"] == 30
    assert 0.5 < best["test_accuracy"] <= 1  # the synthetic classes are bars at their own rows
    # the epoch run again, from a fresh trainer, to count the host's waits (a GPU's only) and profile it
    assert best["one_epoch"]["host_waits"] is None
    assert isinstance(best["target_met"], bool) and (best["target_met"] or best["one_epoch"]["profile"][0]["op"])
    for model, target in (("cgan_mlp", 1.0), ("dcgan", 2.0)):
        gan = report["gan"][model]
        # the 1,000 training images before the 200 the classifier held out, which score the samples
        assert gan["batch_size"] == 100 and gan["images"] == 1000 and gan["target_seconds"] == target
        assert gan["epoch_wall_seconds_with_frame_and_scoring"] >= gan["epoch_seconds"] > 0
        # a CPU records no CUDA graph: every step eager, the comparison measured all the same
        assert (gan["graph_replays"], gan["eager_steps"], gan["graph_failure"]) == (0, 2 * 10, None)
        assert gan["epoch_seconds_without_graphs"] > 0
    search = report["train"]["search_sample"]
    assert (search["batch_size"], search["steps_per_epoch"], search["graph_replays"]) == (32, 32, 0)
    assert search["epoch_seconds_without_graphs"] > 0 and search["status"] == "ok"
    assert best["epoch_seconds_without_graphs"] > 0 and best["graph_replays"] == 0
    # a search step per model of config-article's grid
    assert {m: r["steps_per_epoch"] for m, r in report["train"]["search_models"].items()} == dict.fromkeys(
        ["first", "second", "lenet", "best"], 32)
    tsne = report["tsne"]
    assert tsne["points"] == 1300 and tsne["torch"]["device"] == "cpu" and tsne["torch"]["iterations"] == 500
    assert 0.5 < tsne["torch"]["knn_accuracy"] <= 1 and tsne["opentsne"]["iterations"] == 125
    assert 0 < tsne["torch"]["widest_interval"] <= 1
    resnet = report["imagenet"]["resnet18"]
    assert set(report["imagenet"]) == {"resnet18"} and resnet["features_seconds_all_images"] > 0
    # config-article's bfloat16 forward passes, and float32 beside them: runs of 1 and 3 steps
    assert resnet["mixed_precision"] is True and resnet["channels_last"] is True
    assert resnet["finetune_runs_steps"] == [1, 3]
    variants = {"finetune": (True, True), "finetune_other_precision": (False, True), "finetune_other_layout": (True, False)}
    for variant, settings in variants.items():
        measured = resnet[variant]
        assert (measured["mixed_precision"], measured["channels_last"]) == settings
        short, long = measured["run_seconds"]
        assert measured["step_seconds"] == pytest.approx((long - short) / 2, abs=1e-3)  # rounded
    pairs = report["transfer_pairs"]
    assert pairs["runs_steps"] == [1, 3] and pairs["finetune"]["step_seconds"] > 0
    start = report["job_start"]
    assert len(start["runs"]) == 2 and start["train_subset"] == 4000 and start["settings"]["model"] == "first"
    assert 0 < start["seconds_besides_epochs"] < start["runs"][-1]["wall_seconds"]
    assert start["four_at_once_wall_seconds"] > 0 and start["four_one_after_another_seconds"] > 0
    # every job trained: none found a resume file another had left
    assert [r["resumed"] for r in start["runs"]] + start["four_at_once_resumed"] == [False] * 6
    seeds = report["best_seeds"]
    assert seeds["seeds"] == [7, 8, 9] and set(seeds["by_epochs"]) == {"1", "2"}  # quick: 1 and 2 epochs
    assert all(len(v["runs"]) == 3 for v in seeds["by_epochs"].values())
    picked = seeds["by_epochs"][str(seeds["picked_on_validation"])]
    assert picked["mean_val_accuracy"] == max(v["mean_val_accuracy"] for v in seeds["by_epochs"].values())
    for gan in report["gan"].values():
        after = gan["after_each_epoch_seconds"]
        assert after["frame"] > 0 and after["scoring"] > 0 and after["resume_file_mb_at_last_epoch"] > 0
    projection = report["article_run_projection"]
    parts = projection["seconds_by_part"]
    assert set(parts) == {"training_runs_and_search", "recorded_runs", "optimizer_runs", "gans", "tsne",
                          "imagenet_features", "gpu_job_starts"}
    # config-article: 201 epochs of two GANs; 38 GPU jobs in the jobs file given
    assert parts["gans"] > 201 * report["gan"]["dcgan"]["epoch_seconds"]
    assert parts["gpu_job_starts"] == pytest.approx(38 * start["seconds_besides_epochs"], abs=0.1)
    # the runs recording weights (second and best, graphed) on config-article's 55,000 training images
    step = {run: np.median(report["train"][run]["epoch_seconds"]) / report["train"][run]["steps_per_epoch"]
            for run in ("second", "best")}
    assert parts["recorded_runs"] == pytest.approx(10 * 1719 * step["second"] + 30 * 430 * step["best"], abs=0.1)
    assert projection["gpu_jobs"]["train"] == 34 and "plot_curves" not in projection["gpu_jobs"]
    # the transfer between the datasets: 2 pairs x 2 trained strategies x 4 budgets x 3 seeds x 3
    # learning rates, to the cap
    assert projection["upper_bounds_seconds"]["transfer_pairs_steps_at_most"] == pytest.approx(
        pairs["finetune"]["step_seconds"] * 4690 * 48 * 3, rel=1e-3, abs=0.1)
    # resnet18 fine-tuned to the cap of 4,690 steps, 4 budgets x 3 seeds x 3 rates on one target
    bound = projection["upper_bounds_seconds"]["imagenet_resnet18_finetune_steps_at_most"]
    assert bound == pytest.approx(resnet["finetune"]["step_seconds"] * 4690 * 12 * 3, rel=1e-3, abs=0.1)
    # no GPU to lease: each job ran at once with none (how long it took to start depends on the load)
    leases = [ast.literal_eval(job[-1]) for job in report["lease"]["jobs"]]
    assert [(lease["devices"], lease["cuda"]) for lease in leases] == [([], False)] * 2

    # a second, shorter run of some parts, over the first's report
    first = out.with_name("first.json")
    out.rename(first)
    done = bench("--parts", "lease", "--merge", str(first), "--article-jobs", str(jobs))
    assert done.returncode == 0, done.stderr[-3000:]
    merged = json.loads(out.read_text())
    assert {k: v for k, v in merged.items() if k not in ("lease", "seconds", "merged_runs")} == {
        k: v for k, v in report.items() if k not in ("lease", "seconds")}
    assert merged["merged_runs"] == [{"parts": ["lease"], "over": str(first)}]
    refused = bench("--parts", "gan,tsne")
    assert refused.returncode == 2 and "gan and transfer_pairs need train" in refused.stderr

    # the projection alone, from the merged measurements: no dataset, no device
    projected = subprocess.run([sys.executable, str(REPO / "bench/gpu.py"), "--parts", "article_run_projection",
                                "--merge", str(out), "--article-jobs", str(jobs), "--out-dir", str(tmp_path)],
                               capture_output=True, text=True, timeout=600, env=env)
    assert projected.returncode == 0, projected.stderr[-3000:]
    again = json.loads(out.read_text())
    assert again["article_run_projection"] == report["article_run_projection"] and again["device"] == "cpu"


def test_the_device_script_carries_the_wheels_the_gpu_bench_needs_and_the_machine_lacks():
    script = (REPO / "bench/gpu_device.sh").read_text()
    carried = re.search(r'DEVICE_WHEELS="([^"]+)"', script).group(1).split()
    assert carried == ["openTSNE", "faiss-cpu"]
    pinned = {line.split("==")[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines() if "==" in line}
    assert {name.lower() for name in carried} <= pinned
    assert not {"opentsne", "faiss"} & set(MISSING_ON_THE_GPU_MACHINE)


def test_the_projection_counts_the_jobs_of_every_rule_that_holds_the_gpu():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_bench", REPO / "bench/gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    holding = set()
    for path in (REPO / "workflow/rules").glob("*.smk"):
        # a rule's block: from "rule name:" (or "use rule ... as name") to the next rule
        for block in re.split(r"\n(?=rule |use rule )", path.read_text()):
            name = re.match(r"(?:rule (\w+)|use rule \w+ as (\w+))", block)
            if name and ("gpu=" in block or block.startswith("use rule train ")):
                holding.add(name.group(1) or name.group(2))
    assert holding == set(bench.GPU_RULES)


def test_the_article_runs_bench_trains_config_articles_runs_as_the_notebook_did():
    sys.path.insert(0, str(REPO / "bench"))
    import article_runs

    runs = article_runs.article_runs()
    assert set(runs) == {"first", "second"}
    for settings in runs.values():  # the notebook's recipe, its [0, 1] pixels and its 10 epochs
        assert settings["input_scaling"] == "unit" and settings["epochs"] == 10 and settings["batch_size"] == 32
        assert settings["optimizer"] == "SGD" and settings["optimizer_kwargs"] == {"lr": 0.01, "momentum": 0.5}
    # the notebook printed correct / 10,016: 97.77% there is 9,793 of the 10,000 test images
    row = article_runs.against_notebook("first", [0.9790, 0.9800, 0.9810])
    assert row["notebook_over_10000"] == pytest.approx(0.97926, abs=1e-5)
    assert row["difference"] == pytest.approx(0.98 - 0.97926, abs=1e-5) and not row["beyond_seed_noise"]
    assert article_runs.against_notebook("second", [0.9850, 0.9852, 0.9848])["beyond_seed_noise"]


def test_the_best_recipe_levers_view_each_image_and_its_four_one_pixel_shifts():
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    import best_recipe

    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10, 12] = 1.0
    where = [divmod(int(best_recipe.probabilities(lambda x: 50 * x.flatten(1), image, views=(view,)).argmax()), 28)
             for view in best_recipe.SHIFTS]
    assert where == [(10, 12), (10, 11), (10, 13), (9, 12), (11, 12)]  # the pixel itself, then moved by one
