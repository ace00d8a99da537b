"""Cost of recording weight and gradient statistics during training, written to
bench/results/introspect-<dataset>.json: for each model, one epoch's wall time with and without
the recorder (default: 20 recorded steps per epoch), run alternately in one process, and the
time one recorded step takes.

    .venv/bin/python bench/introspect.py [--models second best] [--train-subset N] [--repeats 1]

Needs results/<dataset>/data/dataset.npz (make run). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from mnistflow.config import load_yaml, validate_config
from mnistflow.datasets import load_dataset
from mnistflow.settings import recording_options, training_run
from mnistflow.train import TensorData, TrainConfig, Trainer


def epoch_seconds(config: TrainConfig, data: TensorData, recording: dict | None) -> tuple[float, float, int]:
    """(seconds of one training epoch, seconds spent inside the recorder, steps recorded)."""
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(config, data, Path(scratch) / "r.pt", log=lambda s: None, recording=recording, graphs=False)
        inside = 0.0
        if trainer.recorder is not None:
            record = trainer.recorder.record

            def timed(*args):
                nonlocal inside
                started = time.perf_counter()
                record(*args)
                inside += time.perf_counter() - started

            trainer.recorder.record = timed
        started = time.perf_counter()
        trainer.train_epoch(1)
        steps = 0 if trainer.recorder is None else len(trainer.recorder.rows)
        return time.perf_counter() - started, inside, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--models", nargs="+", default=["second", "best"], help="runs of train.runs")
    # the whole training set: recorded steps per epoch are fixed, so a subset would inflate the share
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(os.cpu_count())
    config = validate_config(load_yaml("config.yaml"), "workflow/schemas/config.schema.yaml")
    recording = recording_options(config)
    data = TensorData.from_dataset(load_dataset(Path("results") / args.dataset / "data" / "dataset.npz"),
                                   train_subset=args.train_subset, validation=0,
                                   scaling=config["train"]["defaults"]["input_scaling"])
    result = {"dataset": args.dataset, "machine": platform.machine(), "cpus": os.cpu_count(),
              "torch": torch.__version__, "train_images": len(data.train_y), "recording": recording, "runs": {}}
    for run in args.models:
        # augmentation would only dilute the overhead
        settings = dict(training_run(config, run), epochs=1, augment=False)
        train_config = TrainConfig(**settings)
        plain, recorded, inside = [], [], []
        for _ in range(args.repeats):  # alternate, so drift in machine speed hits both alike
            plain.append(epoch_seconds(train_config, data, None)[0])
            seconds, in_recorder, steps = epoch_seconds(train_config, data, recording)
            recorded.append(seconds)
            inside.append(in_recorder)
        base, with_recording = min(plain), min(recorded)
        result["runs"][run] = {
            "model": train_config.model, "batch_size": train_config.batch_size,
            "epoch_seconds_without": round(base, 2), "epoch_seconds_with": round(with_recording, 2),
            "overhead_percent": round(100 * (with_recording - base) / base, 1),
            "seconds_inside_recorder": round(min(inside), 3),
            "recorded_steps": steps,
        }
        print(run, json.dumps(result["runs"][run]), flush=True)
    out = Path(f"bench/results/introspect-{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
