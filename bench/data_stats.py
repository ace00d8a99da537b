"""Benchmark of the data and statistics steps on real data; writes JSON.

    .venv/bin/python bench/data_stats.py [--dataset mnist] [--repeats 5]

Needs the workflow's raw files and cache (make run). Measures, median of ``--repeats``:
verifying and parsing the raw IDX files, loading the npz cache, the exact statistics over every
image, and drawing each figure. It also measures what the article's sampling did to the
statistics: 1,875 batches of 32, each from a freshly shuffled loader.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mnistflow import plots_stats
from mnistflow.config import validate_config
from mnistflow.datasets import get_spec, load_dataset, read_raw
from mnistflow.stats import Summary


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def article_sampling(images: np.ndarray, labels: np.ndarray, exact: Summary, seed: int = 7) -> dict:
    """Class mean intensities as the notebook computed them: ``iter(loader).next()`` 1,875 times."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.permutation(len(images))[:32] for _ in range(1875)])
    table = exact.table()
    exact_means = table[(table.split == "train") & (table.label != "all")].mean_intensity.to_numpy()
    sampled_means = np.array([images[picks][labels[picks] == c].mean() / 255 for c in range(10)])
    return {
        "images_drawn": int(len(picks)),
        "distinct_images_seen": int(len(np.unique(picks))),
        "fraction_never_seen": float(1 - len(np.unique(picks)) / len(images)),
        "max_abs_error_class_mean_intensity": float(np.abs(sampled_means - exact_means).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="JSON file (default bench/results/data_stats-<dataset>.json)")
    args = parser.parse_args()

    spec = get_spec(args.dataset)
    raw_dir = Path("resources") / args.dataset / "raw"
    cache = Path("results") / args.dataset / "data" / "dataset.npz"
    result: dict = {"dataset": args.dataset, "repeats": args.repeats, "machine": platform.machine(),
                    "cpus": os.cpu_count(), "seconds": {}}
    seconds = result["seconds"]
    seconds["read_raw_verify_and_parse"], _ = timed(lambda: read_raw(spec, raw_dir), args.repeats)
    seconds["load_npz_cache"], data = timed(lambda: load_dataset(cache), args.repeats)
    seconds["exact_statistics_all_images"], summary = timed(lambda: Summary.compute(data), args.repeats)
    seconds["statistics_table"], _ = timed(summary.table, args.repeats)
    config = validate_config({}, "workflow/schemas/config.schema.yaml")["stats"]
    for name, drawer in plots_stats.FIGURES.items():
        if name == "samples":  # drawn from the dataset, not the summary
            continue

        def draw():
            fig = drawer(summary, **config.get(name, {}))
            fig.savefig(io.BytesIO(), format="png", dpi=120, bbox_inches="tight")
            plt.close(fig)

        seconds[f"figure_{name}"], _ = timed(draw, args.repeats)
    result["article_sampling"] = article_sampling(data.train_images, data.train_labels, summary)
    out = Path(args.out or f"bench/results/data_stats-{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
