# Input functions and target lists shared by the rule files (no rules here). The names they are
# built from come from mnistflow.registry; what the config defines (its runs, its transfers) and
# the checks between its keys from mnistflow.config.

import ast
import functools
import os
import re

from mnistflow.config import training_runs, transfer_pairs
from mnistflow.datasets import RAW_FILES, get_spec
from mnistflow.embed import chosen_tsne_backends
from mnistflow.gpu import jobs_per_gpu, machine_devices
from mnistflow.settings import (
    gan_settings,
    neighbour_count,
    neighbour_search,
    recording_options,
    training_run,
    transfer_settings,
    transfer_source_options,
    tsne_options,
)
from mnistflow.registry import (
    ANIMATIONS,
    ARTICLE_OPTIMIZERS,
    EMBEDDING_FIGURES,
    GAN_ANIMATION_FILES,
    GAN_FIGURES,
    GAN_MODELS,
    GRADIENT_FILES,
    GRAPH_BACKENDS,
    HIDDEN_LAYER_FIGURES,
    IMAGENET_PREFIX,
    PCA_FIGURES,
    PROTOCOLS,
    STATS_FIGURES,
    STATS_FIGURES_FROM_DATASET,
    STRATEGIES,
    TSNE_BACKENDS,
    TUNED_OPTIMIZERS,
    WEIGHT_FILES,
)


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",
    backend="|".join(TSNE_BACKENDS),
    method="pca|umap|tsne-(" + "|".join(TSNE_BACKENDS) + ")",
    run="[A-Za-z0-9_-]+",
    optimizer="|".join(TUNED_OPTIMIZERS),
    protocol="|".join(PROTOCOLS),
    gan="|".join(GAN_MODELS),
    # "_to_" separates a transfer's source from its target, so neither may contain it
    source="(?:(?!_to_)[a-z0-9_])+",
    target="(?:(?!_to_)[a-z0-9_])+",
    strategy="|".join(STRATEGIES),


# a bad MNISTFLOW_JOBS_PER_GPU stops the workflow here, not each GPU job once it has started
jobs_per_gpu()


@functools.cache
def gpus_on_this_machine():
    return len(machine_devices())


def gpus_per_job(wildcards):
    """The ``gpu`` resource of the jobs that use a GPU where there is one. It is 1 where a GPU
    can be given (jobs submitted to a cluster; a machine or an allocation with GPUs) and 0 on a
    machine without any. There the jobs run on the CPU, and a GPU count (the default profile's
    gpu: 1) must not make them wait for one another. A function of the job, not of the
    Snakefile: Snakemake knows its executor only once it builds the jobs."""
    return 1 if not workflow.local_exec or gpus_on_this_machine() else 0


PACKAGE_DIR = os.path.join(workflow.basedir, "src", "mnistflow")


def imported_names(node):
    """The package modules one import statement names: from . import x, from .x import y,
    from mnistflow.x import y, import mnistflow.x."""
    if isinstance(node, ast.ImportFrom) and node.level == 1:
        return (
            [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
        )
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnistflow"):
        parts = node.module.split(".")
        return parts[1:2] or [a.name for a in node.names]
    if isinstance(node, ast.Import):
        return [
            a.name.split(".")[1] for a in node.names if a.name.startswith("mnistflow.")
        ]
    return []


@functools.cache
def imports_of(path):
    """The package modules the Python file ``path`` imports, read from its source: nothing is
    imported to find them."""
    with open(path) as source:
        tree = ast.parse(source.read())
    names = {n for node in ast.walk(tree) for n in imported_names(node)}
    return frozenset(
        n for n in names if os.path.exists(os.path.join(PACKAGE_DIR, f"{n}.py"))
    )


# What runs a job (its log, its GPU lease) rather than computes its outputs: editing these
# reruns nothing.
JOB_RUNNER_MODULES = {"jobs", "gpu"}


def script_code(script):
    """The library modules a rule's script runs, as inputs: those scripts/<script>.py imports
    and every package module they import, directly or not, so that editing any of them reruns
    the rule (Snakemake's own code trigger only sees the rule's script)."""
    seen = set(JOB_RUNNER_MODULES)
    todo = list(imports_of(os.path.join(workflow.basedir, "scripts", f"{script}.py")))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(imports_of(os.path.join(PACKAGE_DIR, f"{name}.py")))
    return [
        os.path.join(PACKAGE_DIR, f"{m}.py") for m in sorted(seen - JOB_RUNNER_MODULES)
    ]


def stats_figure_source(wildcards):
    """The dataset cache for the figures drawn from images, else the statistics summary."""
    if wildcards.figure in STATS_FIGURES_FROM_DATASET:
        return f"results/{wildcards.dataset}/data/dataset.npz"
    return f"results/{wildcards.dataset}/stats/summary.npz"


def stats_figure_labels(wildcards):
    return {"dataset": wildcards.dataset, "item": STATS_FIGURES[wildcards.figure]}


def stats_figure_options(wildcards):
    """stats.<figure> of the config: changing one figure's options redraws only it."""
    return config["stats"].get(wildcards.figure, {})


def custom_dataset(wildcards):
    """The custom_datasets entry of this dataset alone (empty for a built-in one), so that
    editing another dataset's entry does not rerun this one."""
    entries = config["custom_datasets"]
    return {d: entries[d] for d in entries if d == wildcards.dataset}


def raw_files(wildcards):
    return expand(
        "resources/{dataset}/raw/{name}",
        dataset=wildcards.dataset,
        name=RAW_FILES.values(),
    )


def local_dir(wildcards):
    return config["data"]["local_dirs"].get(wildcards.dataset, "")


def stats_targets(dataset):
    return [f"results/{dataset}/stats/stats.{ext}" for ext in ("csv", "html")] + [
        f"results/{dataset}/stats/{figure}.png" for figure in STATS_FIGURES
    ]


# embed.tsne.backends: [auto] resolved once, for this machine, so that every target list and
# the report's description name the backends this run builds
config["embed"]["tsne"]["backends"] = chosen_tsne_backends(
    config["embed"]["tsne"]["backends"], gpus_on_this_machine() > 0
)


def compared_methods():
    embed = config["embed"]
    methods = ["pca"] + [f"tsne-{b}" for b in embed["tsne"]["backends"]]
    return methods + (["umap"] if embed["umap"]["enabled"] else [])


def embeddings_to_compare(wildcards):
    return [f"results/{wildcards.dataset}/embed/{m}.npz" for m in compared_methods()]


def best_run_predictions(wildcards):
    """train.best_run's predictions for the test images of this dataset."""
    run = config["train"]["best_run"]
    return f"results/{wildcards.dataset}/train/{run}/test_predictions.npz"


def tsne_graph(wildcards):
    """The neighbour graph, for the backends that read it (the others search their own)."""
    if wildcards.backend in GRAPH_BACKENDS:
        return f"results/{wildcards.dataset}/embed/knn.npz"
    return []


def tsne_gpus(wildcards):
    """The torch backend's ``gpu`` resource (the others never use a GPU)."""
    return gpus_per_job(wildcards) if wildcards.backend == "torch" else 0


def run_metrics(wildcards):
    return [
        f"results/{wildcards.dataset}/train/{run}/metrics.csv"
        for run in training_runs(config)
    ]


def train_targets(dataset):
    return [
        f"results/{dataset}/train/leaderboard.{ext}" for ext in ("csv", "html", "png")
    ] + [
        f"results/{dataset}/train/{run}/{name}"
        for run in training_runs(config)
        for name in ("model.pt", "metrics.csv", "curves.png")
    ]


def recorded_runs_pattern():
    """The run ids under introspection, as a wildcard constraint (one that matches nothing
    when there are none)."""
    runs = config["introspect"]["runs"]
    return "|".join(re.escape(run) for run in runs) if runs else "(?!)"


def analysed_datasets_pattern():
    """The datasets of config["datasets"], as a wildcard constraint: a dataset trained only as
    a transfer source is not recorded."""
    return "|".join(re.escape(dataset) for dataset in config["datasets"]) or "(?!)"


def hidden_layer_outputs():
    return {
        figure: report(
            f"results/{{dataset}}/introspect/{{run}}/{figure}.png",
            caption="../report/introspect_hidden.rst",
            category="6. Hidden layers",
            subcategory="{dataset} {run}",
            labels={"run": "{run}", "figure": figure},
        )
        for figure in HIDDEN_LAYER_FIGURES
    }


def introspect_targets(dataset):
    files = WEIGHT_FILES + GRADIENT_FILES
    files += tuple(f"{animation}.html" for animation in ANIMATIONS)
    files += tuple(f"{figure}.png" for figure in HIDDEN_LAYER_FIGURES)
    return [
        f"results/{dataset}/introspect/{run}/{name}"
        for run in config["introspect"]["runs"]
        for name in files
    ]


def gan_figure_outputs():
    """The figures drawn from a GAN's tables and fresh samples, by name."""
    return {
        figure: report(
            f"results/{{dataset}}/gan/{{gan}}/{figure}.png",
            caption=f"../report/gan_{figure}.rst",
            category="7. GAN",
            subcategory="{dataset} {gan}",
            labels={"model": "{gan}", "figure": label},
        )
        for figure, label in GAN_FIGURES.items()
    }


def gan_classifier(wildcards):
    """The checkpoint that scores the samples: train.best_run's model."""
    return f"results/{wildcards.dataset}/train/{config['train']['best_run']}/model.pt"


def gan_targets(dataset):
    files = [
        "gan_quality.csv",
        "gan_quality.html",
        "samples.html",
        *GAN_ANIMATION_FILES,
    ]
    files += [f"{figure}.png" for figure in GAN_FIGURES]
    return [
        f"results/{dataset}/gan/{model}/{name}"
        for model in config["gan"]["models"]
        for name in files
    ]


def tuned_sweep(wildcards):
    """The learning-rate sweep a tuned run needs; none for the article's settings."""
    if wildcards.protocol != "tuned":
        return []
    return [f"results/{wildcards.dataset}/optimizers/sweep/{wildcards.optimizer}.csv"]


def optimizer_runs(wildcards):
    prefix = f"results/{wildcards.dataset}/optimizers"
    return [f"{prefix}/article/{o}.csv" for o in ARTICLE_OPTIMIZERS] + [
        f"{prefix}/tuned/{o}.csv" for o in config["optimizers"]["tuned"]
    ]


def optimizer_targets(dataset):
    prefix = f"results/{dataset}/optimizers"
    return [
        f"{prefix}/optimizers.csv",
        f"{prefix}/optimizers.html",
        f"{prefix}/optimizers-curves.png",
        f"{prefix}/optimizers-bars.png",
    ]


def embed_targets(dataset):
    prefix = f"results/{dataset}/embed"
    return (
        [f"{prefix}/embed_quality.{ext}" for ext in ("csv", "html", "png")]
        + [f"{prefix}/pca-{figure}.png" for figure in PCA_FIGURES]
        + [
            f"{prefix}/{method}-{figure}.png"
            for method in compared_methods()
            for figure in EMBEDDING_FIGURES
        ]
        + (
            [f"{prefix}/explorer.html"]
            if config["embed"]["explorer"]["enabled"]
            else []
        )
    )


def transfer_source_checkpoint(wildcards):
    """The source's train.best_run checkpoint, shared with every other analysis of that
    dataset; none for an ImageNet network."""
    if wildcards.source.startswith(IMAGENET_PREFIX):
        return []
    return f"results/{wildcards.source}/train/{config['train']['best_run']}/model.pt"


def transfer_features_input(wildcards):
    """The cached backbone features, which only the frozen strategy trains on."""
    if wildcards.strategy != "frozen":
        return []
    return f"results/transfer/{wildcards.source}_to_{wildcards.target}/features.npz"


def transfer_runs(wildcards):
    configured = {(source, target): s for source, target, s in transfer_pairs(config)}
    strategies = configured.get((wildcards.source, wildcards.target))
    if strategies is None:
        raise ValueError(
            f"transfer {wildcards.source} to {wildcards.target} is not configured: add it to "
            "transfer.pairs (or transfer.imagenet)"
        )
    prefix = f"results/transfer/{wildcards.source}_to_{wildcards.target}"
    return [f"{prefix}/runs/{strategy}.csv" for strategy in strategies]


def transfer_targets():
    return [
        f"results/transfer/{source}_to_{target}/{name}"
        for source, target, _ in transfer_pairs(config)
        for name in ("transfer.csv", "transfer.html", "label_efficiency.png")
    ]


def report_headline_tables():
    """The result tables the report's headline numbers come from, as report.headline takes them."""
    datasets = config["datasets"]
    return {
        "leaderboards": {d: f"results/{d}/train/leaderboard.csv" for d in datasets},
        "embed_qualities": {
            d: f"results/{d}/embed/embed_quality.csv" for d in datasets
        },
        "optimizer_tables": {
            d: f"results/{d}/optimizers/optimizers.csv" for d in datasets
        },
        "gan_qualities": {
            d: {
                m: f"results/{d}/gan/{m}/gan_quality.csv"
                for m in config["gan"]["models"]
            }
            for d in datasets
        },
        "transfer_results": {
            f"{source} → {target}": f"results/transfer/{source}_to_{target}/transfer.csv"
            for source, target, _ in transfer_pairs(config)
        },
    }


def report_headline_inputs(wildcards):
    """Every table of report_headline_tables (the GAN ones one level deeper, per dataset)."""
    tables = report_headline_tables()
    gans = tables.pop("gan_qualities")
    return [p for section in tables.values() for p in section.values()] + [
        p for models in gans.values() for p in models.values()
    ]


def all_targets():
    targets = []
    for dataset in config["datasets"]:
        targets += stats_targets(dataset) + embed_targets(dataset)
        targets += train_targets(dataset) + optimizer_targets(dataset)
        targets += introspect_targets(dataset) + gan_targets(dataset)
    return targets + transfer_targets() + ["results/report/headline.rst"]
