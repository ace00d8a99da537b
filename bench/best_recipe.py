"""The ``best`` recipe chosen on validation alone, then its test accuracy over three seeds:
bench/results/best-recipe-<dataset>.json.

    .venv/bin/python bench/best_recipe.py [--jobs 2] [--seeds 0 1 2] [--budget-ratio 2]

1. Every candidate (BestModel's widths x epochs, the rest of the recipe as ``train.runs.best`` in
   config.yaml, which an earlier bench chose on the test set: only widths and epochs are chosen
   here) trains on the first 55,000 training images for each seed, scored after every epoch
   on the 5,000 held out (the workflow's split). The test images are not even loaded.
2. The choice, written to the JSON before anything else is read: the candidate with the highest
   mean validation accuracy at its last epoch (a fixed point, so a longer run gets no more draws
   at the maximum) among those whose training costs at most ``--budget-ratio`` times the
   baseline's (the recipe before issue 29). The cost is epochs times a training step's time,
   each width's step timed in turns with the others (one thread, best of three rounds), so a
   busy machine slows all alike. Each candidate against the baseline: the paired difference of
   the weights the workflow keeps, with a 95% interval over seeds and validation images
   (``mnistflow.compare``).
3. Only then the test set: the chosen recipe's runs and the baseline's, each scored once
   with the weights the workflow would keep (the epoch selected on validation).
4. What two levers beyond the recipe would give, measured on the chosen recipe's saved runs and
   adopted by nothing: test-time augmentation (the mean probability over the image and its four
   one-pixel shifts) and an ensemble of the seeds' runs (their mean probability), each on
   validation and then on the test set (``levers``).

Each run's outcome is kept in bench/best-recipe/<dataset>/ (git-ignored), so a rerun after an
interruption trains only what is missing. Needs results/<dataset>/data/dataset.npz. Run nothing else
meanwhile when the times matter: they decide what fits the budget.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "w16-32-64-e10"  # the recipe before issue 29
# (widths, epochs): the baseline, longer runs of it, and a wider model
CANDIDATES = {
    BASELINE: ((16, 32, 64), 10),
    "w16-32-64-e15": ((16, 32, 64), 15),
    "w16-32-64-e20": ((16, 32, 64), 20),
    "w24-48-96-e10": ((24, 48, 96), 10),
}


def recipe(name: str, seed: int):
    from mnistflow.config import load_yaml, validate_config
    from mnistflow.settings import training_run
    from mnistflow.train import TrainConfig

    config = validate_config(load_yaml(ROOT / "config.yaml"), ROOT / "workflow/schemas/config.schema.yaml")
    widths, epochs = CANDIDATES[name]
    settings = {**training_run(config, "best"), "model": f"best-{name}", "epochs": epochs, "seed": seed}
    return TrainConfig(**settings), widths


def register(name: str, widths) -> None:
    from mnistflow.models import MODELS, BestModel

    MODELS[f"best-{name}"] = functools.partial(BestModel, widths=tuple(widths))


def train_one(dataset_path: str, scratch: str, name: str, seed: int) -> dict:
    """One candidate run on one thread; its validation curve, the selected epoch's weights on disk,
    and the selected weights' per-image hits on the validation images."""
    import torch

    from mnistflow.datasets import load_dataset
    from mnistflow.train import TensorData, Trainer

    torch.set_num_threads(1)
    config, widths = recipe(name, seed)
    register(name, widths)
    data = TensorData.for_run(load_dataset(Path(dataset_path)), config, test=False)
    out = Path(scratch) / f"{name}-seed{seed}"
    trainer = Trainer(config, data, out.with_suffix(".resume.pt"), log=lambda line: None, graphs=False)
    started = time.perf_counter()
    metrics = trainer.run()
    seconds = time.perf_counter() - started
    torch.save(trainer.model.state_dict(), out.with_suffix(".weights.pt"))
    with torch.no_grad():
        trainer.model.eval()
        hits = (trainer.model(data.val_x).argmax(1) == data.val_y).numpy()
    result = {"candidate": name, "seed": seed, "widths": list(widths), "epochs": config.epochs,
              "parameters": sum(p.numel() for p in trainer.model.parameters()), "seconds": round(seconds, 1),
              "train_seconds": round(float(metrics.seconds.sum()), 1),
              "validation_accuracy": [round(float(v), 4) for v in metrics.val_accuracy],
              "last_validation_accuracy": float(metrics.val_accuracy.iloc[-1]),
              "selected_epoch": int(metrics.epoch[metrics.selected].iloc[0]),
              "status": str(metrics.status.iloc[-1]),
              "validation_hits": "".join("1" if h else "0" for h in hits)}
    out.with_suffix(".json").write_text(json.dumps(result))
    return result


def step_seconds(dataset_path: str, widths_by_name: dict, steps: int = 30, rounds: int = 3) -> dict:
    """One thread's seconds per training step of each candidate's model (batch 128, augmented),
    timed in turns, the best of ``rounds``."""
    import torch

    from mnistflow.datasets import load_dataset
    from mnistflow.train import TensorData, Trainer, warp_draws

    torch.set_num_threads(1)
    trainers = {}
    for name, widths in widths_by_name.items():
        register(name, widths)
        config = recipe(name, 0)[0]
        data = TensorData.for_run(load_dataset(Path(dataset_path)), config, test=False) if not trainers else data
        trainers[name] = Trainer(config, data, Path(tempfile.mkdtemp()) / "unused.pt", log=lambda line: None,
                                 graphs=False)
    best = {name: float("inf") for name in trainers}
    generator = torch.Generator().manual_seed(0)
    for _ in range(rounds):
        for name, trainer in trainers.items():
            trainer.model.train()
            started = time.perf_counter()
            for _ in range(steps):
                index = torch.randint(0, len(data.train_y), (128,), generator=generator)
                trainer.step.backward(index, warp_draws(128, generator))
                trainer.step.update()
            best[name] = min(best[name], (time.perf_counter() - started) / steps)
    return best


def saved_model(scratch: str, name: str, seed: int):
    import torch

    from mnistflow.models import build_model

    config, widths = recipe(name, seed)
    register(name, widths)
    model = build_model(config.model)
    model.load_state_dict(torch.load(Path(scratch) / f"{name}-seed{seed}.weights.pt", weights_only=True))
    return model.eval()


def test_accuracy(dataset_path: str, scratch: str, name: str, seed: int) -> float:
    from mnistflow.datasets import load_dataset
    from mnistflow.train import TensorData, evaluate

    data = TensorData.for_run(load_dataset(Path(dataset_path)), recipe(name, seed)[0])
    return evaluate(saved_model(scratch, name, seed), data.test_x, data.test_y)[1]


SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # test-time views: the image and its one-pixel shifts


def probabilities(model, x, views=SHIFTS):
    """The model's class probabilities, averaged over ``views`` (pixel shifts) of each image."""
    import torch

    from mnistflow.train import augment_batch

    def shifted(dx, dy):
        if (dx, dy) == (0, 0):
            return x
        draws = torch.tensor([[0.5, (dx + 1) / 2, (dy + 1) / 2]]).expand(len(x), 3)  # no rotation
        return augment_batch(x, draws, max_shift=1.0)

    with torch.no_grad():
        return torch.stack([torch.softmax(model(shifted(dx, dy)), 1) for dx, dy in views]).mean(0)


def levers(dataset_path: str, scratch: str, name: str, seeds: list[int], split: str) -> dict:
    """Accuracy on ``split`` (validation or test) of each seed's run, with test-time augmentation,
    and of the seeds' ensemble with and without it."""
    import torch

    from mnistflow.datasets import load_dataset
    from mnistflow.train import TensorData

    data = TensorData.for_run(load_dataset(Path(dataset_path)), recipe(name, seeds[0])[0], test=split == "test")
    x, y = (data.test_x, data.test_y) if split == "test" else (data.val_x, data.val_y)
    plain, shifted = [], []
    for seed in seeds:
        model = saved_model(scratch, name, seed)
        plain.append(probabilities(model, x, views=SHIFTS[:1]))
        shifted.append(probabilities(model, x))

    def accuracy(p):
        return round(float((p.argmax(1) == y).float().mean()), 5)

    return {"per_seed": [accuracy(p) for p in plain], "tta_per_seed": [accuracy(p) for p in shifted],
            "tta_mean": round(float(np.mean([accuracy(p) for p in shifted])), 5),
            "ensemble": accuracy(torch.stack(plain).mean(0)), "ensemble_tta": accuracy(torch.stack(shifted).mean(0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--budget-ratio", type=float, default=2.0,
                        help="a candidate may cost this many times the baseline's training")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    parser.add_argument("--levers-only", action="store_true",
                        help="only (re)measure the levers (4.) on the runs of the JSON's chosen recipe")
    args = parser.parse_args()

    from mnistflow import compare
    from bench_common import machine

    dataset_path = str(ROOT / "results" / args.dataset / "data" / "dataset.npz")
    scratch = ROOT / "bench" / "best-recipe" / args.dataset
    scratch.mkdir(parents=True, exist_ok=True)
    out = ROOT / "bench" / "results" / f"best-recipe-{args.dataset}.json"
    if args.levers_only:
        result = json.loads(out.read_text())
        measure_levers(result, dataset_path, scratch, out)
        return
    runs = {}
    todo = []
    for name in args.candidates:
        for seed in args.seeds:
            done = scratch / f"{name}-seed{seed}.json"
            if done.exists():
                runs[name, seed] = json.loads(done.read_text())
            else:
                todo.append((name, seed))
    with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(train_one, dataset_path, str(scratch), name, seed): (name, seed) for name, seed in todo}
        for future in concurrent.futures.as_completed(futures):
            runs[futures[future]] = result = future.result()
            print(result["candidate"], result["seed"], result["last_validation_accuracy"], result["seconds"], flush=True)

    one_step = step_seconds(dataset_path, {name: CANDIDATES[name][0] for name in args.candidates})
    cost = {name: one_step[name] * CANDIDATES[name][1] for name in args.candidates}
    summary = {}
    for name in args.candidates:
        ours = [runs[name, seed] for seed in args.seeds]
        summary[name] = {
            "widths": ours[0]["widths"], "epochs": ours[0]["epochs"], "parameters": ours[0]["parameters"],
            "step_seconds": round(one_step[name], 4),
            "cost_against_baseline": round(cost[name] / cost[BASELINE], 3),
            # runs two at a time beside other work: shows the spread, decides nothing
            "train_seconds_mean": round(float(np.mean([r["train_seconds"] for r in ours])), 1),
            "last_validation_accuracy": [r["last_validation_accuracy"] for r in ours],
            "last_validation_accuracy_mean": round(float(np.mean([r["last_validation_accuracy"] for r in ours])), 5),
            "selected_epochs": [r["selected_epoch"] for r in ours],
            "statuses": [r["status"] for r in ours],
        }
        if name != BASELINE:
            hits = np.array([[c == "1" for c in runs[name, s]["validation_hits"]] for s in args.seeds])
            base = np.array([[c == "1" for c in runs[BASELINE, s]["validation_hits"]] for s in args.seeds])
            summary[name]["against_baseline"] = compare.paired_difference(hits, base).as_dict()
    fits = [n for n in args.candidates if cost[n] <= args.budget_ratio * cost[BASELINE]]  # unrounded
    chosen = max(fits, key=lambda n: summary[n]["last_validation_accuracy_mean"])
    result = {"dataset": args.dataset, **machine(), "seeds": args.seeds, "jobs_at_once": args.jobs,
              "budget_ratio": args.budget_ratio,
              "judge": "validation accuracy at the last epoch, 5,000 held-out training images; test never read",
              "against_baseline": "paired difference of the weights the workflow keeps (each run's epoch selected "
                                  "on validation), per validation image; the judge reads the last epoch",
              "chosen_again": "BestModel's widths and the epochs; the optimizer, rate, weight decay, schedule, "
                              "batch and augmentation are the recipe chosen on the test set before issue 29",
              "candidates": summary, "within_budget": fits, "chosen": chosen}
    out.write_text(json.dumps(result, indent=2) + "\n")  # the choice is on disk before the test set is read
    print("chosen on validation:", chosen, flush=True)
    result["test_accuracy"] = {}
    for name in dict.fromkeys([BASELINE, chosen]):
        values = [test_accuracy(dataset_path, str(scratch), name, seed) for seed in args.seeds]
        result["test_accuracy"][name] = {"per_seed": values, "mean": round(float(np.mean(values)), 5)}
        print(name, "test", values, flush=True)
    measure_levers(result, dataset_path, scratch, out)


def measure_levers(result: dict, dataset_path: str, scratch: Path, out: Path) -> None:
    chosen, seeds = result["chosen"], result["seeds"]
    result["levers"] = {
        "adopted": False,
        "what": f"{chosen}'s saved runs: test-time augmentation (mean probability over the image and its "
                "four one-pixel shifts) and the ensemble of the seeds' runs (one ensemble of "
                f"{len(seeds)} runs, so one draw; training cost {len(seeds)}x)",
        **{split: levers(dataset_path, str(scratch), chosen, seeds, split) for split in ("validation", "test")}}
    print("levers", result["levers"], flush=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
