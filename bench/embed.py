"""The neighbour graph, t-SNE and UMAP on real data, side by side on the same PCA input:

- the graph: faiss's exact search against Annoy (25 trees, the previous default; 50, openTSNE's),
  with the share of the exact neighbours each approximate graph found;
- t-SNE: the workflow's default (the exact graph and config.yaml's schedule) against the previous
  default (Annoy with 25 trees, 250 + 125 iterations) and openTSNE's own defaults (Annoy with 50
  trees, 250 + 500 iterations), and optionally MulticoreTSNE (the article's tool) on a subset;
- UMAP: the default (the exact graph, 100 epochs) against the previous one (its own Annoy graph
  of n_neighbors - 1, 25 trees, 200 epochs), both after a first call that compiles umap-learn's
  code (its time is reported apart: every UMAP job of the workflow pays it).

Each run's seconds include its neighbour graph. Writes time, kNN(10) accuracy of the test points,
trustworthiness and t-SNE's final KL divergence to bench/results/embed-<dataset>.json.

    .venv/bin/python bench/embed.py [--dataset mnist] [--multicore-points 20000]

Needs results/<dataset>/data/dataset.npz (make run). MulticoreTSNE takes about 20 minutes for all
70,000 MNIST points on 2 cores, so it embeds a seeded random subset (0 skips it). Run nothing else
meanwhile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

from mnistflow.config import load_yaml, validate_config
from mnistflow.datasets import load_dataset
from mnistflow.embed import Points, knn_accuracy, pca, trustworthiness, tsne, umap
from mnistflow.neighbours import annoy_neighbours, exact_neighbours, recall
from mnistflow.settings import TSNE_SHARED, neighbour_count, tsne_options

PREVIOUS_DEFAULTS = {"annoy_trees": 25, "early_exaggeration_iterations": 250, "iterations": 125, "intervals": 50}
OPENTSNE_DEFAULTS = {"annoy_trees": 50, "early_exaggeration_iterations": 250, "iterations": 500, "intervals": 50}
MULTICORE_DEFAULTS = {"early_exaggeration_iterations": 250, "iterations": 750, "learning_rate": 200}  # 1,000 in all


def scores(embedding, pixels, seed: int) -> dict:
    return {"method": embedding.method, "points": len(embedding.coords), "seconds": round(embedding.seconds, 2),
            "seconds_per_1000_points": round(1000 * embedding.seconds / len(embedding.coords), 3),
            "knn_accuracy": knn_accuracy(embedding, 10),
            "trustworthiness": trustworthiness(pixels, embedding, 5000, seed, 5),
            "kl_divergence": embedding.params.get("kl_divergence"), "params": embedding.params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--multicore-points", type=int, default=20000, help="0 skips MulticoreTSNE")
    args = parser.parse_args()

    workflow_config = validate_config(load_yaml("config.yaml"), "workflow/schemas/config.schema.yaml")
    config = workflow_config["embed"]
    seed, umap_config = config["seed"], config["umap"]
    k = neighbour_count(workflow_config)  # the workflow's shared graph
    dataset = load_dataset(Path("results") / args.dataset / "data" / "dataset.npz")
    points = Points.from_dataset(dataset)
    result = {"dataset": args.dataset, "machine": platform.machine(), "cpus": os.cpu_count(),
              "threads": args.threads, "neighbours": k, "graphs": [], "tsne": [], "umap": []}

    started = time.perf_counter()
    projection = pca(points, config["pca_components"])
    result["pca_seconds"] = round(time.perf_counter() - started, 3)
    x = projection.projection

    exact = exact_neighbours(x, k, args.threads)
    graphs = {"exact": exact}
    for trees in (PREVIOUS_DEFAULTS["annoy_trees"], OPENTSNE_DEFAULTS["annoy_trees"]):
        graphs[f"annoy-{trees}"] = annoy_neighbours(x, k, trees, seed, args.threads)
    for name, graph in graphs.items():
        result["graphs"].append({"graph": name, "seconds": round(graph.seconds, 2), "recall": recall(graph, exact),
                                 "params": graph.params})
        print(json.dumps(result["graphs"][-1]), flush=True)

    workflow_default = tsne_options(workflow_config, "opentsne")
    shared = {key: workflow_default[key] for key in (*TSNE_SHARED, "seed")}

    def other(defaults: dict) -> dict:
        return dict(shared, **{key: value for key, value in defaults.items() if key != "annoy_trees"})

    runs = [("t-SNE, workflow default: exact graph", "exact", workflow_default),
            ("t-SNE, previous default: Annoy 25 trees, 250 + 125 iterations", "annoy-25", other(PREVIOUS_DEFAULTS)),
            ("t-SNE, openTSNE defaults: Annoy 50 trees, 250 + 500 iterations", "annoy-50", other(OPENTSNE_DEFAULTS))]
    for name, graph, options in runs:
        run = dict(scores(tsne(projection, "opentsne", args.threads, graph=graphs[graph], **options),
                          points.pixels, seed), name=name)
        result["tsne"].append(run)
        print(json.dumps(run), flush=True)
    if args.multicore_points:
        subset = Points.from_dataset(dataset, args.multicore_points, seed)
        embedding = tsne(pca(subset, config["pca_components"]), "multicore", args.threads,
                         **dict(shared, **MULTICORE_DEFAULTS))
        result["tsne"].append(dict(scores(embedding, subset.pixels, seed),
                                   name="t-SNE, MulticoreTSNE defaults (the article's tool), a subset"))

    # numba compiles umap-learn's code in each new process, which every UMAP job pays: measured
    # once here on a small set, so that the runs below compare warm
    small = dataclasses.replace(projection, projection=x[:2000], labels=projection.labels[:2000],
                                is_test=projection.is_test[:2000], index=projection.index[:2000])
    started = time.perf_counter()
    umap(small, exact_neighbours(small.projection, umap_config["n_neighbors"] - 1, args.threads),
         umap_config["n_neighbors"], umap_config["min_dist"], umap_config["seed"], args.threads, 10)
    result["umap_first_call_seconds_2000_points"] = round(time.perf_counter() - started, 2)
    # the previous default searched UMAP's own neighbours with Annoy (n_neighbors - 1 a point)
    previous = annoy_neighbours(x, umap_config["n_neighbors"] - 1, PREVIOUS_DEFAULTS["annoy_trees"], seed,
                                args.threads)
    for name, graph, epochs in [("UMAP, workflow default: exact graph", exact, umap_config["epochs"]),
                                ("UMAP, previous default: Annoy 25 trees, 200 epochs", previous, None)]:
        embedding = umap(projection, graph, umap_config["n_neighbors"], umap_config["min_dist"],
                         umap_config["seed"], args.threads, epochs)
        result["umap"].append(dict(scores(embedding, points.pixels, seed), name=name))
        print(json.dumps(result["umap"][-1]), flush=True)

    out = Path(f"bench/results/embed-{args.dataset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {run["name"]: {key: run[key] for key in ("seconds", "knn_accuracy", "trustworthiness", "kl_divergence")}
               for run in result["tsne"] + result["umap"]}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
