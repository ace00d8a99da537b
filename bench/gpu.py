"""Every GPU target of the article's scale, measured in one run of a few minutes; writes JSON.

    python bench/gpu.py --raw-dir DIR | --dataset-file NPZ [--out-dir bench/results] [--quick]

DIR holds MNIST's four IDX files (bench/gpu_device.sh prepares them, with the wheels the GPU
machine lacks, and runs this script there). Each target of config-article.yaml's scale:

1. the GPU lease: two one-GPU jobs started together on a one-GPU machine; the second waits;
2. the ``best`` recipe, all its epochs: the time to its selected test accuracy (target: 99.5%
   within 15 s), with ``first`` and ``second`` for one epoch each, and one epoch of a model
   search's run (lenet, Adam, batch 32, augmented); ``best``'s and the search run's epoch with
   their forward and backward passes as CUDA graphs and without;
3. an epoch of each GAN at the article's batch of 100 on the 60,000 training images (targets:
   1 s for the MLP cGAN, 2 s for the DCGAN), with its steps as CUDA graphs and without, and what
   its per-epoch frame and scoring add;
4. t-SNE of all 70,000 images by the torch backend, which ``auto`` picks where CUDA is (target:
   10 s with a kNN accuracy of 97% or more), beside the CPU default (openTSNE, the config's
   schedule, every core) in the same run;
5. ImageNet transfer (vgg16 and resnet18 at 224 px, random weights of the right shapes written
   into a temporary torch hub cache: nothing is downloaded): features of every image and
   fine-tuning steps, in the config's precision (bfloat16 forward passes) and the other.

Each target's unit (an epoch; 50 t-SNE iterations) runs once more to count the host's waits for
the GPU, and a target missed gets a profile: the operators its time went to
(``torch.profiler``). Kernels load in an untimed warm-up first. A part that fails records its
traceback and the others still run; the JSON is rewritten after each part. From the
measured times the script projects the whole ``--configfile config-article.yaml`` run, which
takes longer than a device session can hold (README, "On a GPU").

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
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mnistflow import atomic  # noqa: E402
from mnistflow.config import fill_defaults, training_runs  # noqa: E402
from mnistflow.datasets import get_spec, load_dataset, read_raw  # noqa: E402
from mnistflow.train import TensorData, TrainConfig, Trainer, pick_device  # noqa: E402

TARGETS = {"best_seconds": 15.0, "best_accuracy": 0.995, "cgan_mlp_epoch_seconds": 1.0,
           "dcgan_epoch_seconds": 2.0, "tsne_seconds": 10.0, "tsne_knn_accuracy": 0.97,
           "article_run_minutes": 15.0}
PARTS = ("lease", "train", "gan", "tsne", "imagenet", "article_run_projection")
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


def merged(base: dict, override: dict) -> dict:
    """``override`` over ``base``, dict by dict, as Snakemake merges --configfile over config.yaml."""
    for key, value in override.items():
        base[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def article_config() -> dict:
    """config-article.yaml over config.yaml, the schema's defaults filled in (not validated: the
    GPU machine has no jsonschema; the workflow's tests validate both files)."""
    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()),
                    yaml.safe_load((REPO / "config-article.yaml").read_text()))
    fill_defaults(config, yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text()))
    return config


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

    def best_epoch(images: TensorData, graphs: bool = True):
        """One epoch of the ``best`` recipe, from a fresh model (a fresh schedule, too)."""
        return Trainer(TrainConfig(**dict(runs["best"], epochs=1)), images, scratch / "one-epoch-resume.pt",
                       log=lambda s: None, graphs=graphs).train_epoch(1)

    # untimed: the first steps load the kernels (cuDNN, cuBLAS) any later job of the run has loaded
    _, warm_up = timed(lambda: best_epoch(dataclasses.replace(data, train_x=data.train_x[:2560],
                                                             train_y=data.train_y[:2560])))
    report = {"warm_up_seconds": warm_up}
    for run in ("best", "first", "second", "search_sample"):
        settings = dict(runs[run], train_subset=None, epochs=1 if run != "best" or quick else runs[run]["epochs"])
        trainer = Trainer(TrainConfig(**settings), data, scratch / f"{run}-resume.pt", log=lambda s: None)
        metrics, seconds = timed(trainer.run)
        trainer.save(scratch / f"{run}.pt", metrics)
        selected = metrics[metrics.selected]
        report[run] = {"seconds": seconds, "epochs": len(metrics), "batch_size": settings["batch_size"],
                       **graph_state(trainer.forward_backward),
                       "steps_per_epoch": trainer.steps_per_epoch,
                       "epoch_seconds": [round(s, 3) for s in metrics.seconds],
                       "status": metrics.status.iloc[-1], "note": metrics.note.iloc[-1],
                       "selected_epoch": int(selected.epoch.iloc[0]) if len(selected) else None,
                       "test_accuracy": float(selected.test_accuracy.iloc[0]) if len(selected) else float("nan"),
                       "article_epochs": runs[run]["epochs"]}
        print(run, report[run], flush=True)
    eager = Trainer(TrainConfig(**dict(runs["search_sample"], train_subset=None)), data, scratch / "eager-resume.pt",
                    log=lambda s: None, graphs=False)
    _, report["search_sample"]["epoch_seconds_without_graphs"] = timed(lambda: eager.train_epoch(1))
    _, report["best"]["epoch_seconds_without_graphs"] = timed(lambda: best_epoch(data, graphs=False))
    best = report["best"]
    best["target_met"] = best["seconds"] <= TARGETS["best_seconds"] and best["test_accuracy"] >= TARGETS["best_accuracy"]
    best["one_epoch"] = diagnosis(lambda: best_epoch(data), missed=not best["target_met"])
    return report


def gan_epochs(config: dict, dataset, scratch: Path, device) -> dict:
    """Two epochs of each GAN (the first warms up); the second's training time and its wall time
    with the frame and the scoring of its samples."""
    from mnistflow.gan import GanConfig, GanTrainer
    from mnistflow.gan_quality import Scorer, reference_statistics

    scorer = Scorer(scratch / "best.pt", device)
    reference = reference_statistics(scorer, dataset.test_images)
    report = {}
    for model in config["gan"]["models"]:
        settings = {k: config["gan"][k] for k in ("batch_size", "noise_dim", "seed", "train_subset", "quality_samples")}
        settings.update(config["gan"].get(model, {}), model=model, epochs=2)
        trainer = GanTrainer(GanConfig(**settings), dataset.train_images, dataset.train_labels,
                             scratch / f"gan-{model}.pt", scorer, reference, device, len(dataset.classes),
                             lambda s: None)
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
        eager = GanTrainer(GanConfig(**settings), dataset.train_images, dataset.train_labels, scratch / "eager.pt",
                           None, None, device, len(dataset.classes), lambda s: None, graphs=False)
        eager.train_epoch(1)  # untimed: a first epoch
        report[model]["epoch_seconds_without_graphs"] = round(eager.train_epoch(2)["seconds"], 3)
        report[model]["one_epoch"] = diagnosis(lambda: trainer.train_epoch(3), missed=training > target)
        print("gan", model, {k: v for k, v in report[model].items() if k != "one_epoch"}, flush=True)
    return report


def tsne_backends(config: dict, dataset, quick: bool) -> dict:
    """The torch backend (on the GPU where there is one) and openTSNE (on every CPU core), the
    config's settings for each, on the PCA projection of every image."""
    from mnistflow.embed import Points, knn_accuracy, pca, tsne
    from mnistflow.neighbours import neighbour_graph

    embed = config["embed"]
    tsne_config = embed["tsne"]
    projection = pca(Points.from_dataset(dataset, subset=2000 if quick else None), embed["pca_components"])
    shared = {"perplexity": tsne_config["perplexity"], "early_exaggeration": tsne_config["early_exaggeration"],
              "seed": embed["seed"]}
    threads = os.cpu_count()
    from mnistflow.tsne_torch import TorchTSNE

    # untimed: cuFFT's and the other kernels' first load
    _, warm_up = timed(lambda: TorchTSNE(early_exaggeration_iterations=10, iterations=10).fit(projection.projection[:2000]))
    report = {"points": len(projection.labels), "cpu_threads": threads, "warm_up_seconds": warm_up}
    result = tsne(projection, "torch", threads=threads, **shared, **tsne_config["torch"])
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
    k = int(3 * tsne_config["perplexity"])
    graph = neighbour_graph(projection.projection, k, threads=threads)
    cpu = tsne(projection, "opentsne", threads=threads, graph=graph, **shared, **tsne_config["opentsne"])
    report["opentsne"] = {"seconds": round(cpu.seconds, 3), "knn_accuracy": knn_accuracy(cpu),
                          "kl_divergence": cpu.params["kl_divergence"], **tsne_config["opentsne"]}
    print("tsne opentsne", report["opentsne"], flush=True)
    return report


def imagenet_transfer(config: dict, dataset, scratch: Path, device, quick: bool) -> dict:
    """Features of every image and fine-tuning steps, per ImageNet backbone of the config."""
    os.environ["TORCH_HOME"] = str(scratch / "torch-home")
    import torchvision

    from mnistflow.transfer import FitConfig, backbone_features, imagenet_weights_file, load_source, run_strategy

    report = {}
    # a short and a long fine-tuning run: the difference is the steps' own time, without what a
    # run spends once (building the network, moving it, scoring)
    size, (short, long), per_class = (32, (1, 3), 10) if quick else (224, (10, 60), 100)
    for architecture in config["transfer"]["imagenet"]["backbones"]:
        weights = scratch / "torch-home/hub/checkpoints" / imagenet_weights_file(architecture).name
        weights.parent.mkdir(parents=True, exist_ok=True)
        torch.save(getattr(torchvision.models, architecture)().state_dict(), weights)
        source = load_source(f"imagenet_{architecture}", None, image_size=size, download=False)
        _, features = timed(lambda: backbone_features(source, dataset, device, lambda s: None))

        mixed = config["transfer"]["imagenet"]["mixed_precision"]

        def finetune(max_steps: int, mixed_precision: bool = mixed):
            return run_strategy("finetune", source, dataset, [per_class], [0], 0,
                                FitConfig(lr=0.01, weight_decay=5e-4, batch_size=128, max_steps=max_steps,
                                          eval_every=max_steps, mixed_precision=mixed_precision),
                                validation=200, device=device, log=lambda s: None)

        def step_seconds(mixed_precision: bool) -> dict:
            finetune(2, mixed_precision)  # untimed: this precision's kernels load, its memory is reserved
            seconds = [float(finetune(n, mixed_precision).seconds.iloc[0]) for n in (short, long)]
            return {"run_seconds": [round(s, 3) for s in seconds],
                    "step_seconds": round((seconds[1] - seconds[0]) / (long - short), 5)}

        report[architecture] = {"image_size": size, "features_seconds_all_images": features,
                                "finetune_labels_per_class": per_class, "finetune_runs_steps": [short, long],
                                "mixed_precision": mixed, "finetune": step_seconds(mixed),
                                "finetune_other_precision": step_seconds(not mixed)}
        print("imagenet", architecture, report[architecture], flush=True)
    return report


def projected_article_run(config: dict, report: dict) -> dict:
    """The whole config-article run, projected from the measured times: what each part's jobs
    would take, one GPU job at a time. Parts not measured here are named, not guessed."""
    train = report["train"]
    # seconds a training step: the named runs' own; a search's run, whatever its model, that of
    # the measured search_sample (lenet at batch 32, its steps as graphs)
    per_step = {run: float(np.median(train[run]["epoch_seconds"])) / train[run]["steps_per_epoch"]
                for run in ("first", "second", "best", "search_sample")}
    images = 60000 - config["train"]["defaults"]["validation"]
    parts = {"training_runs_and_search": sum(
        settings["epochs"] * math.ceil(images / settings["batch_size"]) * per_step.get(run, per_step["search_sample"])
        for run, settings in training_runs(config).items())}
    parts["gans"] = sum(report["gan"][m]["epoch_wall_seconds_with_frame_and_scoring"] * config["gan"]["epochs"]
                        for m in report["gan"])
    transfer = config["transfer"]
    imagenet = report.get("imagenet", {})
    # the steps of every fine-tuning run trained to the cap: an upper bound on the steps (runs on
    # small budgets converge early), not on the runs (their scoring is not in it)
    runs = len(transfer["budgets"]) * len(transfer["seeds"]) * len(transfer["imagenet"]["targets"])
    bounds = {f"imagenet_{arch}_finetune_steps_at_most": imagenet[arch]["finetune"]["step_seconds"]
              * transfer["max_steps"] * runs
              for arch in transfer["imagenet"]["backbones"] if "finetune" in imagenet.get(arch, {})}
    return {"seconds_by_part": {k: round(v, 1) for k, v in parts.items()},
            "minutes_of_these_parts": round(sum(parts.values()) / 60, 1),
            "upper_bounds_seconds": {k: round(v, 1) for k, v in bounds.items()},
            "not_projected": ["optimizer comparison", "weights and gradients", "hidden layers",
                              "transfer between the datasets", "ImageNet features and frozen runs",
                              "ImageNet fine-tuning's scoring", "embeddings", "figures and report"],
            "target_minutes": TARGETS["article_run_minutes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw-dir", type=Path, help="MNIST's four IDX files")
    source.add_argument("--dataset-file", type=Path, help="a dataset.npz (the workflow's, or a test's)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench/results",
                        help="where gpu-<device>.json goes (<device>: the GPU's model, e.g. h200; cpu without one)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"a comma-separated choice of {', '.join(PARTS)}")
    parser.add_argument("--merge", type=Path, help="an earlier run's JSON, whose parts not run are kept")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if set(parts) - set(PARTS):
        parser.error(f"--parts: {', '.join(sorted(set(parts) - set(PARTS)))} not among {', '.join(PARTS)}")
    if "gan" in parts and "train" not in parts:
        parser.error("--parts: gan needs train, whose best classifier scores the GANs' samples")
    config = article_config()
    device = pick_device()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    out = args.out_dir / f"gpu-{name.split()[-1].lower()}.json"
    report: dict = json.loads(args.merge.read_text()) if args.merge else {}
    report.update({"machine": platform.node(), "device": name, "torch": torch.__version__,
                   "cpus": os.cpu_count(), "quick": args.quick, "targets": TARGETS})
    if args.merge:
        report.setdefault("merged_runs", []).append({"parts": parts, "over": str(args.merge)})
    scratch = Path(tempfile.mkdtemp())
    dataset = read_raw(get_spec("mnist"), args.raw_dir) if args.raw_dir else load_dataset(args.dataset_file)
    if args.quick:
        dataset = dataclasses.replace(dataset, train_images=dataset.train_images[:2000],
                                      train_labels=dataset.train_labels[:2000],
                                      test_images=dataset.test_images[:500], test_labels=dataset.test_labels[:500])
        config["train"]["defaults"]["validation"] = 200
        config["gan"]["quality_samples"] = 200
        config["transfer"]["imagenet"]["backbones"] = ["resnet18"]
    started = time.perf_counter()

    def section(name: str, function) -> None:
        """One part of the report; a part that fails records its traceback and the others still
        run. The JSON is rewritten after each, so a run stopped at its time limit keeps what it
        measured."""
        if name not in parts:
            return
        try:
            report[name] = function()
        except Exception:  # noqa: BLE001 - the report says what failed, and the next part runs
            report[name] = {"error": traceback.format_exc()}
            print(f"{name} failed:\n{report[name]['error']}", flush=True)
        report["seconds"] = round(time.perf_counter() - started, 1)
        atomic.write_text(out, json.dumps(report, indent=1) + "\n")

    out.parent.mkdir(parents=True, exist_ok=True)
    section("lease", lambda: lease_check(scratch))
    data = TensorData.from_dataset(dataset, device, validation=config["train"]["defaults"]["validation"])
    section("train", lambda: train_runs(config, data, scratch, args.quick))
    section("gan", lambda: gan_epochs(config, dataset, scratch, device))
    section("tsne", lambda: tsne_backends(config, dataset, args.quick))
    section("imagenet", lambda: imagenet_transfer(config, dataset, scratch, device, args.quick))
    section("article_run_projection", lambda: projected_article_run(config, report))
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    main()
