"""Config validation against the workflow's JSON schema, with messages that name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml


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


_PARSERS = {
    "integer": int,
    "number": float,
    "boolean": lambda s: {"true": True, "false": False}[s.lower()],
}


def coerce_strings(config: dict, schema: dict) -> None:
    """Turn strings into the integers, numbers and booleans the schema asks for, in place.

    ``snakemake --config 'stats={pixel_histograms: {bins: 8}}'`` parses nested values as
    strings; top-level values and YAML config files are unaffected.
    """
    for key, sub in schema.get("properties", {}).items():
        value = config.get(key)
        if isinstance(value, dict):
            coerce_strings(value, sub)
        elif isinstance(value, str) and sub.get("type") in _PARSERS:
            try:
                config[key] = _PARSERS[sub["type"]](value)
            except (ValueError, KeyError):
                pass  # left as is: validation names the key


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = _key(error.absolute_path)
        keys = ", ".join(f"{where}.{u}" if error.absolute_path else u for u in unknown)
        return f"unknown config key {keys}; allowed keys here: {', '.join(allowed) or 'none'}"
    message = f"config key {_key(error.absolute_path)}: {error.message}"
    if "description" in error.schema:
        message += f" (expected: {error.schema['description']})"
    return message


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Fill defaults into ``config`` and validate it; raise ``ConfigError`` naming every bad key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    fill_defaults(config, schema)
    coerce_strings(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(
            "invalid config:\n" + "\n".join(f"  - {_describe(e)}" for e in errors)
        )
    return config


def load_yaml(path: str | Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)
