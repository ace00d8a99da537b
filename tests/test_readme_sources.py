"""Every number in the documentation has a source: a bench/results JSON it names (and the key in
it, where it names one), or the words "one-off trial". The measurements live in bench/README.md;
README.md is the user's guide: short, and free of issue numbers."""

import glob
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BENCH_README = ROOT / "bench" / "README.md"
# every file that may name bench JSONs: the two READMEs, the changelog and the report's captions
DOCS = [README, BENCH_README, ROOT / "CHANGELOG.md", *sorted((ROOT / "workflow" / "report").glob("*.rst"))]
# `bench/results/<file>.json` or `bench/results/<file>.json#key.path` (list items by index)
REFERENCE = re.compile(r"`(bench/results/[\w*.-]+\.json)(?:#([\w.\-]+))?`")
ISSUE_NUMBER = re.compile(r"\bissues? \d+|#\d+", re.IGNORECASE)
README_MAX_LINES = 300


def resolve(data, path: str):
    for key in path.split("."):
        if isinstance(data, list):
            data = data[int(key)]
        else:
            data = data[key]
    return data


def references() -> list[tuple[str, str, str]]:
    found = set()
    for doc in DOCS:
        if doc.is_file():
            relative = doc.relative_to(ROOT).as_posix()
            found.update((relative, name, key) for name, key in REFERENCE.findall(doc.read_text()))
    return sorted(found)


def test_the_measurements_have_their_own_readme():
    assert BENCH_README.is_file()
    assert any(doc == "bench/README.md" for doc, _, _ in references())


@pytest.mark.parametrize("doc, name, key", references())
def test_each_bench_json_the_docs_name_exists_with_its_key(doc, name, key):
    files = sorted(glob.glob(str(ROOT / name)))
    assert files, f"{doc} names {name}, which is not in the repository"
    if key:
        assert not ("*" in name), f"{doc}: {name}#{key}: a key needs one file, not a pattern"
        try:
            resolve(json.loads(Path(files[0]).read_text()), key)
        except (KeyError, IndexError, ValueError, TypeError):
            pytest.fail(f"{doc} names key {key!r} of {name}, which it does not hold")


def measured_choices_rows() -> list[list[str]]:
    text = BENCH_README.read_text()
    assert "### Measured choices" in text, "bench/README.md has no '### Measured choices' section"
    # the section ends at the next heading of level 1 to 3
    section = re.split(r"\n#{1,3} ", text.split("### Measured choices", 1)[1], maxsplit=1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return [row for row in rows[1:] if not set(row[0]) <= {"-", "|"}]


def test_every_measured_choice_names_a_json_or_says_it_was_a_one_off_trial():
    rows = measured_choices_rows()
    assert len(rows) > 10
    unsourced = [row[0] for row in rows if not (REFERENCE.search(row[-1]) or "one-off trial" in row[-1])]
    assert not unsourced, f"measured choices without a bench/results JSON or 'one-off trial': {unsourced}"


def test_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md: {lines} lines, over {README_MAX_LINES} (numbers: bench/README.md)"


def test_readme_starts_with_make_run_and_make_test():
    text = README.read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands[:2] == ["make run", "make test"]


def test_readme_points_to_the_measurements_and_the_history():
    text = README.read_text()
    assert "bench/README.md" in text and "CHANGELOG.md" in text


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_no_issue_numbers_in_user_facing_text(doc):
    lines = enumerate(doc.read_text().splitlines(), 1)
    found = [(number, line) for number, line in lines if ISSUE_NUMBER.search(line)]
    assert not found, f"{doc.relative_to(ROOT)}: issue numbers (say what and when instead): {found}"
