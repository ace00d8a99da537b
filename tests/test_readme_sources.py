"""Every number in the README has a source: a bench/results JSON it names (and the key in it,
where it names one), or the words "one-off trial"."""

import glob
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# `bench/results/<file>.json` or `bench/results/<file>.json#key.path` (list items by index)
REFERENCE = re.compile(r"`(bench/results/[\w*.-]+\.json)(?:#([\w.\-]+))?`")


def resolve(data, path: str):
    for key in path.split("."):
        if isinstance(data, list):
            data = data[int(key)]
        else:
            data = data[key]
    return data


@pytest.mark.parametrize("name, key", sorted(set(REFERENCE.findall(README))))
def test_each_bench_json_the_readme_names_exists_with_its_key(name, key):
    files = sorted(glob.glob(str(ROOT / name)))
    assert files, f"README names {name}, which is not in the repository"
    if key:
        assert not ("*" in name), f"{name}#{key}: a key needs one file, not a pattern"
        try:
            resolve(json.loads(Path(files[0]).read_text()), key)
        except (KeyError, IndexError, ValueError, TypeError):
            pytest.fail(f"README names key {key!r} of {name}, which it does not hold")


def measured_choices_rows() -> list[list[str]]:
    section = README.split("### Measured choices", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [row for row in rows[1:] if not set(row[0]) <= {"-", "|"}]


def test_every_measured_choice_names_a_json_or_says_it_was_a_one_off_trial():
    rows = measured_choices_rows()
    assert len(rows) > 10
    unsourced = [row[0] for row in rows if not (REFERENCE.search(row[-1]) or "one-off trial" in row[-1])]
    assert not unsourced, f"measured choices without a bench/results JSON or 'one-off trial': {unsourced}"
