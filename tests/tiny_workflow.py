"""The tiny-dataset workflow run that the workflow, SLURM and report tests share, and the helpers
that run Snakemake on it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthetic import write_dataset

REPO = Path(__file__).resolve().parents[1]
# Written by the run but not results: logs and benchmarks hold times, hosts and job ids.
NOT_COMPARED = ("logs", "benchmarks")


def snakemake(workdir: Path, *args: str, check: bool = True, torch_home: Path | None = None,
              env: dict[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir``; torch's hub cache (ImageNet weights) is the workdir's own.
    ``timeout``: seconds after which the run is killed and the test fails, saying so."""
    torch_home = torch_home or workdir / "torch-home"
    env = {**os.environ, **imagenet_env(torch_home), **(env or {}),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "TORCH_HOME": str(torch_home)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
            cwd=workdir,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        tail = (expired.stderr or b"")[-3000:]
        raise AssertionError(f"snakemake {' '.join(args)} was still running after {timeout:.0f} s and was killed; "
                             f"its output ended:\n{tail.decode(errors='replace') if isinstance(tail, bytes) else tail}")
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule -> job count."""
    out = result.stdout + result.stderr
    if "Job stats:" not in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M) if m.group(1) != "total"}


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_resnet18_weights(torch_home: Path) -> Path:
    """A resnet18 weights file (random weights of the right shapes) in that hub cache, named as
    torch.hub names one, resnet18-<first 8 hex digits of its SHA-256>.pth: the workflow checks
    that, so its URL (``imagenet_env``) names this file, not torchvision's."""
    import hashlib

    import torch
    import torchvision

    directory = torch_home / "hub/checkpoints"
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    written = directory / "resnet18.pth.partial"
    torch.save(torchvision.models.resnet18().state_dict(), written)
    path = directory / f"resnet18-{hashlib.sha256(written.read_bytes()).hexdigest()[:8]}.pth"
    written.replace(path)
    return path


def imagenet_env(torch_home: Path) -> dict[str, str]:
    """Where the workflow's ImageNet weights come from when that hub cache holds the file of
    ``write_resnet18_weights``: a URL of that file's name (nothing is downloaded from it)."""
    written = sorted((torch_home / "hub/checkpoints").glob("resnet18-*.pth"))
    return {"MNISTFLOW_IMAGENET_URL_RESNET18": f"https://weights.invalid/{written[0].name}"} if written else {}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One full run of the default target on the tiny dataset; later tests reuse its outputs
    (``results_as_run``: a copy of its results/ as the run left them, logs and benchmarks aside)."""
    workdir = tmp_path_factory.mktemp("tiny-run")
    # the dataset every analysis runs on: scikit-learn's real handwritten digits (1,797 of 8 x 8),
    # a folder of PNGs in class folders without a split, as a user's own images come
    write_digits_folder(workdir / "digits")
    planted = plant_label_errors(workdir / "digits")
    duplicate = plant_duplicate(workdir / "digits")
    # a second dataset, the transfer source, from IDX files; it is not in "datasets", so only
    # trained for that
    other = write_dataset(workdir / "idx-other", seed=11)
    config = {
        "datasets": ["tiny"],
        "data": {"sources": ["local"], "local_dirs": {"other": str(workdir / "idx-other")}},
        "custom_datasets": {"tiny": {"source": "folder", "path": str(workdir / "digits")}, "other": other["entry"]},
        # seeded UMAP (single-threaded): every result of this run is reproducible but wall times.
        # t-SNE's auto: its job picks openTSNE on this machine, which has no GPU, though the DAG
        # is built with two fake ones (and the later runs without them)
        "embed": {"umap": {"seed": 0}, "tsne": {"backends": ["auto"]}},
        "train": {"defaults": {"validation": 60},
                  "runs": {"quick": {"model": "lenet", "epochs": 2, "optimizer": "Adadelta",
                                     "optimizer_kwargs": {"lr": 1.0}},
                           "blowup": {"model": "first", "epochs": 2, "optimizer_kwargs": {"lr": 1.0e12}}},
                  "search": {"grid": {"model": ["first"], "optimizer": ["Adam"], "lr": [0.001], "epochs": [1],
                                      "batch_size": [32]}}},
        "optimizers": {"train_subset": None, "validation": 50, "seeds": [0, 1], "lr_factors": [1],
                       "sweep_extensions": 1,
                       "tuned": ["sgd", "adam"]},
        "gan": {"epochs": 2, "quality_samples": 2000, "histogram_images": 20},
        "transfer": {"pairs": [{"source": "other", "target": "tiny"}], "budgets": [2, "full"], "seeds": [0, 1],
                     "lr_factors": [1, 3], "max_steps": 5, "eval_every": 5, "batch_size": 32,
                     "imagenet": {"enabled": True, "backbones": ["resnet18"], "targets": ["tiny"],
                                  "image_size": 32, "download": False}},
    }
    write_config(workdir, config)
    write_resnet18_weights(workdir / "torch-home")
    # two fake GPUs: every GPU job leases one (and, finding no CUDA, trains on the CPU)
    result = snakemake(workdir, "--cores", "2", "--resources", "gpu=2", "--configfile", "config.yaml",
                       env={"MNISTFLOW_GPU_COUNT": "2"})
    # the results as the run left them, before any test redraws or reruns something
    as_run = tmp_path_factory.mktemp("tiny-run-results") / "results"
    shutil.copytree(workdir / "results", as_run, ignore=shutil.ignore_patterns(*NOT_COMPARED))
    return {"workdir": workdir, "config": config, "first": result, "results_as_run": as_run,
            "planted_label_errors": planted, "planted_duplicate": duplicate}


# classes whose second image (by file name) trade folders: label errors a user's folder may hold,
# for data quality to find; every class keeps its count
SWAPPED_CLASSES = ((1, 7), (3, 8), (4, 9), (0, 6), (2, 5))


def plant_label_errors(root: Path) -> dict[str, str]:
    """Move one image of each class of SWAPPED_CLASSES into the other's folder: each moved file
    (its new path under ``root``) -> the class it shows."""
    moved = {}
    for a, b in SWAPPED_CLASSES:
        first, second = (sorted((root / str(c)).iterdir())[1] for c in (a, b))
        for path, target in ((first, b), (second, a)):
            path.rename(root / str(target) / path.name)
            moved[f"{target}/{path.name}"] = path.parent.name
    return moved


def plant_duplicate(root: Path) -> tuple[str, str]:
    """Overwrite class 5's last file with its second-to-last: an exact duplicate (the paths
    under ``root``), the counts unchanged."""
    original, copy = sorted((root / "5").iterdir())[-2:]
    copy.write_bytes(original.read_bytes())
    return f"5/{original.name}", f"5/{copy.name}"


def write_digits_folder(root: Path) -> None:
    """scikit-learn's real 8 x 8 digits (0..16) as PNGs (0..255), in one folder per class."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(root / str(label) / f"{i:04d}.png")
