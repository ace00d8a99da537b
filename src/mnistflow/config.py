"""Config validation against the workflow's JSON schema, with messages that name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import jsonschema


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def fill_defaults(config: dict, schema: dict) -> None:
    """Insert the schema's ``default`` for every missing key, recursively, in place."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(config[key], sub)
            entry = sub.get("additionalProperties")
            if isinstance(entry, dict) and "properties" in entry:  # a mapping of named entries (custom_datasets)
                for value in config[key].values():
                    if isinstance(value, dict):
                        fill_defaults(value, entry)


_NULL_WORDS = ("null", "~", "None")


def _parse_scalar(text: str, kind: str):
    """``text`` as a value of JSON-schema type ``kind``; ValueError if it is not one."""
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        return {"true": True, "false": False}[text.lower()]
    if kind == "null" and text in _NULL_WORDS:
        return None
    raise ValueError(text)


def _resolve(schema: dict, root: dict) -> dict:
    """The schema a ``$ref`` (to this file's ``#/...``) points at."""
    while isinstance(schema, dict) and "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def coerce_strings(config, schema: dict, root: dict | None = None):
    """Turn strings into the integers, numbers, booleans and nulls the schema asks for, at every
    depth (objects, lists, ``$ref``, ``oneOf``/``anyOf``, free-form mappings), in place; returns
    the value.

    ``snakemake --config 'train={runs: {first: {epochs: 2}}}'`` gives every nested value as a
    string (a string in a YAML config file is treated the same way). A string the schema allows
    as it is (``optimizer: Adam``, ``budgets: [10, full]``'s ``full``) stays a string; in a
    free-form mapping (``optimizer_kwargs``) a string that YAML reads as a number, boolean or
    null becomes one."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if isinstance(config, dict):
        properties, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, value in config.items():
            if key in properties:
                sub = properties[key]
            elif isinstance(extra, dict):
                sub = extra
            elif not properties:
                sub = {}  # a free-form mapping such as optimizer_kwargs
            else:
                continue  # an unknown key: validation names it
            config[key] = coerce_strings(value, sub, root)
        return config
    if isinstance(config, list):
        items = schema.get("items", {})
        config[:] = [coerce_strings(value, items, root) for value in config]
        return config
    if isinstance(config, str):
        return _coerce_string(config, schema, root)
    return config


def _coerce_string(text: str, schema: dict, root: dict):
    branches = [_resolve(b, root) for b in schema.get("oneOf", []) + schema.get("anyOf", [])] or [schema]
    allowed_as_is = any(text == b.get("const") or text in b.get("enum", ()) for b in branches)
    kinds = []
    for branch in branches:
        kind = branch.get("type")
        kinds += kind if isinstance(kind, list) else [kind] if kind else []
    if allowed_as_is or ("string" in kinds and not schema.get("oneOf") and not schema.get("anyOf")):
        return text
    if not kinds and not any("const" in b or "enum" in b for b in branches):  # free-form: a number if it is one
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                pass
        value = yaml.safe_load(text) if text.strip() else text
        return value if isinstance(value, bool) or value is None else text
    for kind in ("integer", "number", "boolean", "null"):
        if kind in kinds:
            try:
                return _parse_scalar(text, kind)
            except (ValueError, KeyError):
                continue
    return text  # left as is: validation names the key


def _describe(error: "jsonschema.ValidationError") -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = _key(error.absolute_path)
        keys = ", ".join(f"{where}.{u}" if error.absolute_path else u for u in unknown)
        return f"unknown config key {keys}; allowed keys here: {', '.join(allowed) or 'none'}"
    if error.validator == "not" and "description" in error.schema:  # the schema says what is wrong
        return f"config key {_key(error.absolute_path)}: {error.schema['description']}"
    message = f"config key {_key(error.absolute_path)}: {error.message}"
    if "description" in error.schema:
        message += f" (expected: {error.schema['description']})"
    return message


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill defaults into ``config`` and validate it; raise ``ConfigError`` naming every bad key."""
    import jsonschema  # here: bench/gpu.py reads the config on a GPU machine that lacks it

    schema = yaml.safe_load(Path(schema_path).read_text())
    fill_defaults(config, schema)
    coerce_strings(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(
            "invalid config:\n" + "\n".join(f"  - {_describe(e)}" for e in errors)
        )
    switch_off(config)
    return config


def switch_off(config: dict) -> None:
    """A null switches off what an earlier config defined, which ``--config`` cannot remove
    (Snakemake merges its nested keys into config.yaml's): ``train.search.grid: null`` (no
    search runs), ``gan.models: null`` and ``transfer.pairs: null`` (none) become ``{}`` and
    ``[]``. A run of ``train.runs`` mapped to null stays there as null, so that a key naming it
    can say it was switched off; ``training_runs`` leaves it out. In place, after validation."""
    search = config.get("train", {}).get("search", {})
    if "grid" in search and search["grid"] is None:
        search["grid"] = {}
    for section, key in (("gan", "models"), ("transfer", "pairs")):
        if key in config.get(section, {}) and config[section][key] is None:
            config[section][key] = []


def merged(base: dict, override: dict) -> dict:
    """``override`` over ``base``, dict by dict, as Snakemake merges --configfile over config.yaml
    (``base`` is changed and returned)."""
    for key, value in override.items():
        base[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def load_yaml(path: str | Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


# --- what the config defines, and the checks between its keys ------------------------------------


def training_runs(config: dict) -> dict[str, dict]:
    """Every run id -> its settings: train.runs over train.defaults (but a run switched off,
    mapped to null), then the search grid."""
    from .search import expand_grid

    train = config["train"]
    runs = {run: dict(train["defaults"], **over) for run, over in train["runs"].items() if over is not None}
    if train["search"]["grid"]:
        grid = expand_grid(train["search"]["grid"], train["defaults"])
        for run in set(grid) & set(runs):
            if grid[run] != runs[run]:
                raise ConfigError(f"train.runs.{run} and a run of train.search.grid have the same id "
                                  f"{run!r} but other settings: rename train.runs.{run}")
        runs.update(grid)
    return runs


def transfer_pairs(config: dict) -> list[tuple[str, str, list[str]]]:
    """(source, target, strategies) of every transfer: the dataset pairs, then the ImageNet
    networks on their targets when enabled."""
    from .registry import IMAGENET_PREFIX

    transfer = config["transfer"]
    pairs = [(p["source"], p["target"], transfer["strategies"]) for p in transfer["pairs"]]
    imagenet = transfer["imagenet"]
    if imagenet["enabled"]:
        pairs += [(f"{IMAGENET_PREFIX}{backbone}", target, imagenet["strategies"])
                  for backbone in imagenet["backbones"] for target in imagenet["targets"]]
    return pairs


def check_held_out_splits(config: dict) -> None:
    """The validation splits the training runs and the optimizer study hold out leave training
    images, on every dataset of the run whose size the DAG can read (a folder's or an npz's)."""
    from .datasets import ingested
    from .ingest import training_count

    from .registry import IMAGENET_PREFIX

    runs = training_runs(config)
    sources = [source for source, _, _ in transfer_pairs(config) if not source.startswith(IMAGENET_PREFIX)]
    for dataset in dict.fromkeys(config["datasets"] + sources):
        entry = config["custom_datasets"].get(dataset)
        count = training_count(entry) if ingested(entry) else None
        if count is None:
            continue
        # a dataset of the run trains every run and the optimizer study; a transfer source alone
        # trains train.best_run
        analysed = dataset in config["datasets"]
        trained = runs if analysed else {config["train"]["best_run"]: runs[config["train"]["best_run"]]}
        asked = [(f"train.runs.{run}.validation" if "validation" in (config["train"]["runs"].get(run) or {})
                  else "train.defaults.validation", settings["train_subset"], settings["validation"])
                 for run, settings in trained.items()]
        if analysed:
            asked.append(("optimizers.validation", config["optimizers"]["train_subset"],
                          config["optimizers"]["validation"]))
        for key, subset, validation in asked:
            used = min(subset or count, count)
            if validation >= used:
                raise ConfigError(f"{key}: {validation:,} held out leaves none of the {used:,} training images of "
                                  f"{dataset} to train on; set it lower, e.g. {max(1, used // 10):,} (a tenth)")


def check_config(config: dict) -> None:
    """What the schema cannot check, before any job starts: every dataset and transfer names a
    known dataset, no transfer goes to itself, the runs that other keys name exist, every
    run's optimizer and schedule are ones torch builds and training can step (``recipes``: no
    torch is imported), t-SNE's perplexity suits an ``embed.subset`` and auto is not asked beside a
    backend it may pick, and data quality is not asked of an embedded sample."""
    from .datasets import DataError, check_dataset_name
    from .embed import AUTO_TSNE_BACKENDS, check_perplexity
    from .recipes import check_recipe
    from .registry import AUTO_TSNE, IMAGENET_PREFIX

    for i, dataset in enumerate(config["datasets"]):
        try:
            check_dataset_name(dataset, config["custom_datasets"])
        except DataError as error:
            raise ConfigError(f"datasets[{i}]: {error}") from None
    for source, target, _ in transfer_pairs(config):
        if source == target:
            raise ConfigError(f"transfer.pairs: {source} to itself is not a transfer")
        for dataset in [target] + ([] if source.startswith(IMAGENET_PREFIX) else [source]):
            try:
                check_dataset_name(dataset, config["custom_datasets"])
            except DataError as error:
                raise ConfigError(f"transfer ({source} to {target}): {error}") from None
    runs = training_runs(config)
    named = [("train.best_run", config["train"]["best_run"])]
    named += [("introspect.runs", run) for run in config["introspect"]["runs"]]
    for key, run in named:
        if run in runs:
            continue
        defined = ", ".join(sorted(runs)) or "none"
        if run in config["train"]["runs"]:  # mapped to null
            raise ConfigError(f"{key}: run {run!r} is switched off (train.runs.{run}: null); name another run "
                              f"or leave {run} on; defined: {defined}")
        raise ConfigError(f"{key}: {run!r} is not a run of train.runs or train.search; defined: {defined}")
    for run, settings in runs.items():
        check_recipe(settings, f"train.runs.{run}" if config["train"]["runs"].get(run) is not None else
                     f"train.search.grid (run {run})")
    check_held_out_splits(config)
    embed = config["embed"]
    picked_by_auto = [backend for backend in AUTO_TSNE_BACKENDS if backend in embed["tsne"]["backends"]]
    if AUTO_TSNE in embed["tsne"]["backends"] and picked_by_auto:
        raise ConfigError(f"embed.tsne.backends: {AUTO_TSNE} builds {' or '.join(AUTO_TSNE_BACKENDS)}, decided where its job runs, so beside "
                          f"{', '.join(picked_by_auto)} it may build the same twice: name the backends without auto")
    if embed["subset"] is not None:  # no more points than that; the job checks the dataset's count
        check_perplexity(embed["tsne"]["perplexity"], embed["subset"], ConfigError, " (embed.subset)")
        if config["data_quality"]["enabled"]:
            raise ConfigError(f"embed.subset: {embed['subset']} embeds a sample, but data_quality reads every image's "
                              "PCA projection and neighbours: set embed.subset to null, or data_quality.enabled to "
                              "false")
