"""mnistflow.settings: the config becomes what each job takes, and every configured value arrives
in the job's objects, key by key, for the default config and the article's."""

import dataclasses
import inspect
import re

import pytest

from mnistflow.config import validate_config
from mnistflow.embed import TSNE_FUNCTIONS
from mnistflow.gan import GanConfig
from mnistflow.neighbours import tsne_neighbours
from mnistflow.registry import GAN_MODELS, STRATEGIES, TSNE_BACKENDS
from mnistflow.settings import (GAN_SHARED, TRANSFER_FIT, gan_settings, neighbour_count, training_run,
                                transfer_settings, tsne_options)
from mnistflow.train import TrainConfig
from mnistflow.transfer import FitConfig

from conftest import REPO, resolved_config


@pytest.fixture(params=["config.yaml", "config-article.yaml"])
def config(request):
    return resolved_config(request.param)


def test_each_gan_job_holds_the_configured_values(config):
    for model in GAN_MODELS:
        held = dataclasses.asdict(GanConfig(**gan_settings(config, model)))
        expected = {**{key: config["gan"][key] for key in GAN_SHARED}, **config["gan"][model], "model": model}
        assert {key: held[key] for key in expected} == {
            key: tuple(value) if isinstance(value, list) else value for key, value in expected.items()}


def test_each_training_job_holds_its_runs_values(config):
    for run, over in config["train"]["runs"].items():
        if over is None:
            continue
        held = dataclasses.asdict(TrainConfig(**training_run(config, run)))
        assert held == {**held, **config["train"]["defaults"], **over}


def test_an_unknown_training_run_is_named():
    with pytest.raises(ValueError, match="unknown training run 'nonesuch'; train.runs and train.search define: "):
        training_run(resolved_config(), "nonesuch")


@pytest.mark.parametrize("source", ["mnist", "imagenet_resnet18"])
def test_each_transfer_job_holds_its_strategys_values(config, source):
    transfer = config["transfer"]
    for strategy in STRATEGIES:
        settings = transfer_settings(config, source, strategy)
        fit = dataclasses.asdict(FitConfig(**settings["fit"]))
        assert {key: fit[key] for key in TRANSFER_FIT} == {key: transfer[key] for key in TRANSFER_FIT}
        assert fit["lr"] == transfer["lr"][strategy]
        imagenet = transfer["imagenet"]
        finetuned_imagenet = source.startswith("imagenet_") and strategy == "finetune"
        assert fit["backbone_lr"] == (imagenet["backbone_lr"] if finetuned_imagenet else None)
        through_imagenet = source.startswith("imagenet_") and strategy != "frozen"
        assert fit["mixed_precision"] == (imagenet["mixed_precision"] if through_imagenet else False)
        assert settings["budgets"] == transfer["budgets"] and settings["validation"] == transfer["validation"]


def test_each_tsne_backend_takes_its_options(config):
    for backend in TSNE_BACKENDS:
        options = tsne_options(config, backend)
        accepted = set(inspect.signature(TSNE_FUNCTIONS[backend]).parameters)
        assert set(options) <= accepted, backend
        assert options["perplexity"] == config["embed"]["tsne"]["perplexity"]
        assert options["seed"] == config["embed"]["seed"]


def test_the_shared_graph_has_as_many_neighbours_as_its_most_demanding_reader():
    config = resolved_config()
    assert tsne_neighbours(30) == 90 and tsne_neighbours(30, points=50) == 49
    embed = config["embed"]
    assert neighbour_count(config) == max(3 * embed["tsne"]["perplexity"], embed["umap"]["n_neighbors"] - 1,
                                          embed["quality"]["knn_k"])
    embed["quality"]["knn_k"] = 500
    assert neighbour_count(config) == 500


def test_three_times_the_perplexity_is_written_once():
    """The neighbour rule lives in neighbours.tsne_neighbours; every other place calls it."""
    pattern = re.compile(r"3 \* [\w.\[\]\"']*perplexity")
    places = [path.relative_to(REPO) for folder in ("src", "bench", "workflow", "scripts")
              for path in (REPO / folder).rglob("*") if path.suffix in (".py", ".smk")
              for line in path.read_text().splitlines() if pattern.search(line) and not line.strip().startswith("#")]
    assert [str(p) for p in places] == ["src/mnistflow/neighbours.py"]


def test_auto_tsne_carries_the_options_of_each_backend_it_may_pick():
    config = resolved_config()
    assert tsne_options(config, "auto") == {"opentsne": tsne_options(config, "opentsne"),
                                            "torch": tsne_options(config, "torch")}


def test_auto_beside_a_backend_it_may_pick_is_refused_before_any_job():
    from mnistflow.config import ConfigError, check_config

    config = resolved_config()
    config["embed"]["tsne"]["backends"] = ["auto", "opentsne"]
    with pytest.raises(ConfigError, match="embed.tsne.backends: auto builds opentsne or torch, decided where its job "
                                          "runs, so beside opentsne it may build the same twice"):
        check_config(config)
    config["embed"]["tsne"]["backends"] = ["auto", "multicore"]
    check_config(config)


def test_each_optimizer_study_run_holds_train_defaults_but_for_the_studys_own(config):
    from mnistflow.settings import optimizer_study

    study = optimizer_study(config)
    held = dataclasses.asdict(TrainConfig(**dict(study["run"], optimizer="Adam", optimizer_kwargs={"lr": 0.001},
                                                 seed=0)))
    own = {key: config["optimizers"][key] for key in ("model", "epochs", "batch_size", "train_subset", "validation")}
    assert held == {**config["train"]["defaults"], **own, "optimizer": "Adam", "optimizer_kwargs": {"lr": 0.001},
                    "seed": 0}
    assert study["cuda_graphs"] == config["train"]["cuda_graphs"]
    # what the study's runs do not read is not in their settings: editing it reruns none of them
    assert {"optimizer", "optimizer_kwargs", "seed"}.isdisjoint(study["run"])


def test_the_librarys_recipe_objects_hold_no_defaults_of_their_own():
    """A setting's one default is the config schema's: the objects take every recipe value given
    (FitConfig's ImageNet-only switches are off unless given)."""
    from mnistflow.transfer import ValidationShare

    for recipe in (TrainConfig, GanConfig, ValidationShare):
        defaulted = [f.name for f in dataclasses.fields(recipe)
                     if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
        assert defaulted == [], recipe
    fit_defaults = {f.name: f.default for f in dataclasses.fields(FitConfig) if f.default is not dataclasses.MISSING}
    assert fit_defaults == {"backbone_lr": None, "mixed_precision": False, "channels_last": False}


def test_a_minimal_config_trains_with_the_same_settings_as_config_yaml():
    minimal = validate_config({"datasets": ["mnist"]}, REPO / "workflow/schemas/config.schema.yaml")
    assert minimal["train"]["defaults"] == resolved_config()["train"]["defaults"]
