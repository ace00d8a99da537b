"""The conda env files in envs/ pin exactly what the venv (requirements.txt) pins."""

import re

import pytest
import yaml

from conftest import REPO


def normalized(name: str) -> str:
    """PyPI and conda-forge spell names differently (MulticoreTSNE, multicore-tsne)."""
    return re.sub(r"[-_.]", "", name.lower())


def requirement_pins():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[normalized(name)] = version
    return pins


NOT_IN_VENV = {"python", "pip", "nodejs"}  # the interpreter and tools the venv gets elsewhere


ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))


def test_there_are_env_files():
    assert {p.name for p in ENV_FILES} >= {"data.yaml", "stats.yaml", "embed.yaml"}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_requirements(path):
    env = yaml.safe_load(path.read_text())
    pins = requirement_pins()
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda
    for entry in conda:
        name, _, version = entry.partition("=")
        if normalized(name) not in NOT_IN_VENV:
            assert pins.get(normalized(name)) == version, f"{path.name}: conda {entry}, venv has {pins.get(normalized(name))}"
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    checked = 0
    for entry in pip:
        if entry.startswith("--editable"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", entry)
        assert match, f"{path.name}: {entry!r} is not pinned with =="
        name = normalized(match.group(1))
        assert name in pins, f"{path.name}: {name} is not in requirements.txt"
        assert pins[name] == match.group(2), f"{path.name}: {name}=={match.group(2)}, venv has {pins[name]}"
        checked += 1
    assert checked >= 5


def test_requirements_pin_the_brief_versions():
    pins = requirement_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["snakemake"].startswith("9.")


def test_slurm_extra_pins_what_the_venv_pins():
    import tomllib

    pins = requirement_pins()
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["slurm"]
    assert len(extra) == 2
    for entry in extra:
        name, version = entry.split("==")
        assert pins[normalized(name)] == version, entry
