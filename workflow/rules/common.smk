# Input functions and targets shared by the rule files (no rules here).

import os

from mnistflow.datasets import RAW_FILES, get_spec

STATS_FIGURES = [
    "samples",
    "class_means",
    "class_stds",
    "pixel_histograms",
    "mean_intensity",
    "class_counts",
    "train_vs_test",
]


wildcard_constraints:
    dataset="[a-z][a-z0-9_]*",


def package_code(*modules):
    """Library modules a rule's output depends on, as inputs: editing one reruns the rule
    (Snakemake's own code trigger only sees the rule's script)."""
    return [
        os.path.join(workflow.basedir, "src", "mnistflow", f"{m}.py") for m in modules
    ]


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
    return [f"results/{dataset}/stats/stats.csv"] + [
        f"results/{dataset}/stats/{figure}.png" for figure in STATS_FIGURES
    ]


def all_targets():
    targets = []
    for dataset in config["datasets"]:
        get_spec(
            dataset, config["custom_datasets"]
        )  # unknown names fail before any job
        targets += stats_targets(dataset)
    return targets
