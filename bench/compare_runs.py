"""Two default runs' results compared value by value (wall times aside), for a change that must
leave them as they were: bench/results/compare-<label>.json.

    .venv/bin/python bench/compare_runs.py BEFORE/results AFTER/results --label issue30

(``bench/run.py --keep --scratch DIR`` keeps a run's ``DIR/results``.) Every file of either
side is compared by its kind:
- csv: the same rows and columns, and equal values but in timing columns;
- npz: the same arrays, equal, but timing entries;
- pt: every entry both hold equal, tensor by tensor (timing entries aside; an entry on one side
  only is listed under ``entries_added``);
- a table's page (an html beside a csv of its name): by its csv;
- anything else (figures, pages): byte for byte (a figure that prints a time differs).

A file on one side only is listed; ``--renamed OLD=NEW`` pairs a file renamed by the change.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
def timing(name: str) -> bool:
    """A column or entry that measures time, not results."""
    return name == "images_per_second" or name.endswith("seconds") or name.startswith("seconds")


def same_value(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(
            torch.equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(timing(str(k)) or same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")
    return a == b


def compare_file(before: Path, after: Path) -> tuple[str | None, list[str]]:
    """(None if the two hold the same results, else what differs; the entries of a checkpoint
    that only ``after`` holds)."""
    if before.suffix == ".pt":
        from mnistflow.checkpoint import load_state

        a, b = load_state(before), load_state(after)
        # an entry the change added (one side only) is listed apart, not counted as a difference
        differing = sorted(str(k) for k in set(a) & set(b) if not timing(str(k)) and not same_value(a[k], b[k]))
        return (f"entries differ: {differing}" if differing else None), sorted(set(b) - set(a))
    return compare_values(before, after), []


def compare_values(before: Path, after: Path) -> str | None:
    """None if the two (csv, npz, a table's page, any other file) hold the same results, else
    what differs."""
    if before.suffix == ".csv":
        import pandas as pd

        a, b = pd.read_csv(before), pd.read_csv(after)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            return f"columns or rows differ: {list(a.columns)} x {len(a)} against {list(b.columns)} x {len(b)}"
        differing = [c for c in a.columns if not timing(c) and not a[c].equals(b[c])]
        return f"columns differ: {differing}" if differing else None
    if before.suffix == ".npz":
        with np.load(before, allow_pickle=False) as a, np.load(after, allow_pickle=False) as b:
            if set(a.files) != set(b.files):
                return f"arrays differ: {sorted(set(a.files) ^ set(b.files))}"
            differing = [k for k in a.files if not timing(k) and not same_value(a[k], b[k])
                         and not (k == "params" and same_value(json.loads(str(a[k])), json.loads(str(b[k]))))]
            return f"arrays differ: {differing}" if differing else None
    if before.suffix == ".html" and before.with_suffix(".csv").exists():
        return compare_values(before.with_suffix(".csv"), after.with_suffix(".csv"))
    return None if before.read_bytes() == after.read_bytes() else "bytes differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--label", required=True)
    parser.add_argument("--renamed", nargs="*", default=[], help="OLD=NEW paths relative to the results folders")
    parser.add_argument("--skip", nargs="*", default=["logs", "benchmarks"], help="top folders not compared")
    args = parser.parse_args()

    renamed = dict(pair.split("=", 1) for pair in args.renamed)

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                and p.relative_to(root).parts[0] not in args.skip}

    before, after = files(args.before), files(args.after)
    pairs = {name: renamed.get(name, name) for name in before if renamed.get(name, name) in after}
    differing, added = {}, {}
    for name, new in sorted(pairs.items()):
        problem, extra = compare_file(args.before / name, args.after / new)
        if problem:
            differing[name] = problem
        if extra:
            added[name] = extra
    result = {"label": args.label, "before": str(args.before), "after": str(args.after),
              "compared": len(pairs), "same": len(pairs) - len(differing), "differing": differing,
              "entries_added": added,
              "renamed": renamed, "only_before": sorted(before - set(pairs)),
              "only_after": sorted(after - set(pairs.values()))}
    out = ROOT / "bench" / "results" / f"compare-{args.label}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("only_before", "only_after")}, indent=1))
    print("only before:", len(result["only_before"]), "only after:", len(result["only_after"]))


if __name__ == "__main__":
    main()
