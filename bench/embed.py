"""t-SNE speed and quality on real data: the workflow's default backend settings, openTSNE with
its own defaults, and MulticoreTSNE (the article's tool), side by side on the same PCA input.

    .venv/bin/python bench/embed.py [--dataset mnist] [--multicore-points 20000]

Needs results/<dataset>/data/dataset.npz (make run). MulticoreTSNE takes about 20 minutes for all
70,000 MNIST points on 2 cores, so by default it embeds a seeded random subset and the JSON states
the per-point time ratio. Writes bench/results/embed-<dataset>.json. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from mnistflow.config import load_yaml, validate_config
from mnistflow.datasets import load_dataset
from mnistflow.embed import PCAResult, Points, knn_accuracy, pca, trustworthiness, tsne

OPENTSNE_DEFAULTS = {"iterations": 500, "annoy_trees": 50}  # openTSNE 1.0's own defaults
MULTICORE_DEFAULTS = {"iterations": 750, "learning_rate": 200}  # MulticoreTSNE's: 1,000 in all


def measure(projection: PCAResult, pixels, backend: str, options: dict, threads: int, seed: int) -> dict:
    embedding = tsne(projection, backend, threads=threads, **options)
    return {
        "backend": backend,
        "points": len(embedding.coords),
        "seconds": round(embedding.seconds, 2),
        "seconds_per_1000_points": round(1000 * embedding.seconds / len(embedding.coords), 3),
        "knn_accuracy": knn_accuracy(embedding, 10),
        "trustworthiness": trustworthiness(pixels, embedding, 5000, seed, 5),
        "params": embedding.params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--multicore-points", type=int, default=20000, help="0 skips MulticoreTSNE")
    args = parser.parse_args()

    config = validate_config(load_yaml("config.yaml"), "workflow/schemas/config.schema.yaml")["embed"]
    seed, tsne_config = config["seed"], config["tsne"]
    shared = {k: tsne_config[k] for k in ("perplexity", "early_exaggeration", "early_exaggeration_iterations")}
    dataset = load_dataset(Path("results") / args.dataset / "data" / "dataset.npz")
    points = Points.from_dataset(dataset)
    result = {"dataset": args.dataset, "machine": platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "runs": []}

    started = time.perf_counter()
    projection = pca(points, config["pca_components"])
    result["pca_seconds"] = round(time.perf_counter() - started, 3)
    from sklearn.decomposition import PCA

    started = time.perf_counter()
    PCA(config["pca_components"], svd_solver="full").fit_transform(points.pixels)
    result["sklearn_pca_full_seconds"] = round(time.perf_counter() - started, 3)

    runs = [
        ("workflow default (opentsne)", projection, points.pixels, "opentsne", tsne_config["opentsne"]),
        ("openTSNE defaults", projection, points.pixels, "opentsne", OPENTSNE_DEFAULTS),
    ]
    if args.multicore_points:
        subset = Points.from_dataset(dataset, args.multicore_points, seed)
        runs.append(("MulticoreTSNE defaults (the article's tool)", pca(subset, config["pca_components"]),
                     subset.pixels, "multicore", MULTICORE_DEFAULTS))
    for name, proj, pixels, backend, options in runs:
        run = measure(proj, pixels, backend, dict(shared, **options, seed=seed), args.threads, seed)
        run["name"] = name
        result["runs"].append(run)
        print(json.dumps(run), flush=True)

    ours, reference = result["runs"][0], result["runs"][1]
    result["speedup_vs_opentsne_defaults"] = round(reference["seconds"] / ours["seconds"], 2)
    result["knn_accuracy_difference_points"] = round(100 * (ours["knn_accuracy"] - reference["knn_accuracy"]), 2)
    if args.multicore_points:
        multicore = result["runs"][2]
        result["per_point_speedup_vs_multicore"] = round(
            multicore["seconds_per_1000_points"] / ours["seconds_per_1000_points"], 2)
    out = Path(f"bench/results/embed-{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
