"""Every file the default target asks for, from the config: one list per part and dataset, named
by the registry's names. No torch, no Snakemake: the Snakefile's ``all`` rule and the report's
headline read them."""

from __future__ import annotations

from .datasets import ingested
from .config import training_runs, transfer_pairs
from .registry import (ANIMATIONS, EMBEDDING_FIGURES, GAN_ANIMATION_FILES, GAN_FIGURES, GRADIENT_FILES,
                       HIDDEN_LAYER_FIGURES, PCA_FIGURES, QUALITY_FIGURES, QUALITY_TABLES, STATS_FIGURES,
                       WEIGHT_FILES)


def compared_methods(config: dict) -> list[str]:
    """The embeddings compared: PCA, each configured t-SNE backend, UMAP when enabled."""
    embed = config["embed"]
    methods = ["pca"] + [f"tsne-{backend}" for backend in embed["tsne"]["backends"]]
    return methods + (["umap"] if embed["umap"]["enabled"] else [])


def stats_targets(config: dict, dataset: str) -> list[str]:
    # what the images became is shown where the workflow converted them: a folder's or an npz's
    converted = ingested(config["custom_datasets"].get(dataset))
    return ([f"results/{dataset}/stats/stats.{ext}" for ext in ("csv", "html")]
            + [f"results/{dataset}/stats/{figure}.png" for figure in STATS_FIGURES
               if figure != "conversion" or converted])


def embed_targets(config: dict, dataset: str) -> list[str]:
    prefix = f"results/{dataset}/embed"
    return ([f"{prefix}/embed_quality.{ext}" for ext in ("csv", "html", "png")]
            + [f"{prefix}/pca-{figure}.png" for figure in PCA_FIGURES]
            + [f"{prefix}/{method}-{figure}.png" for method in compared_methods(config) for figure in EMBEDDING_FIGURES]
            + ([f"{prefix}/explorer.html"] if config["embed"]["explorer"]["enabled"] else []))


def quality_targets(config: dict, dataset: str) -> list[str]:
    if not config["data_quality"]["enabled"]:
        return []
    prefix = f"results/{dataset}/quality"
    return ([f"{prefix}/{name}" for name in QUALITY_TABLES + ("label_issues.html",)]
            + [f"{prefix}/{figure}.png" for figure in QUALITY_FIGURES])


def train_targets(config: dict, dataset: str) -> list[str]:
    return ([f"results/{dataset}/train/leaderboard.{ext}" for ext in ("csv", "html", "png")]
            + [f"results/{dataset}/train/{run}/{name}" for run in training_runs(config)
               for name in ("model.pt", "metrics.csv", "curves.png")])


def optimizer_targets(config: dict, dataset: str) -> list[str]:
    prefix = f"results/{dataset}/optimizers"
    return [f"{prefix}/{name}" for name in ("optimizers.csv", "optimizers.html", "optimizers-curves.png",
                                            "optimizers-bars.png")]


def introspect_targets(config: dict, dataset: str) -> list[str]:
    files = (WEIGHT_FILES + GRADIENT_FILES + tuple(f"{animation}.html" for animation in ANIMATIONS)
             + tuple(f"{figure}.png" for figure in HIDDEN_LAYER_FIGURES))
    return [f"results/{dataset}/introspect/{run}/{name}" for run in config["introspect"]["runs"] for name in files]


def gan_targets(config: dict, dataset: str) -> list[str]:
    files = ["gan_quality.csv", "gan_quality.html", "samples.html", *GAN_ANIMATION_FILES,
             *(f"{figure}.png" for figure in GAN_FIGURES)]
    return [f"results/{dataset}/gan/{model}/{name}" for model in config["gan"]["models"] for name in files]


def transfer_targets(config: dict) -> list[str]:
    return [f"results/transfer/{source}_to_{target}/{name}" for source, target, _ in transfer_pairs(config)
            for name in ("transfer.csv", "transfer.html", "label_efficiency.png")]


def report_headline_tables(config: dict) -> dict:
    """The result tables the report's headline numbers come from, as ``report.headline`` takes
    them."""
    datasets = config["datasets"]
    return {
        "leaderboards": {d: f"results/{d}/train/leaderboard.csv" for d in datasets},
        "embed_qualities": {d: f"results/{d}/embed/embed_quality.csv" for d in datasets},
        "optimizer_tables": {d: f"results/{d}/optimizers/optimizers.csv" for d in datasets},
        "gan_qualities": {d: {m: f"results/{d}/gan/{m}/gan_quality.csv" for m in config["gan"]["models"]}
                          for d in datasets},
        "quality_summaries": ({d: f"results/{d}/quality/summary.csv" for d in datasets}
                              if config["data_quality"]["enabled"] else {}),
        "transfer_results": {f"{source} → {target}": f"results/transfer/{source}_to_{target}/transfer.csv"
                             for source, target, _ in transfer_pairs(config)},
    }


def report_headline_inputs(config: dict) -> list[str]:
    """Every table of ``report_headline_tables`` (the GAN ones one level deeper, per dataset)."""
    tables = report_headline_tables(config)
    gans = tables.pop("gan_qualities")
    return ([path for section in tables.values() for path in section.values()]
            + [path for models in gans.values() for path in models.values()])


def all_targets(config: dict) -> list[str]:
    targets = []
    for dataset in config["datasets"]:
        for part in (stats_targets, quality_targets, embed_targets, train_targets, optimizer_targets,
                     introspect_targets, gan_targets):
            targets += part(config, dataset)
    return targets + transfer_targets(config) + ["results/report/headline.rst"]
