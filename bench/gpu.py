"""Every GPU target of the article's scale, measured in one run of a few minutes; writes JSON.

    python bench/gpu.py --raw-dir DIR | --dataset-file NPZ [--out-dir bench/results] [--quick]

DIR holds MNIST's four IDX files (bench/gpu_device.sh prepares them, with the wheels the GPU
machine lacks, and runs this script there). Each target of config-article.yaml's scale:

1. the GPU lease: two one-GPU jobs started together on a one-GPU machine; the second waits;
   and what a GPU job spends besides its epochs (a fresh process, the device, the dataset file);
2. the ``best`` recipe, all its epochs (and on three seeds, over its schedule and ones half and
   twice as long, the validation split picking one): the time to its selected test accuracy (target: 99.5%
   within 15 s), with ``first`` and ``second`` for one epoch each, and one epoch of a model
   search's run (lenet, Adam, batch 32, augmented); ``best``'s and the search run's epoch with
   their forward and backward passes as CUDA graphs and without;
3. an epoch of each GAN at the article's batch of 100 on the 60,000 training images (targets:
   1 s for the MLP cGAN, 2 s for the DCGAN), with its steps as CUDA graphs and without, and what
   its per-epoch frame, scoring and resume file add; a fine-tuning step of the transfer between
   the datasets;
4. t-SNE of all 70,000 images by the torch backend, which ``auto`` picks where CUDA is (target:
   10 s with a kNN accuracy of 97% or more), beside the CPU default (openTSNE, the config's
   schedule, every core) in the same run;
5. ImageNet transfer (vgg16 and resnet18 at 224 px, random weights of the right shapes written
   into a temporary torch hub cache: nothing is downloaded): features of every image and
   fine-tuning steps, in the config's precision and layout, and in the other of each.

Each target's unit (an epoch; 50 t-SNE iterations) runs once more to count the host's waits for
the GPU, and a target missed gets a profile: the operators its time went to
(``torch.profiler``). Kernels load in an untimed warm-up first. A part that fails records its
traceback and the others still run; the JSON is rewritten after each part. From the
measured times the script projects the whole ``--configfile config-article.yaml`` run, which
takes longer than a device session can hold (bench/README.md, "On a GPU"), counting its GPU jobs from
``--article-jobs``.

``--parts`` runs some parts only, over the report of ``--merge`` (a JSON an earlier run wrote),
whose other parts it keeps: a second, shorter device run after a fix.

``--quick`` runs the same code on at most 2,000 training and 500 test images (transfer: resnet18 at 32
px, 2 steps): the CPU smoke test
of this script (tests/test_bench.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "bench")]  # the library, and bench_common beside this file

from mnistflow import atomic  # noqa: E402
from mnistflow.compare import paired_seed_difference  # noqa: E402
from mnistflow.config import training_runs  # noqa: E402
from mnistflow.settings import (gan_settings, neighbour_count, optimizer_study, transfer_settings,  # noqa: E402
                                tsne_options)
from mnistflow.config import transfer_pairs as configured_pairs  # noqa: E402
from mnistflow.datasets import get_spec, load_dataset, read_raw  # noqa: E402
from mnistflow.optimizers import ARTICLE  # noqa: E402
from mnistflow.registry import IMAGENET_PREFIX  # noqa: E402
from mnistflow.train import TensorData, TrainConfig, Trainer, pick_device  # noqa: E402
from bench_common import article_config  # noqa: E402

TARGETS = {"best_seconds": 15.0, "best_accuracy": 0.995, "cgan_mlp_epoch_seconds": 1.0,
           "dcgan_epoch_seconds": 2.0, "tsne_seconds": 10.0, "tsne_knn_accuracy": 0.97,
           "article_run_minutes": 15.0}
PARTS = ("lease", "job_start", "train", "best_seeds", "gan", "transfer_pairs", "tsne", "imagenet", "article_run_projection")
# the rules whose jobs hold the GPU (resources: gpu), one at a time under --resources gpu=1
GPU_RULES = ("train", "train_recorded", "optimizer_sweep", "optimizer_seeds", "transfer_features",
             "transfer_strategy", "gan_train", "tsne")
HOLD_SECONDS = 3
LEASE_JOB = f"""
import time, torch
from mnistflow.gpu import gpus_for_job
started = time.time()
with gpus_for_job(1, lambda message: print(message, flush=True)) as devices:
    leased = time.time()
    cuda = torch.cuda.is_available()
    torch.ones(1, device="cuda" if cuda else "cpu").sum().item()
    time.sleep({HOLD_SECONDS})
print({{"devices": devices, "cuda": cuda, "waited_s": round(leased - started, 2)}}, flush=True)
"""


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(function):
    synchronize()
    started = time.perf_counter()
    result = function()
    synchronize()
    return result, round(time.perf_counter() - started, 3)


def diagnosis(run_once, missed: bool, rows: int = 12) -> dict:
    """Where a job's time goes, from more runs of ``run_once`` (each call starts afresh): one
    counting how often the host waited for the GPU (``torch.cuda.set_sync_debug_mode``; on a
    CPU the run is made all the same), and, when its target was ``missed``, one under
    ``torch.profiler``: the operators its time went to, the costliest first (device time on a GPU)."""
    report = {"host_waits": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if torch.cuda.is_available():
            torch.cuda.set_sync_debug_mode("warn")
        try:
            run_once()
        finally:
            if torch.cuda.is_available():
                torch.cuda.set_sync_debug_mode("default")
                report["host_waits"] = sum("synchroniz" in str(w.message) for w in caught)
    if not missed:
        return report
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = torch.cuda.is_available()
    with torch_profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        run_once()
        synchronize()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)[:rows]
    report["profile"] = [{"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1000, 2),
                          "self_device_ms": round(getattr(e, "self_device_time_total", 0) / 1000, 2)}
                         for e in events]
    return report


def lease_check(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    jobs = [subprocess.Popen([sys.executable, "-c", LEASE_JOB], cwd=workdir, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [job.communicate(timeout=120)[0].strip().splitlines() for job in jobs]
    return {"jobs": outputs, "second_waited": any("waiting" in line for out in outputs for line in out)}


JOB = """
import json, sys, time
started = time.perf_counter()
import torch
from mnistflow.datasets import load_dataset
from mnistflow.train import TensorData, TrainConfig, Trainer, pick_device
job = json.loads(sys.argv[1])
imported = time.perf_counter()
from pathlib import Path
resumed = Path(job["resume"]).exists()  # a job finding a resume file would skip its training
device = pick_device()
torch.zeros(1, device=device).sum().item()
ready = time.perf_counter()
config = TrainConfig(**job["settings"])
data = TensorData.for_run(load_dataset(job["dataset"]), config, device)
loaded = time.perf_counter()
trainer = Trainer(config, data, job["resume"], log=lambda s: None, graphs=True)
metrics = trainer.run()
trainer.save(job["checkpoint"], metrics)
print(json.dumps({"imports": imported - started, "device": ready - imported, "dataset": loaded - ready,
                  "run": time.perf_counter() - loaded, "epochs": float(metrics.seconds.sum()), "resumed": resumed}))
"""


def job_start(config: dict, dataset, scratch: Path) -> dict:
    """What a GPU job of the workflow spends besides its epochs: a fresh process's imports, the
    device's start, reading the dataset file, building the trainer, scoring, the checkpoint. An
    optimizer comparison's run (the config's settings), twice; the second is the warm one, as
    every job after the workflow's first."""
    from mnistflow.datasets import save_dataset

    save_dataset(scratch / "job-dataset.npz", dataset)
    optimizers = config["optimizers"]
    job = {"dataset": str(scratch / "job-dataset.npz"), "resume": str(scratch / "job-resume.pt"),
           "checkpoint": str(scratch / "job.pt"), "train_subset": optimizers["train_subset"],
           # an optimizer job's run, with the article's optimizer (its rate and seed do not change the time)
           "settings": dict(optimizer_study(config)["run"], optimizer="SGD", optimizer_kwargs={"lr": 0.01, "momentum": 0.5},
                            seed=0)}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    report = {"settings": job["settings"], "train_subset": job["train_subset"], "runs": []}
    jobs_started = 0

    def jobs_at_once(count: int) -> tuple[list[dict], float]:
        """``count`` jobs started together, each with its own resume file and checkpoint."""
        nonlocal jobs_started
        names = range(jobs_started, jobs_started + count)
        jobs_started += count
        started = time.perf_counter()
        processes = [subprocess.Popen([sys.executable, "-c", JOB, json.dumps(dict(job, resume=f"{job['resume']}{i}",
                                                                                  checkpoint=f"{job['checkpoint']}{i}"))],
                                      env=env, stdout=subprocess.PIPE, text=True) for i in names]
        try:
            outputs = [process.communicate(timeout=300)[0] for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
        if any(process.returncode for process in processes):
            raise RuntimeError(f"a job failed: {[process.returncode for process in processes]}")
        return [json.loads(out.strip().splitlines()[-1]) for out in outputs], time.perf_counter() - started

    for _ in range(2):
        (inside,), wall = jobs_at_once(1)
        report["runs"].append({"wall_seconds": round(wall, 3), **{k: v if isinstance(v, bool) else round(v, 3)
                                                                   for k, v in inside.items()}})
    report["seconds_besides_epochs"] = round(report["runs"][-1]["wall_seconds"] - report["runs"][-1]["epochs"], 3)
    # several jobs on the one GPU at once (the lease allows one): what their starts would overlap
    at_once, report["four_at_once_wall_seconds"] = jobs_at_once(4)
    report["four_at_once_resumed"] = [job_report["resumed"] for job_report in at_once]
    report["four_one_after_another_seconds"] = round(4 * report["runs"][-1]["wall_seconds"], 3)
    return report


def graph_state(step) -> dict:
    """Whether a trainer's steps ran as CUDA graph replays (``graphs.GraphedStep``), and why not."""
    return {"graph_replays": step.replays, "eager_steps": step.eager_calls, "graph_failure": step.failure}


SEARCH_SAMPLE = {"model": "lenet", "optimizer": "Adam", "optimizer_kwargs": {"lr": 0.001}, "batch_size": 32,
                 "augment": True, "epochs": 1}


def train_runs(config: dict, data: TensorData, scratch: Path, quick: bool) -> dict:
    """The ``best`` recipe whole, ``first`` and ``second`` for one epoch, and one epoch of a
    search's run with and without CUDA graphs; returns the report's rows."""
    runs = training_runs(config)
    runs["search_sample"] = dict(config["train"]["defaults"], **SEARCH_SAMPLE)

    def first_epoch(settings: dict, images: TensorData = data, graphs: bool = True) -> tuple[Trainer, float]:
        """One epoch of ``settings`` on ``images`` from a fresh model (a fresh schedule, too): its
        trainer, and the epoch's seconds."""
        trainer = Trainer(TrainConfig(**dict(settings, train_subset=None, epochs=1)), images,
                          scratch / "one-epoch-resume.pt", log=lambda s: None, graphs=graphs)
        _, seconds = timed(lambda: trainer.train_epoch(1))
        return trainer, seconds

    # untimed: the first steps load the kernels (cuDNN, cuBLAS) any later job of the run has loaded
    _, warm_up = first_epoch(runs["best"], dataclasses.replace(data, train_x=data.train_x[:2560],
                                                               train_y=data.train_y[:2560]))
    report = {"warm_up_seconds": warm_up}
    for run in ("best", "first", "second", "search_sample"):
        settings = dict(runs[run], train_subset=None, epochs=1 if run != "best" or quick else runs[run]["epochs"])
        trainer = Trainer(TrainConfig(**settings), data, scratch / f"{run}-resume.pt", log=lambda s: None, graphs=True)
        metrics, seconds = timed(trainer.run)
        trainer.save(scratch / f"{run}.pt", metrics)
        selected = metrics[metrics.selected]
        report[run] = {"seconds": seconds, "epochs": len(metrics), "batch_size": settings["batch_size"],
                       **graph_state(trainer.step.graph),
                       "steps_per_epoch": trainer.step.steps_per_epoch,
                       "epoch_seconds": [round(s, 3) for s in metrics.seconds],
                       "status": metrics.status.iloc[-1], "note": metrics.note.iloc[-1],
                       "selected_epoch": int(selected.epoch.iloc[0]) if len(selected) else None,
                       "test_accuracy": float(selected.test_accuracy.iloc[0]) if len(selected) else float("nan"),
                       "article_epochs": runs[run]["epochs"]}
        print(run, report[run], flush=True)
    # a search run's step, for each model of the grid, at the search_sample's settings
    report["search_models"] = {}
    for model in config["train"]["search"]["grid"]["model"]:
        trainer, seconds = first_epoch(dict(runs["search_sample"], model=model))
        report["search_models"][model] = {"epoch_seconds": seconds, "steps_per_epoch": trainer.step.steps_per_epoch,
                                          **graph_state(trainer.step.graph)}
    for run in ("best", "first", "second", "search_sample"):
        _, report[run]["epoch_seconds_without_graphs"] = first_epoch(runs[run], graphs=False)
    best = report["best"]
    best["target_met"] = best["seconds"] <= TARGETS["best_seconds"] and best["test_accuracy"] >= TARGETS["best_accuracy"]
    best["one_epoch"] = diagnosis(lambda: first_epoch(runs["best"]), missed=not best["target_met"])
    return report


def best_recipe_seeds(config: dict, data: TensorData, scratch: Path, quick: bool) -> dict:
    """The ``best`` recipe on three seeds over its schedule, one half as long and one twice as
    long, each run whole: the validation split picks the schedule, and the target is read on that
    one's test accuracy."""
    best = training_runs(config)["best"]
    seeds = (best["seed"], best["seed"] + 1, best["seed"] + 2)
    report = {"seeds": list(seeds), "by_epochs": {}}
    for epochs in ((1, 2) if quick else (best["epochs"] // 2, best["epochs"], 2 * best["epochs"])):
        runs = []
        for seed in seeds:
            trainer = Trainer(TrainConfig(**dict(best, epochs=epochs, seed=seed, train_subset=None)), data,
                              scratch / "seeds-resume.pt", log=lambda s: None, graphs=True)
            metrics, seconds = timed(trainer.run)
            selected = metrics[metrics.selected].iloc[0]
            runs.append({"seed": seed, "seconds": seconds, "status": metrics.status.iloc[-1],
                         "selected_epoch": int(selected.epoch), "val_accuracy": float(selected.val_accuracy),
                         "test_accuracy": float(selected.test_accuracy)})
        report["by_epochs"][epochs] = {
            "runs": runs, "mean_val_accuracy": round(float(np.mean([r["val_accuracy"] for r in runs])), 5),
            "mean_test_accuracy": round(float(np.mean([r["test_accuracy"] for r in runs])), 5),
            "min_test_accuracy": float(min(r["test_accuracy"] for r in runs)),
            "max_seconds": max(r["seconds"] for r in runs)}
        print("best", epochs, "epochs", report["by_epochs"][epochs], flush=True)
    chosen = max(report["by_epochs"], key=lambda e: report["by_epochs"][e]["mean_val_accuracy"])
    picked = report["by_epochs"][chosen]
    report["picked_on_validation"] = chosen
    report["target_met_on_every_seed"] = (picked["max_seconds"] <= TARGETS["best_seconds"]
                                          and picked["min_test_accuracy"] >= TARGETS["best_accuracy"])
    return with_schedule_intervals(report)


def with_schedule_intervals(report: dict) -> dict:
    """How sure the schedule's pick is: the picked length's paired lead in validation accuracy
    over each other length, seed by seed, with a paired t interval; a lead whose interval holds
    zero is a tie, and the pick among tied lengths is no finding."""
    by_epochs = {str(epochs): runs for epochs, runs in report["by_epochs"].items()}  # JSON keys are strings
    picked = str(report["picked_on_validation"])
    picked_val = {r["seed"]: r["val_accuracy"] for r in by_epochs[picked]["runs"]}
    leads = {}
    for epochs, other in by_epochs.items():
        if epochs == picked:
            continue
        other_val = {r["seed"]: r["val_accuracy"] for r in other["runs"] if r["seed"] in picked_val}
        lead = paired_seed_difference([picked_val[s] for s in other_val], list(other_val.values()))
        leads[epochs] = {**lead.as_dict(), "verdict": "picked ahead" if lead.clear else "tie"}
    return {**report, "picked_lead_on_validation": leads}


def gan_epochs(config: dict, dataset, scratch: Path, device) -> dict:
    """Two epochs of each GAN (the first warms up); the second's training time and its wall time
    with the frame, the scoring of its samples and the resume file, and each of those three
    alone (the resume file as large as at the article's last epoch: it holds every frame so far)."""
    from mnistflow.gan import GanConfig, GanTrainer, sample_grid
    from mnistflow.gan_quality import Scorer, scoring_reference

    scorer = Scorer(scratch / "best.pt", device)
    reference = scoring_reference(scorer, dataset, config["gan"]["train_subset"])  # held-out training images
    report = {}
    for model in config["gan"]["models"]:
        settings = dict(gan_settings(config, model), epochs=2)
        trainer = GanTrainer(GanConfig(**settings), dataset.train_images, dataset.train_labels,
                             scratch / f"gan-{model}.pt", scorer, reference, device, len(dataset.classes),
                             lambda s: None, graphs=True)
        walls = []
        for epoch in (1, 2):
            _, wall = timed(lambda: trainer.run_epoch(epoch))
            walls.append(wall)
        training = round(trainer.losses[-1]["seconds"], 3)
        target = TARGETS[f"{model}_epoch_seconds"]
        report[model] = {"epoch_seconds": training, "epoch_wall_seconds_with_frame_and_scoring": walls[-1],
                         "first_epoch_wall_seconds": walls[0], "batch_size": settings["batch_size"],
                         "images": len(trainer.labels), "target_seconds": target, "target_met": training <= target,
                         **graph_state(trainer.step), "quality_after_2_epochs": trainer.quality[-1]}
        trainer.sampler.eval()
        with torch.no_grad():
            _, frame = timed(lambda: sample_grid(trainer.sampler(trainer.fixed_noise, trainer.fixed_labels),
                                                 trainer.classes))
        _, scoring = timed(lambda: trainer.score(2, settings["quality_samples"]))
        state = dict(trainer.state(2), frames=trainer.frames[-1:] * config["gan"]["epochs"])
        _, resume = timed(lambda: torch.save(state, scratch / "resume-size.pt"))
        report[model]["after_each_epoch_seconds"] = {
            "frame": frame, "scoring": scoring, "resume_file_at_last_epoch": resume,
            "resume_file_mb_at_last_epoch": round((scratch / "resume-size.pt").stat().st_size / 2**20, 1)}
        eager = GanTrainer(GanConfig(**settings), dataset.train_images, dataset.train_labels, scratch / "eager.pt",
                           None, None, device, len(dataset.classes), lambda s: None, graphs=False)
        eager.train_epoch(1)  # untimed: a first epoch
        report[model]["epoch_seconds_without_graphs"] = round(eager.train_epoch(2)["seconds"], 3)
        report[model]["one_epoch"] = diagnosis(lambda: trainer.train_epoch(3), missed=training > target)
        print("gan", model, {k: v for k, v in report[model].items() if k != "one_epoch"}, flush=True)
    return report


def step_seconds(run_steps, steps: tuple[int, int]) -> dict:
    """Seconds a step of the runs ``run_steps(n)`` makes (seconds of n steps): the difference of
    a short and a long run over their difference in steps, so that what a run spends once
    (building the network, moving it, scoring) is not counted in; a 2-step run first, untimed
    (its kernels load, its memory is reserved)."""
    run_steps(2)
    short, long = steps
    seconds = [run_steps(n) for n in steps]
    return {"run_seconds": [round(s, 3) for s in seconds], "step_seconds": round((seconds[1] - seconds[0]) / (long - short), 5)}


def transfer_between_datasets(config: dict, dataset, scratch: Path, device, quick: bool) -> dict:
    """A fine-tuning step of the transfer between the datasets (``best``'s checkpoint as the
    source; MNIST stands in as the target, the GPU machine having no Fashion-MNIST: the same
    shapes), at the config's batch size: its fit loop runs eagerly."""
    from mnistflow.transfer import FitConfig, ValidationShare, checkpoint_source, run_strategy

    transfer = config["transfer"]
    source = checkpoint_source("mnist", scratch / "best.pt")

    steps, per_class = ((1, 3), 10) if quick else ((10, 210), 100)

    def run_steps(n: int) -> float:  # one learning rate: a step's time, not the sweep's
        fit = FitConfig(**dict(transfer_settings(config, "mnist", "finetune")["fit"], max_steps=n, eval_every=n))
        return float(run_strategy("finetune", source, dataset, [per_class], [0], fit,
                                  ValidationShare(**transfer["validation"]), (1.0,), device=device,
                                  log=lambda s: None).seconds.iloc[0])

    return {"batch_size": transfer["batch_size"], "labels_per_class": per_class, "runs_steps": list(steps),
            "finetune": step_seconds(run_steps, steps)}


def tsne_backends(config: dict, dataset, quick: bool) -> dict:
    """The torch backend (on the GPU where there is one) and openTSNE (on every CPU core), the
    config's settings for each, on the PCA projection of every image."""
    from mnistflow.embed import Points, knn_accuracy, pca, tsne
    from mnistflow.neighbours import neighbour_graph

    embed = config["embed"]
    tsne_config = embed["tsne"]
    projection = pca(Points.from_dataset(dataset, subset=2000 if quick else None), embed["pca_components"])
    threads = os.cpu_count()
    from mnistflow.tsne_torch import TorchTSNE

    # untimed: cuFFT's and the other kernels' first load
    _, warm_up = timed(lambda: TorchTSNE(early_exaggeration_iterations=10, iterations=10).fit(projection.projection[:2000]))
    report = {"points": len(projection.labels), "cpu_threads": threads, "warm_up_seconds": warm_up}
    result = tsne(projection, "torch", threads=threads, **tsne_options(config, "torch"))
    report["torch"] = {"seconds": round(result.seconds, 3), "knn_accuracy": knn_accuracy(result),
                       **{k: v for k, v in result.params.items() if k.startswith("seconds") or k in (
                           "device", "kl_divergence", "widest_interval", "early_exaggeration_iterations", "iterations")}}
    report["torch"]["target_met"] = (result.seconds <= TARGETS["tsne_seconds"]
                                     and report["torch"]["knn_accuracy"] >= TARGETS["tsne_knn_accuracy"])
    short = TorchTSNE(perplexity=tsne_config["perplexity"], early_exaggeration_iterations=25, iterations=25)
    report["torch"]["50_iterations"] = diagnosis(lambda: short.fit(projection.projection),
                                                 missed=not report["torch"]["target_met"])
    print("tsne torch", {k: v for k, v in report["torch"].items() if k != "50_iterations"}, flush=True)
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        report["opentsne"] = "not installed here: carry its wheel (bench/gpu_device.sh)"
        return report
    graph = neighbour_graph(projection.projection, neighbour_count(config), threads=threads)  # the workflow's graph
    cpu = tsne(projection, "opentsne", threads=threads, graph=graph, **tsne_options(config, "opentsne"))
    report["opentsne"] = {"seconds": round(cpu.seconds, 3), "knn_accuracy": knn_accuracy(cpu),
                          "kl_divergence": cpu.params["kl_divergence"], **tsne_config["opentsne"]}
    print("tsne opentsne", report["opentsne"], flush=True)
    return report


def imagenet_transfer(config: dict, dataset, scratch: Path, device, quick: bool) -> dict:
    """Features of every image and fine-tuning steps, per ImageNet backbone of the config: in the
    config's precision and layout, in the other precision and in the other layout (cuDNN's
    benchmark mode on, as the library has it on a GPU)."""
    os.environ["TORCH_HOME"] = str(scratch / "torch-home")
    import torchvision

    from mnistflow.transfer import (IMAGENET_URL_ENV, FitConfig, ValidationShare, backbone_features, load_source,
                                    run_strategy, sha256_of)

    report = {}
    imagenet = config["transfer"]["imagenet"]
    size, steps, per_class = (32, (1, 3), 10) if quick else (224, (10, 60), 100)
    for architecture in imagenet["backbones"]:
        weights = scratch / "torch-home/hub/checkpoints" / f"{architecture}.pth.partial"
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(getattr(torchvision.models, architecture)().state_dict(), weights)
        # not torchvision's file: named by its own SHA-256 prefix, which the library checks, and its URL so
        named = weights.replace(weights.with_name(f"{architecture}-{sha256_of(weights)[:8]}.pth"))
        os.environ[IMAGENET_URL_ENV.format(architecture.upper())] = f"https://weights.invalid/{named.name}"
        source = load_source(f"imagenet_{architecture}", None, image_size=size, download=False)
        _, features = timed(lambda: backbone_features(source, dataset, device, lambda s: None))
        workflow_fit = transfer_settings(config, f"imagenet_{architecture}", "finetune")["fit"]
        configured = {key: workflow_fit[key] for key in ("mixed_precision", "channels_last")}

        def finetune(**changes) -> dict:
            """Fine-tuning steps as the workflow's, but for ``changes`` (precision, layout)."""
            settings = dict(configured, **changes)

            def run_steps(n: int) -> float:
                fit = FitConfig(**dict(workflow_fit, max_steps=n, eval_every=n, **settings))
                share = ValidationShare(**config["transfer"]["validation"])
                return float(run_strategy("finetune", source, dataset, [per_class], [0], fit, share, (1.0,),
                                          device=device, log=lambda s: None).seconds.iloc[0])

            return {**settings, **step_seconds(run_steps, steps)}

        report[architecture] = {"image_size": size, "features_seconds_all_images": features,
                                "finetune_labels_per_class": per_class, "finetune_runs_steps": list(steps),
                                **configured, "finetune": finetune(),
                                "finetune_other_precision": finetune(mixed_precision=not configured["mixed_precision"]),
                                "finetune_other_layout": finetune(channels_last=not configured["channels_last"])}
        print("imagenet", architecture, report[architecture], flush=True)
    return report


def projected_article_run(config: dict, report: dict, jobs: dict | None) -> dict:
    """The whole config-article run, projected from the measured times, one GPU job at a time
    (``--resources gpu=1``): each part's steps at their measured cost, and what every GPU job
    spends besides (``jobs``: the dry run's job count per rule). Parts not measured are named, not
    guessed; runs that stop when converged are bounded by their cap."""
    train = report["train"]

    def per_step(run: str, model: str) -> float:
        """A step of a measured run, graphed; any other run (a search's) as the search_sample's
        (batch 32) with its ``model``, where measured."""
        measured = train.get(run) or train.get("search_models", {}).get(model) or train["search_sample"]
        return float(np.median(measured["epoch_seconds"])) / measured["steps_per_epoch"]

    images = 60000 - config["train"]["defaults"]["validation"]
    runs = training_runs(config)

    def run_seconds(run: str) -> float:
        settings = runs[run]
        return settings["epochs"] * math.ceil(images / settings["batch_size"]) * per_step(run, model=settings["model"])

    datasets = len(config["datasets"])
    recorded = config["introspect"]["runs"]  # their jobs (train_recorded) replace these runs' train jobs
    # a transfer source that is not an analysed dataset has its best run trained for it alone
    sources = {source for source, _, _ in configured_pairs(config)
               if not source.startswith(IMAGENET_PREFIX) and source not in config["datasets"]}
    parts = {"training_runs_and_search": datasets * sum(run_seconds(run) for run in runs if run not in recorded)
             + len(sources) * run_seconds(config["train"]["best_run"]),
             "recorded_runs": datasets * sum(run_seconds(run) for run in recorded)}
    optimizers = config["optimizers"]
    optimizer_steps = math.ceil((optimizers["train_subset"] - optimizers["validation"]) / optimizers["batch_size"])
    sweep_runs = len(optimizers["tuned"]) * len(optimizers["lr_factors"]) * len(optimizers["sweep_seeds"])
    seed_jobs = (jobs or {}).get("optimizer_seeds", len(optimizers["tuned"]) + len(ARTICLE))
    seed_runs = seed_jobs * len(optimizers["seeds"])
    parts["optimizer_runs"] = (sweep_runs + seed_runs) * optimizer_steps * optimizers["epochs"] * per_step(
        optimizers["model"], optimizers["model"])
    gan_epochs = config["gan"]["epochs"]
    # the resume file grows by a frame an epoch: on average half its size at the last one
    parts["gans"] = sum(gan_epochs * (measured["epoch_wall_seconds_with_frame_and_scoring"]
                                      + measured.get("after_each_epoch_seconds", {}).get("resume_file_at_last_epoch", 0) / 2)
                        for measured in report["gan"].values())
    if "tsne" in report and "torch" in report["tsne"]:
        parts["tsne"] = report["tsne"]["torch"]["seconds"]
    transfer = config["transfer"]
    imagenet = report.get("imagenet", {})
    parts["imagenet_features"] = sum(imagenet[arch]["features_seconds_all_images"]
                                     for arch in transfer["imagenet"]["backbones"] if arch in imagenet)
    if jobs and "job_start" in report:
        gpu_jobs = sum(jobs.get(rule, 0) for rule in GPU_RULES)
        parts["gpu_job_starts"] = gpu_jobs * report["job_start"]["seconds_besides_epochs"]
    # runs stop when converged: every run trained to the cap bounds their steps, not their scoring
    runs_each = len(transfer["budgets"]) * len(transfer["seeds"]) * len(transfer["lr_factors"])  # a fit per rate
    bounds = {f"imagenet_{arch}_finetune_steps_at_most": imagenet[arch]["finetune"]["step_seconds"]
              * transfer["max_steps"] * runs_each * len(transfer["imagenet"]["targets"])
              for arch in transfer["imagenet"]["backbones"] if "finetune" in imagenet.get(arch, {})}
    if "finetune" in report.get("transfer_pairs", {}):
        trained = [s for s in transfer["strategies"] if s != "frozen"]  # frozen: a head on cached features
        bounds["transfer_pairs_steps_at_most"] = (report["transfer_pairs"]["finetune"]["step_seconds"] * transfer["max_steps"]
                                                  * runs_each * len(trained) * len(transfer["pairs"]))
    measured_minutes = sum(parts.values()) / 60
    return {"seconds_by_part": {k: round(v, 1) for k, v in parts.items()},
            "minutes_of_these_parts": round(measured_minutes, 1),
            "upper_bounds_seconds": {k: round(v, 1) for k, v in bounds.items()},
            "minutes_with_the_upper_bounds": round(measured_minutes + sum(bounds.values()) / 60, 1),
            "gpu_jobs": None if jobs is None else {rule: jobs.get(rule, 0) for rule in GPU_RULES},
            "not_projected": ["weights recording's own cost", "learning-rate sweeps extended past an edge",
                              "optimizers slower a step than first's SGD", "hidden layers", "ImageNet and between-dataset frozen runs",
                              "fine-tuning runs' scoring", "UMAP and the CPU embeddings", "figures and report (CPU, beside the GPU jobs)"]
            + ([] if jobs else ["GPU job starts (no --article-jobs)"]),
            "target_minutes": TARGETS["article_run_minutes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--raw-dir", type=Path, help="MNIST's four IDX files")
    source.add_argument("--dataset-file", type=Path, help="a dataset.npz (the workflow's, or a test's)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench/results",
                        help="where gpu-<device>.json goes (<device>: the GPU's model, e.g. h200; cpu without one)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"a comma-separated choice of {', '.join(PARTS)} (the projection is always made)")
    parser.add_argument("--merge", type=Path, help="an earlier run's JSON, whose parts not run are kept")
    parser.add_argument("--article-jobs", type=Path,
                        help="the jobs per rule of config-article.yaml's dry run (bench/gpu_device.sh prepare writes it)")
    args = parser.parse_args()
    parts = [part for part in args.parts.split(",") if part != "article_run_projection"]
    if set(parts) - set(PARTS):
        parser.error(f"--parts: {', '.join(sorted(set(parts) - set(PARTS)))} not among {', '.join(PARTS)}")
    if {"gan", "transfer_pairs"} & set(parts) and "train" not in parts:
        parser.error("--parts: gan and transfer_pairs need train, whose best classifier they use")
    if parts and not (args.raw_dir or args.dataset_file):
        parser.error("measuring needs --raw-dir or --dataset-file (only the projection needs neither)")
    if not parts and not args.merge:
        parser.error("the projection alone needs --merge: the measurements it projects from")
    config = article_config()  # what the parts measure with (--quick makes it smaller)
    report: dict = json.loads(args.merge.read_text()) if args.merge else {}
    if args.merge:
        report.setdefault("merged_runs", []).append({"parts": parts, "over": str(args.merge)})
    if parts:
        device = pick_device()
        report.update({"machine": platform.node(), "device": torch.cuda.get_device_name(0) if device.type == "cuda"
                       else "cpu", "torch": torch.__version__, "cpus": os.cpu_count(), "quick": args.quick})
    report["targets"] = TARGETS
    out = args.out_dir / f"gpu-{report['device'].split()[-1].lower()}.json"
    started = time.perf_counter()

    def section(name: str, function) -> None:
        """One part of the report; a part that fails records its traceback and the others still
        run. The JSON is rewritten after each, so a run stopped at its time limit keeps what it
        measured."""
        if name not in parts and name != "article_run_projection":
            return
        try:
            report[name] = function()
        except Exception:  # noqa: BLE001 - the report says what failed, and the next part runs
            report[name] = {"error": traceback.format_exc()}
            print(f"{name} failed:\n{report[name]['error']}", flush=True)
        if parts:  # the seconds of a run that measured; a projection alone keeps the merged run's
            report["seconds"] = round(time.perf_counter() - started, 1)
        atomic.write_text(out, json.dumps(report, indent=1) + "\n")

    out.parent.mkdir(parents=True, exist_ok=True)
    if parts:
        scratch = Path(tempfile.mkdtemp())
        dataset = read_raw(get_spec("mnist"), args.raw_dir) if args.raw_dir else load_dataset(args.dataset_file)
        if args.quick:
            dataset = dataclasses.replace(dataset, train_images=dataset.train_images[:2000],
                                          train_labels=dataset.train_labels[:2000],
                                          test_images=dataset.test_images[:500], test_labels=dataset.test_labels[:500])
            config["train"]["defaults"]["validation"] = 200
            config["gan"]["quality_samples"] = 200
            config["transfer"]["imagenet"]["backbones"] = ["resnet18"]
        section("lease", lambda: lease_check(scratch))
        section("job_start", lambda: job_start(config, dataset, scratch))
        data = TensorData.for_run(dataset, TrainConfig(**dict(config["train"]["defaults"], train_subset=None)), device)
        section("train", lambda: train_runs(config, data, scratch, args.quick))
        section("best_seeds", lambda: best_recipe_seeds(config, data, scratch, args.quick))
        section("gan", lambda: gan_epochs(config, dataset, scratch, device))
        section("transfer_pairs", lambda: transfer_between_datasets(config, dataset, scratch, device, args.quick))
        section("tsne", lambda: tsne_backends(config, dataset, args.quick))
        section("imagenet", lambda: imagenet_transfer(config, dataset, scratch, device, args.quick))
    # made from whatever the report holds, measured now or merged: no device needed
    if "by_epochs" in report.get("best_seeds", {}):
        report["best_seeds"] = with_schedule_intervals(report["best_seeds"])
    jobs = json.loads(args.article_jobs.read_text()) if args.article_jobs else None
    section("article_run_projection", lambda: projected_article_run(article_config(), report, jobs))
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
