import copy

import pytest
import yaml

from mnistflow.config import ConfigError, validate_config

from conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_valid_and_complete(config):
    before = copy.deepcopy(config)
    validate_config(config, SCHEMA)
    assert config == before  # config.yaml spells out every default


def test_defaults_fill_a_minimal_config():
    config = {"datasets": ["fashion_mnist"]}
    validate_config(config, SCHEMA)
    assert config["stats"]["pixel_histograms"] == {"bins": 32, "log_scale": True, "split": "train"}
    assert config["data"]["sources"] == ["local", "torchvision", "package"]


def test_unknown_key_is_named(config):
    config["stats"]["pixel_histogram"] = {"bins": 3}
    with pytest.raises(ConfigError, match="unknown config key stats.pixel_histogram; allowed keys here: "
                       "class_means, class_stds, pixel_histograms, samples, train_vs_test"):
        validate_config(config, SCHEMA)


def test_unknown_top_level_key_is_named(config):
    config["epochs"] = 3
    with pytest.raises(ConfigError, match="unknown config key epochs;"):
        validate_config(config, SCHEMA)


def test_wrong_type_and_out_of_range_are_named(config):
    config["stats"]["pixel_histograms"]["bins"] = 1
    config["stats"]["samples"]["rows"] = "five"
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    message = str(err.value)
    assert "config key stats.pixel_histograms.bins: 1 is less than the minimum of 2" in message
    assert "config key stats.samples.rows: 'five' is not of type 'integer'" in message


def test_bad_enum_and_checksum(config):
    config["data"]["sources"] = ["local", "internet"]
    config["custom_datasets"] = {"tiny": {"classes": ["a", "b"], "sha256": {
        "train_images": "xyz", "train_labels": "0" * 64, "test_images": "0" * 64, "test_labels": "0" * 64}}}
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    message = str(err.value)
    assert "config key data.sources.1: 'internet' is not one of ['local', 'torchvision', 'package']" in message
    assert "config key custom_datasets.tiny.sha256.train_images: 'xyz' does not match" in message
    assert "(expected: 64 hexadecimal digits)" in message


def test_nested_command_line_strings_are_coerced(config):
    config["stats"]["pixel_histograms"].update(bins="8", log_scale="false")
    config["stats"]["samples"]["rows"] = "many"
    with pytest.raises(ConfigError, match="stats.samples.rows: 'many' is not of type 'integer'"):
        validate_config(config, SCHEMA)
    assert config["stats"]["pixel_histograms"]["bins"] == 8
    assert config["stats"]["pixel_histograms"]["log_scale"] is False


def test_unknown_tsne_backend_is_rejected_by_the_schema(config):
    config["embed"]["tsne"]["backends"] = ["opentsne", "bhtsne"]
    with pytest.raises(ConfigError, match=r"config key embed.tsne.backends.1: 'bhtsne' is not one of \['auto', 'opentsne', 'multicore', 'sklearn', 'torch'\]"):
        validate_config(config, SCHEMA)


def test_article_config_is_valid_over_the_default(config):
    article = yaml.safe_load((REPO / "config-article.yaml").read_text())
    config["train"]["runs"].update(article["train"]["runs"])
    config["train"]["search"] = article["train"]["search"]
    validate_config(config, SCHEMA)
    assert config["train"]["runs"]["second"]["epochs"] == 10


def test_an_auxiliary_class_loss_without_projection_is_refused_naming_the_key(config):
    config["gan"]["cgan_mlp"] = {"lr": 0.0002, "conditioning": "concat", "class_loss_weight": 1.0}
    with pytest.raises(ConfigError, match=r"config key gan.cgan_mlp.conditioning: 'projection' was expected "
                                          r"\(expected: conditioning projection wherever class_loss_weight > 0"):
        validate_config(config, SCHEMA)
    config["gan"]["cgan_mlp"] = {"lr": 0.0002, "class_loss_weight": 1.0}
    with pytest.raises(ConfigError, match="'conditioning' is a required property"):
        validate_config(config, SCHEMA)
    # every recipe value given: the library holds no defaults to fill a partial one
    config["gan"]["cgan_mlp"] = {"lr": 0.0002, "class_loss_weight": 0}
    with pytest.raises(ConfigError, match="config key gan.cgan_mlp: 'betas' is a required property"):
        validate_config(config, SCHEMA)
    config["gan"]["cgan_mlp"] = {"lr": 0.0002, "betas": [0.5, 0.999], "conditioning": "concat",  # the article's
                                 "class_loss_weight": 0, "generator_ema": 0}
    validate_config(config, SCHEMA)


def test_gan_sample_sizes_must_be_well_above_the_feature_dimension(config):
    config["gan"]["quality_samples"] = 500
    with pytest.raises(ConfigError, match=r"config key gan.quality_samples: 500 is less than the minimum of 2000 "
                                          r"\(expected: samples scored after each epoch .* and real test images scored "
                                          r"for its real-data floor: every point of a chart on one sample size.* "
                                          r"at least 2,000, well above the 576 features"):
        validate_config(config, SCHEMA)


OVERRIDES = [  # as a new user types them, with what each must set
    ("embed={subset: 500}", ["embed", "subset"], 500),
    ("optimizers={train_subset: 500}", ["optimizers", "train_subset"], 500),
    ("embed={umap: {seed: 0}}", ["embed", "umap", "seed"], 0),
    ("embed={subset: null}", ["embed", "subset"], None),
    ("train={runs: {first: {epochs: 2}}}", ["train", "runs", "first", "epochs"], 2),
    ("optimizers={seeds: [0, 1]}", ["optimizers", "seeds"], [0, 1]),
    ("train={search: {grid: {lr: [0.01], epochs: [2]}}}", ["train", "search", "grid", "lr"], [0.01]),
    ("train={search: {grid: {lr: [0.01], epochs: [2]}}}", ["train", "search", "grid", "epochs"], [2]),
    ("gan={cgan_mlp: {lr: 0.001}}", ["gan", "cgan_mlp", "lr"], 0.001),
    ("transfer={budgets: [10, full]}", ["transfer", "budgets"], [10, "full"]),
    ("train={runs: {first: {optimizer_kwargs: {lr: 1e-3, momentum: 0.9, nesterov: true}}}}",
     ["train", "runs", "first", "optimizer_kwargs"], {"lr": 0.001, "momentum": 0.9, "nesterov": True}),
    ("train={runs: {first: {optimizer: Adam}}}", ["train", "runs", "first", "optimizer"], "Adam"),
    ("data={local_dirs: {mnist: 123}}", ["data", "local_dirs", "mnist"], "123"),
]


@pytest.mark.parametrize("override, keys, expected", OVERRIDES, ids=[o[0] for o in OVERRIDES])
def test_every_command_line_override_gets_the_type_the_schema_asks_for(config, override, keys, expected):
    """The strings Snakemake's own --config parser gives, at every depth (lists, $ref, oneOf,
    union types, free-form optimizer arguments)."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    update_config(config, parse_config([override]))
    validate_config(config, SCHEMA)
    value = config
    for key in keys:
        value = value[key]
    assert value == expected and type(value) is type(expected)


def test_the_schemas_names_are_the_librarys_registries():
    """Each name list of the schema is written once and is exactly what the library registers."""
    import yaml

    from mnistflow.embed import TSNE_BACKENDS
    from mnistflow.models import MODELS
    from mnistflow.optimizers import OPTIMIZERS
    from mnistflow.registry import GAN_MODELS, STRATEGIES
    from mnistflow.transfer import IMAGENET_ARCHITECTURES

    text = (REPO / "workflow/schemas/config.schema.yaml").read_text()
    schema = yaml.safe_load(text)
    assert schema["$defs"]["model_name"]["enum"] == list(MODELS)
    assert schema["$defs"]["strategy"]["enum"] == list(STRATEGIES)
    properties = schema["properties"]
    assert properties["embed"]["properties"]["tsne"]["properties"]["backends"]["items"]["enum"] == ["auto", *TSNE_BACKENDS]
    assert properties["gan"]["properties"]["models"]["items"]["enum"] == list(GAN_MODELS)
    assert properties["optimizers"]["properties"]["tuned"]["items"]["enum"] == list(OPTIMIZERS)
    imagenet = properties["transfer"]["properties"]["imagenet"]["properties"]
    assert imagenet["backbones"]["items"]["enum"] == list(IMAGENET_ARCHITECTURES)
    for names in (MODELS, STRATEGIES):
        assert text.count("enum: [" + ", ".join(names) + "]") == 1  # the enum written once, in $defs


def test_a_perplexity_too_large_for_embed_subset_is_refused_before_any_job(config):
    from mnistflow.config import check_config

    config["embed"]["subset"] = 50
    validate_config(config, SCHEMA)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert str(error.value) == ("embed.tsne.perplexity: 30 is too large for 50 points (embed.subset): t-SNE needs "
                                "it below (points - 1) / 3 = 16.3333")
    config["embed"]["subset"] = 92
    config["data_quality"]["enabled"] = False
    check_config(config)  # 91 / 3 = 30.33


def test_data_quality_of_an_embedded_sample_is_refused_before_any_job(config):
    from mnistflow.config import check_config

    config["embed"]["subset"] = 5000
    validate_config(config, SCHEMA)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert str(error.value) == ("embed.subset: 5000 embeds a sample, but data_quality reads every image's PCA "
                                "projection and neighbours: set embed.subset to null, or data_quality.enabled to "
                                "false")


def test_an_unknown_dataset_is_refused_naming_its_entry(config):
    from mnistflow.config import check_config

    config["datasets"], config["custom_datasets"] = ["mnist", "kmnist"], {}
    validate_config(config, SCHEMA)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert str(error.value) == "datasets[1]: unknown dataset 'kmnist'; known datasets: fashion_mnist, mnist"


def overridden(config, *overrides):
    """config.yaml with Snakemake's own --config parsing and merging of ``overrides``, validated."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    update_config(config, parse_config(list(overrides)))
    return validate_config(config, SCHEMA)


@pytest.mark.parametrize("null", ["null", "~"])
def test_null_switches_off_a_default_run_and_the_search_grid_from_the_command_line(config, null):
    """--config merges nested keys into config.yaml's, so only a null can take one away."""
    from mnistflow.config import check_config, training_runs

    assert {"first", "best-Adam-lr0p001-e1-bs64"} <= set(training_runs(overridden(copy.deepcopy(config))))
    overridden(config, f"train={{runs: {{first: {null}}}, search: {{grid: {null}}}}}", f"gan={{models: {null}}}",
               f"transfer={{pairs: {null}}}")
    assert sorted(training_runs(config)) == ["best", "second"]
    assert config["train"]["runs"]["first"] is None and config["train"]["search"]["grid"] == {}
    assert config["gan"]["models"] == [] and config["transfer"]["pairs"] == []
    check_config(config)


@pytest.mark.parametrize("override, message", [
    ("train={runs: {best: null}}", "train.best_run: run 'best' is switched off (train.runs.best: null); name another "
                                   "run or leave best on; defined: best-Adam-lr0p001-e1-bs64, first, second"),
    ("train={runs: {second: null}}", "introspect.runs: run 'second' is switched off (train.runs.second: null); name "
                                     "another run or leave second on; defined: best, best-Adam-lr0p001-e1-bs64, first"),
])
def test_a_key_naming_a_switched_off_run_is_refused_naming_the_key(config, override, message):
    from mnistflow.config import check_config

    overridden(config, override)
    with pytest.raises(ConfigError) as error:
        check_config(config)
    assert str(error.value) == message


def test_defaults_cannot_be_switched_off(config):
    with pytest.raises(ConfigError, match=r"config key train.defaults: None is not of type 'object'"):
        overridden(config, "train={defaults: null}")
