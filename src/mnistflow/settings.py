"""From the validated config to the settings each job takes: one function per kind of job, called
by the rules' params and by every bench, so that a bench measures what the workflow runs.

Each returns only what that job reads (for a wildcard's job, what that wildcard's job reads):
Snakemake reruns a job when its params change, so a setting of one backend, model or strategy
reruns only its own jobs. No torch: the DAG is built from these.
"""

from __future__ import annotations

from .datasets import IDX_ENTRY_KEYS, ingested
from .config import training_runs
from .neighbours import tsne_neighbours
from .embed import AUTO_TSNE_BACKENDS
from .registry import AUTO_TSNE, IMAGENET_PREFIX

# the t-SNE settings every backend shares; each backend's own are under embed.tsne.<backend>
TSNE_SHARED = ("perplexity", "early_exaggeration")
GAN_SHARED = ("epochs", "batch_size", "noise_dim", "seed", "train_subset", "quality_samples")
TRANSFER_SHARED = ("budgets", "seeds", "validation", "lr_factors")
TRANSFER_FIT = ("max_steps", "eval_every", "patience", "batch_size", "weight_decay")


def custom_dataset(config: dict, dataset: str) -> dict:
    """The custom_datasets entry of this IDX dataset alone, its IDX keys alone (empty for a
    built-in one), so that editing another dataset's entry does not rerun this one."""
    entries = config["custom_datasets"]
    return {name: {key: value for key, value in entries[name].items() if key in IDX_ENTRY_KEYS}
            for name in entries if name == dataset and not ingested(entries[name])}


def ingested_dataset(config: dict, dataset: str) -> dict:
    """The custom_datasets entry of a dataset read from the user's own folder or npz."""
    entry = config["custom_datasets"][dataset]
    assert ingested(entry), f"{dataset} is not a folder or npz dataset"
    return entry


def local_dir(config: dict, dataset: str) -> str:
    """The folder data.local_dirs names for this dataset, if any."""
    return config["data"]["local_dirs"].get(dataset, "")


def stats_figure_options(config: dict, figure: str) -> dict:
    """stats.<figure> of the config: changing one figure's options redraws only it."""
    return config["stats"].get(figure, {})


def quality_folds(config: dict) -> dict:
    """What the cross-validation job reads: the folds, their seed and the fold model."""
    quality = config["data_quality"]
    return {"folds": quality["folds"], "seed": quality["seed"], "model": quality["model"]}


def quality_checks(config: dict) -> dict:
    """What finding the label issues, duplicates and outliers reads, as ``quality.assess`` takes it."""
    quality = config["data_quality"]
    return {"near_duplicate_distance": quality["near_duplicate_distance"],
            "outlier_neighbours": quality["outliers"]["neighbours"],
            "outlier_threshold": quality["outliers"]["threshold"]}


def neighbour_count(config: dict) -> int:
    """Neighbours a point in the shared graph: as many as its most demanding reader takes (t-SNE
    ``tsne_neighbours``, UMAP n_neighbors - 1 besides the point, the quality table's knn_k)."""
    embed = config["embed"]
    return max(tsne_neighbours(embed["tsne"]["perplexity"]), embed["umap"]["n_neighbors"] - 1,
               embed["quality"]["knn_k"])


def neighbour_search(config: dict) -> dict:
    """How the graph is searched: Annoy's settings only for an Annoy search, so that editing them
    does not rebuild an exact graph."""
    embed = config["embed"]
    if embed["neighbours"]["search"] == "exact":
        return {"search": "exact"}
    return {"search": "annoy", "annoy_trees": embed["neighbours"]["annoy_trees"], "seed": embed["seed"]}


def tsne_options(config: dict, backend: str) -> dict:
    """The keyword arguments of ``embed.tsne`` for one backend: the shared settings, the seed and
    that backend's own; for ``auto``, those of each backend it may pick, by name."""
    if backend == AUTO_TSNE:
        return {choice: tsne_options(config, choice) for choice in AUTO_TSNE_BACKENDS}
    tsne = config["embed"]["tsne"]
    options = {key: tsne[key] for key in TSNE_SHARED}
    options.update(tsne[backend], seed=config["embed"]["seed"])
    return options


def training_run(config: dict, run: str) -> dict:
    """A training run's settings, as ``TrainConfig`` takes them."""
    runs = training_runs(config)
    if run not in runs:
        raise ValueError(f"unknown training run {run!r}; train.runs and train.search define: "
                         f"{', '.join(sorted(runs))}")
    return runs[run]


# what the optimizer study's runs take of train.defaults (each run sets its own optimizer, rate
# and seed; the study its model, epochs, batch size, images and held-out share)
STUDY_RUN_DEFAULTS = ("schedule", "schedule_kwargs", "augment", "mixed_precision", "input_scaling")


def optimizer_study(config: dict) -> dict:
    """The optimizer comparison's settings, with ``run``: the training settings each of its runs
    starts from, and ``cuda_graphs``."""
    study = config["optimizers"]
    run = {key: config["train"]["defaults"][key] for key in STUDY_RUN_DEFAULTS}
    run.update({key: study[key] for key in ("model", "epochs", "batch_size", "train_subset", "validation")})
    return dict(study, run=run, cuda_graphs=config["train"]["cuda_graphs"])


def recording_options(config: dict) -> dict:
    """What a recorded run's ``Recorder`` takes."""
    introspect = config["introspect"]
    return {key: introspect[key] for key in ("per_epoch", "weight_bins", "gradient_bins")}


def gan_settings(config: dict, model: str) -> dict:
    """A GAN's ``GanConfig``: the shared settings plus that model's own."""
    gan = config["gan"]
    return dict({key: gan[key] for key in GAN_SHARED}, model=model, **gan[model])


def transfer_source_options(config: dict, source: str) -> dict:
    """What loading an ImageNet source needs; nothing for a checkpoint, so that editing them does
    not rerun the dataset pairs."""
    if not source.startswith(IMAGENET_PREFIX):
        return {}
    imagenet = config["transfer"]["imagenet"]
    return {key: imagenet[key] for key in ("image_size", "download")}


def transfer_settings(config: dict, source: str, strategy: str) -> dict:
    """Budgets, seeds, the validation share, the rate factors and the ``FitConfig`` (under
    ``fit``) of one strategy from one source: its own rate, an ImageNet backbone's own rate when
    fine-tuned, and an ImageNet network's precision and layout where it trains through it."""
    transfer = config["transfer"]
    fit = dict({key: transfer[key] for key in TRANSFER_FIT}, lr=transfer["lr"][strategy])
    if source.startswith(IMAGENET_PREFIX):
        imagenet = transfer["imagenet"]
        if strategy == "finetune":
            fit["backbone_lr"] = imagenet["backbone_lr"]
        # not the frozen head, which trains on float32 features: bfloat16 would only round them
        if strategy != "frozen":
            fit.update(mixed_precision=imagenet["mixed_precision"], channels_last=imagenet["channels_last"])
    return dict({key: transfer[key] for key in TRANSFER_SHARED}, fit=fit)
