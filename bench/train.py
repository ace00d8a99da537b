"""Training speed on real MNIST, written to bench/results/train-<dataset>.json:

1. images/s of the article's loop style (torchvision's MNIST Dataset with ToTensor, a DataLoader,
   batch 32) against mnistflow's (normalised tensors in memory, index batches) on the same model;
2. where mnistflow's training step spends its time (torch.profiler: data, forward, backward,
   optimizer);
3. wall time to reach given validation accuracies with a recipe (default: the config's ``best``
   run) and with the same recipe without augmentation over fewer epochs, scoring the 5,000
   held-out training images after every epoch (the test set is not loaded: nothing here may be
   chosen by it).

    .venv/bin/python bench/train.py [--model second] [--batches 300] [--recipe best]

On a machine with CUDA everything runs there (the whole dataset in GPU memory).

Needs resources/<dataset>/raw and results/<dataset>/data/dataset.npz (make run). Run nothing
else meanwhile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from mnistflow.config import load_yaml, validate_config
from mnistflow.datasets import load_dataset
from mnistflow.graphs import graphs_wanted
from mnistflow.models import build_model
from mnistflow.settings import training_run
from mnistflow.train import TensorData, TrainConfig, Trainer, evaluate, make_optimizer, pick_device


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def article_loop_images_per_second(raw_dir: Path, model_name: str, batches: int, device) -> float:
    """torchvision.datasets.MNIST + ToTensor + DataLoader(batch 32, shuffle), as the notebook."""
    import torchvision
    from torch.utils.data import DataLoader

    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "MNIST").mkdir()
        (Path(root) / "MNIST" / "raw").symlink_to(raw_dir.resolve())
        dataset = torchvision.datasets.MNIST(root, train=True, download=False,
                                             transform=torchvision.transforms.ToTensor())
        loader = DataLoader(dataset, batch_size=32, shuffle=True)
        torch.manual_seed(0)
        model = build_model(model_name).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        model.train()
        started, seen = time.perf_counter(), 0
        for step, (x, y) in enumerate(loader):
            if step == batches:
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            seen += len(y)
        synchronize(device)
        return seen / (time.perf_counter() - started)


def our_loop_images_per_second(data: TensorData, model_name: str, batches: int) -> float:
    torch.manual_seed(0)
    model = build_model(model_name).to(data.train_x.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
    model.train()
    order = torch.randperm(len(data.train_y), device=data.train_x.device)
    started = time.perf_counter()
    for step in range(batches):
        index = order[step * 32:(step + 1) * 32]
        optimizer.zero_grad()
        F.cross_entropy(model(data.train_x[index]), data.train_y[index]).backward()
        optimizer.step()
    synchronize(data.train_x.device)
    return batches * 32 / (time.perf_counter() - started)


def profile_step(data: TensorData, config: TrainConfig, steps: int = 50) -> dict:
    """Share of a training step's CPU time in data indexing, forward, backward and optimizer."""
    from torch.profiler import ProfilerActivity, profile, record_function

    torch.manual_seed(0)
    device = data.train_x.device
    model = build_model(config.model).to(device)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.optimizer_kwargs)
    model.train()
    order = torch.randperm(len(data.train_y), device=device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for step in range(steps):
            with record_function("data"):
                index = order[step * config.batch_size:(step + 1) * config.batch_size]
                x, y = data.train_x[index], data.train_y[index]
            with record_function("forward"):
                loss = F.cross_entropy(model(x), y)
            with record_function("backward"):
                optimizer.zero_grad()
                loss.backward()
            with record_function("optimizer"):
                optimizer.step()
    totals = {e.key: e.cpu_time_total for e in prof.key_averages() if e.key in ("data", "forward", "backward", "optimizer")}
    whole = sum(totals.values()) or 1.0
    return {k: round(v / whole, 3) for k, v in totals.items()}


def time_to_accuracy(data: TensorData, config: TrainConfig, targets: list[float], graphs: bool) -> dict:
    """Wall time (training and per-epoch evaluation) until each target validation accuracy."""
    reached: dict[str, float | None] = {f"{t:.3f}": None for t in targets}
    curve = []
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(config, data, Path(scratch) / "r.pt", log=lambda s: None, graphs=graphs)
        started = time.perf_counter()
        for epoch in range(1, config.epochs + 1):
            trainer.train_epoch(epoch)
            _, accuracy = evaluate(trainer.model, data.val_x, data.val_y)
            elapsed = time.perf_counter() - started
            curve.append({"epoch": epoch, "seconds": round(elapsed, 1), "validation_accuracy": accuracy})
            for t in targets:
                if accuracy >= t and reached[f"{t:.3f}"] is None:
                    reached[f"{t:.3f}"] = round(elapsed, 1)
    return {"seconds_to_accuracy": reached, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--model", default="second", help="model for the loop comparison")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--recipe", default="best", help="a run id of train.runs for time-to-accuracy")
    parser.add_argument("--fast-epochs", type=int, default=3)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.99, 0.994, 0.995, 0.996])
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count())
    workflow_config = validate_config(load_yaml("config.yaml"), "workflow/schemas/config.schema.yaml")
    config = workflow_config["train"]
    dataset = load_dataset(Path("results") / args.dataset / "data" / "dataset.npz")
    device = pick_device()
    # the images as the recipe reads them (its validation split, its scaling)
    recipe = TrainConfig(**training_run(workflow_config, args.recipe)) if args.recipe in config["runs"] else None
    data = TensorData.for_run(dataset, recipe or TrainConfig(**config["defaults"]), device, test=False)
    graphs = graphs_wanted(config["cuda_graphs"], device)
    result = {"dataset": args.dataset, "machine": platform.machine(), "cpus": os.cpu_count(),
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "loop_model": args.model, "loop_batches": args.batches}
    article = article_loop_images_per_second(Path("resources") / args.dataset / "raw", args.model, args.batches,
                                             device)
    ours = our_loop_images_per_second(data, args.model, args.batches)
    result["images_per_second"] = {"article_dataloader": round(article), "mnistflow_tensors": round(ours),
                                   "speedup": round(ours / article, 2)}
    print(json.dumps(result["images_per_second"]), flush=True)
    if recipe is not None:
        result["profile_shares"] = profile_step(data, recipe)
        print(json.dumps(result["profile_shares"]), flush=True)
        # the recipe as configured, and the same without augmentation over fewer epochs (the fast path)
        fast = dataclasses.replace(recipe, augment=False, epochs=args.fast_epochs)
        result["recipes"] = {}
        for name, config_ in ((args.recipe, recipe), (f"{args.recipe}-no-aug-{args.fast_epochs}-epochs", fast)):
            result["recipes"][name] = {"settings": vars(config_), **time_to_accuracy(data, config_, args.targets, graphs)}
            print(name, json.dumps(result["recipes"][name]["seconds_to_accuracy"]), flush=True)
    out = Path(f"bench/results/train-{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
