# Input functions shared by the rule files (no rules here). The names they are built from come
# from mnistflow.registry, the target lists from mnistflow.targets, what each job takes of the
# config from mnistflow.settings, and the checks between its keys from mnistflow.config.

import functools
import os
import re

from mnistflow import registry
from mnistflow.code_inputs import PACKAGE_DIR, script_modules
from mnistflow.config import training_runs, transfer_pairs
from mnistflow import ingest
from mnistflow.datasets import RAW_FILES, ingested
from mnistflow.gpu import jobs_per_gpu, machine_devices
from mnistflow.targets import (
    all_targets,
    compared_methods,
    report_headline_inputs,
    report_headline_tables,
)
from mnistflow.settings import (
    optimizer_study,
    quality_checks,
    quality_folds,
    custom_dataset,
    ingested_dataset,
    local_dir,
    stats_figure_options,
    gan_settings,
    neighbour_count,
    neighbour_search,
    recording_options,
    training_run,
    transfer_settings,
    transfer_source_options,
    tsne_options,
)


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",
    backend="|".join((*registry.TSNE_BACKENDS, registry.AUTO_TSNE)),
    method="pca|umap|tsne-("
    + "|".join((*registry.TSNE_BACKENDS, registry.AUTO_TSNE))
    + ")",
    run="[A-Za-z0-9_-]+",
    optimizer="|".join(registry.TUNED_OPTIMIZERS),
    protocol="|".join(registry.PROTOCOLS),
    gan="|".join(registry.GAN_MODELS),
    # "_to_" separates a transfer's source from its target, so neither may contain it
    source="(?:(?!_to_)[a-z0-9_])+",
    target="(?:(?!_to_)[a-z0-9_])+",
    strategy="|".join(registry.STRATEGIES),


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


def script_code(script):
    """The library modules scripts/<script>.py runs, as the rule's inputs (``code_inputs``)."""
    return script_modules(os.path.join(workflow.basedir, "scripts", f"{script}.py"))


def stats_figure_source(wildcards):
    """The dataset cache for the figures drawn from images, else the statistics summary."""
    if wildcards.figure in registry.STATS_FIGURES_FROM_DATASET:
        return f"results/{wildcards.dataset}/data/dataset.npz"
    return f"results/{wildcards.dataset}/stats/summary.npz"


def stats_figure_labels(wildcards):
    return {
        "dataset": wildcards.dataset,
        "item": registry.STATS_FIGURES[wildcards.figure],
    }


def quality_figure_labels(wildcards):
    return {
        "dataset": wildcards.dataset,
        "item": registry.QUALITY_FIGURES[wildcards.figure],
    }


def raw_files(wildcards):
    return expand(
        "resources/{dataset}/raw/{name}",
        dataset=wildcards.dataset,
        name=RAW_FILES.values(),
    )


def source_digest(wildcards):
    """The content digest of a folder or npz dataset: a params value, so that any change to the
    images reruns the dataset's cache (and all after it), and nothing else does."""
    return ingest.source_digest(ingested_dataset(config, wildcards.dataset))


# the datasets read from the user's own folder or npz (rule ingest_cache); a pattern matching
# none where there are none
INGESTED_DATASETS = (
    "|".join(
        re.escape(name)
        for name, entry in config["custom_datasets"].items()
        if ingested(entry)
    )
    or "(?!)"
)


def embeddings_to_compare(wildcards):
    return [
        f"results/{wildcards.dataset}/embed/{m}.npz" for m in compared_methods(config)
    ]


def best_run_predictions(wildcards):
    """train.best_run's predictions for the test images of this dataset."""
    run = config["train"]["best_run"]
    return f"results/{wildcards.dataset}/train/{run}/test_predictions.npz"


def quality_scores(wildcards):
    """Data quality's per-image scores, which the explorer rings, where the part is on."""
    if not config["data_quality"]["enabled"]:
        return []
    return f"results/{wildcards.dataset}/quality/scores.npz"


def tsne_graph(wildcards):
    """The neighbour graph, for the backends that read it (the others search their own) and for
    auto, which may pick one of them."""
    if wildcards.backend in (*registry.GRAPH_BACKENDS, registry.AUTO_TSNE):
        return f"results/{wildcards.dataset}/embed/knn.npz"
    return []


def tsne_gpus(wildcards):
    """The ``gpu`` resource of the torch backend and of auto, which picks torch where it sees a
    GPU (the others never use one)."""
    return (
        gpus_per_job(wildcards)
        if wildcards.backend in ("torch", registry.AUTO_TSNE)
        else 0
    )


def run_metrics(wildcards):
    return [
        f"results/{wildcards.dataset}/train/{run}/metrics.csv"
        for run in training_runs(config)
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
        for figure in registry.HIDDEN_LAYER_FIGURES
    }


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
        for figure, label in registry.GAN_FIGURES.items()
    }


def gan_classifier(wildcards):
    """The checkpoint that scores the samples: train.best_run's model."""
    return f"results/{wildcards.dataset}/train/{config['train']['best_run']}/model.pt"


def tuned_sweep(wildcards):
    """The learning-rate sweep a tuned run needs; none for the article's settings."""
    if wildcards.protocol != "tuned":
        return []
    return [f"results/{wildcards.dataset}/optimizers/sweep/{wildcards.optimizer}.csv"]


def optimizer_runs(wildcards):
    prefix = f"results/{wildcards.dataset}/optimizers"
    return [f"{prefix}/article/{o}.csv" for o in registry.ARTICLE_OPTIMIZERS] + [
        f"{prefix}/tuned/{o}.csv" for o in config["optimizers"]["tuned"]
    ]


def transfer_source_checkpoint(wildcards):
    """The source's train.best_run checkpoint, shared with every other analysis of that
    dataset; none for an ImageNet network."""
    if wildcards.source.startswith(registry.IMAGENET_PREFIX):
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
