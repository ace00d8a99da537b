"""On a CUDA machine: the GPU lease and each torch analysis's CUDA path, timed; writes JSON.

    python bench/gpu.py --dataset-file results/mnist/data/dataset.npz [--out bench/results/gpu.json]

1. The lease: two jobs asking for one GPU each on a one-GPU machine, started together: the
   first gets device 0 and CUDA, the second waits until the first has ended.
2. One epoch of each training run of config-article.yaml (first, second, best) on the dataset,
   with its test accuracy; an optimizer of the comparison (fused Adam, one epoch); a GAN epoch of
   each model; ImageNet transfer (resnet18 at 224 px, random weights written into a temporary
   torch hub cache: nothing is downloaded): feature extraction of the test set and 50 fine-tuning
   steps. From these, the article config's GPU hours can be estimated.

``--quick`` runs the same code on 2,000 training and 500 test images at 64 px (a CPU smoke test
of this script).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from mnistflow.datasets import load_dataset, save_dataset
from mnistflow.train import TensorData, TrainConfig, Trainer, pick_device

REPO = Path(__file__).resolve().parents[1]
HOLD_SECONDS = 3
LEASE_JOB = f"""
import time, torch
from mnistflow.gpu import gpus_for_job
started = time.time()
with gpus_for_job(1, lambda message: print(message, flush=True)) as devices:
    leased = time.time()
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else None
    torch.ones(1, device="cuda" if cuda else "cpu").sum().item()
    time.sleep({HOLD_SECONDS})
print({{"devices": devices, "cuda": cuda, "name": name, "waited_s": round(leased - started, 2),
       "visible_devices_in_job": __import__("os").environ.get("CUDA_VISIBLE_DEVICES")}}, flush=True)
"""


def merged(base: dict, override: dict) -> dict:
    """``override`` over ``base``, dict by dict, as Snakemake merges --configfile over config.yaml
    (done here without the schema: the GPU machines' Python has no jsonschema)."""
    for key, value in override.items():
        base[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def lease_check(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    jobs = [subprocess.Popen([sys.executable, "-c", LEASE_JOB], cwd=workdir, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [job.communicate(timeout=120)[0] for job in jobs]
    gpus_dir = Path("/proc/driver/nvidia/gpus")
    return {"driver_gpu_folders": len(list(gpus_dir.iterdir())) if gpus_dir.is_dir() else None,
            "jobs": [out.strip().splitlines() for out in outputs]}


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(function, device):
    synchronize(device)
    started = time.perf_counter()
    result = function()
    synchronize(device)
    return result, round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/gpu.json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()),
                    yaml.safe_load((REPO / "config-article.yaml").read_text()))
    report: dict = {"machine": platform.node(), "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    scratch = Path(tempfile.mkdtemp())
    report["lease"] = lease_check(scratch)
    print(json.dumps(report["lease"], indent=1), flush=True)

    device = pick_device()
    dataset = load_dataset(args.dataset_file)
    if args.quick:
        dataset = dataclasses.replace(dataset, train_images=dataset.train_images[:2000],
                                      train_labels=dataset.train_labels[:2000],
                                      test_images=dataset.test_images[:500], test_labels=dataset.test_labels[:500])
        args.dataset_file = scratch / "dataset.npz"
        save_dataset(args.dataset_file, dataset)
    data = TensorData.from_dataset(dataset, device)
    report["train_epoch"] = {}
    for run in ("first", "second", "best"):
        settings = dict(config["train"]["runs"][run], epochs=1)
        trainer = Trainer(TrainConfig(**settings), data, scratch / f"{run}-resume.pt", log=lambda s: None)
        metrics, seconds = timed(trainer.run, device)
        trainer.save(scratch / f"{run}.pt", metrics)
        report["train_epoch"][run] = {"seconds": seconds, "test_accuracy": float(metrics.test_accuracy.iloc[-1]),
                                      "article_epochs": config["train"]["runs"][run]["epochs"]}
        print(run, report["train_epoch"][run], flush=True)

    from mnistflow.optimizers import run_seeds

    settings = dict(config["optimizers"], epochs=1, seeds=[0], train_subset=min(config["optimizers"]["train_subset"] or 60000, len(dataset.train_labels)))
    runs, seconds = timed(lambda: run_seeds(dataset, "adam", "article", settings, None, device, lambda s: None), device)
    report["optimizer_epoch"] = {"adam_seconds": seconds, "test_accuracy": float(runs.test_accuracy.iloc[-1]),
                                 "settings": {k: settings[k] for k in ("model", "batch_size", "train_subset")}}
    print("optimizer", report["optimizer_epoch"], flush=True)

    from mnistflow.gan import GanConfig, GanTrainer
    from mnistflow.gan_quality import Scorer, reference_statistics

    def train_and_score_gan(settings, out):
        """What rule gan_train does, its files aside: train, then score the final samples."""
        scorer = Scorer(scratch / "best.pt", device)
        trainer = GanTrainer(GanConfig(**settings), dataset.train_images, dataset.train_labels, out / "resume.pt",
                             scorer, reference_statistics(scorer, dataset.test_images), device,
                             len(dataset.classes), lambda s: None)
        trainer.run()
        return trainer.quality_table(1000)

    report["gan_epoch"] = {}
    for model in config["gan"]["models"]:
        settings = {k: config["gan"][k] for k in ("epochs", "batch_size", "noise_dim", "seed", "train_subset",
                                                   "quality_samples")}
        settings.update(config["gan"][model], model=model, epochs=1)
        out = scratch / f"gan-{model}"
        out.mkdir()
        table, seconds = timed(lambda: train_and_score_gan(settings, out), device)
        quality = table.iloc[-1].to_dict()
        report["gan_epoch"][model] = {"seconds": seconds, "quality": quality}
        print("gan", model, report["gan_epoch"][model], flush=True)

    os.environ["TORCH_HOME"] = str(scratch / "torch-home")
    import torchvision

    from mnistflow.transfer import FitConfig, imagenet_weights_file, load_source, run_strategy, backbone_features

    weights = scratch / "torch-home/hub/checkpoints" / imagenet_weights_file("resnet18").name
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    size = 64 if args.quick else 224
    source = load_source("imagenet_resnet18", None, image_size=size, download=False)
    _, seconds = timed(lambda: backbone_features(source, dataset, device, lambda s: None), device)
    steps = 50
    results, finetune_seconds = timed(lambda: run_strategy(
        "finetune", source, dataset, [100], [0], 0,
        FitConfig(lr=0.01, weight_decay=5e-4, batch_size=128, max_steps=steps, eval_every=steps), validation=200,
        device=device, log=lambda s: None), device)
    report["imagenet_resnet18"] = {"image_size": size, "features_seconds_all_images": seconds,
                                   "finetune_50_steps_validation_and_test_seconds": finetune_seconds,
                                   "finetune_train_seconds": round(float(results.seconds.iloc[0]), 2),
                                   "images": len(dataset.train_labels) + len(dataset.test_labels)}
    print("imagenet", report["imagenet_resnet18"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
