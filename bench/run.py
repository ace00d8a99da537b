"""The whole default run, timed: wall time, job time by rule, start-up cost per job, and the
result floors the default run must hold, written to bench/results/run-<date>[-label].json.

    .venv/bin/python bench/run.py [--label after] [--rev HEAD] [--configfile extra.yaml]

It copies the project (the working tree's tracked and unignored files, or ``--rev``'s tree) into a
scratch folder, runs ``snakemake`` there as ``make run`` does (the default target, the default
profile, an empty ``results/`` and ``resources/``, this checkout's venv, the copy's own library
first on PYTHONPATH), then reads:

- Snakemake's log: each job's rule, start and end (one-second stamps), its benchmark and log file;
- each job's ``benchmark:`` file: the seconds of the job's process (imports included);
- each rule log's ``done in X s``: the job's work once its script is running; the benchmark minus
  that is the job's start-up (Python, the Snakemake script preamble, imports);
- the result tables: the floors of the default run (GAN quality, t-SNE, the best run, seeds near
  chance in the optimizer comparison).

Run nothing else meanwhile: it measures the machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench_common import machine

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
JOB_START = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")
DONE_IN = re.compile(r" done in ([0-9.]+) s$")


def copy_project(rev: str | None, scratch: Path) -> str:
    """The project's files into ``scratch``; returns what was copied, as a git description."""
    if rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        with tempfile.TemporaryFile() as fh:
            fh.write(archive)
            fh.seek(0)
            with tarfile.open(fileobj=fh) as tar:
                tar.extractall(scratch, filter="data")
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], check=True, capture_output=True,
                              text=True).stdout.strip()
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, scratch / name)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True).stdout
    return head + ("+uncommitted changes" if dirty.strip() else "")


def parse_snakemake_log(path: Path) -> list[dict]:
    """Every job Snakemake ran: rule, jobid, start and end stamps, benchmark and log files."""
    jobs: dict[str, dict] = {}
    stamp, current = None, None
    for line in path.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            current = None
        elif match := JOB_START.match(line):
            current = {"rule": match.group(1), "start": stamp}
        elif current is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            if key == "jobid":
                current["jobid"] = value
                jobs[value] = current
            elif key in ("benchmark", "log"):
                current[key] = value.split(", ")[0]
            elif key == "threads":
                current["threads"] = int(value)
        elif match := FINISHED.match(line):
            if match.group(1) in jobs:
                jobs[match.group(1)]["end"] = stamp
        else:
            current = None if line.strip() == "" else current
    return [job for job in jobs.values() if job["rule"] != "all"]


def benchmark_seconds(path: Path) -> float | None:
    if not path.is_file():
        return None
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return float(rows[-1]["s"]) if rows else None


def work_seconds(path: Path) -> float | None:
    """The job's own time as its rule log states it (``done in X s``, after imports)."""
    if not path.is_file():
        return None
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if match := DONE_IN.search(line):
            return float(match.group(1))
    return None


def read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def number(value) -> float | None:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def floors(results: Path) -> dict:
    """The numbers the default run must hold, read from its own tables (missing ones: None)."""
    from mnistflow.train import near_chance  # the threshold the runs are marked by

    out: dict = {"gans": {}, "embeddings": {}, "best_run": None}
    for dataset in sorted(p.name for p in results.iterdir() if (p / "data").is_dir()):
        for table in sorted((results / dataset / "gan").glob("*/gan_quality.csv")):
            rows = read_csv(table)
            final = [r for r in rows if r.get("epoch") == "final"]
            real = [r for r in rows if r.get("epoch") == "real data"]
            out["gans"][f"{dataset}/{table.parent.name}"] = {
                "samples": number(final[0]["samples"]) if final else None,
                "conditional_accuracy": number(final[0]["conditional_accuracy"]) if final else None,
                "class_entropy_bits": number(final[0]["class_entropy_bits"]) if final else None,
                "frechet_distance": number(final[0]["frechet_distance"]) if final else None,
                "real_data_frechet_distance": number(real[0]["frechet_distance"]) if real else None,
            }
        for row in read_csv(results / dataset / "embed" / "embed_quality.csv"):
            out["embeddings"][f"{dataset}/{row.get('method')}"] = {
                key: number(row.get(key)) for key in ("points", "seconds", "knn_accuracy", "trustworthiness")
            }
        board = read_csv(results / dataset / "train" / "leaderboard.csv")
        if board:
            out["best_run"] = {key: board[0].get(key) for key in board[0]}
        unmarked, seeds = 0, 0
        for path in (results / dataset / "optimizers").glob("*/*.csv"):
            if path.parent.name == "sweep":  # learning-rate picking, not the compared seeds
                continue
            tested, failed = {}, set()
            for row in read_csv(path):
                seed = row.get("seed")
                tested.setdefault(seed, None)
                if row.get("selected") == "True":  # the epoch each seed was scored on
                    tested[seed] = number(row.get("test_accuracy"))
                if row.get("status") == "diverged":
                    failed.add(seed)
            for seed, accuracy in tested.items():
                seeds += 1
                unmarked += (accuracy is None or near_chance(accuracy, 10)) and seed not in failed
        out["optimizer_seeds"] = seeds
        out["optimizer_seeds_near_chance_unmarked"] = unmarked
        out.setdefault("optimizers", {})[dataset] = table_rows(results / dataset / "optimizers" / "optimizers.csv")
    for path in sorted((results / "transfer").glob("*/transfer.csv")):
        out.setdefault("transfer", {})[path.parent.name] = transfer_summary(path)
    return out


def table_rows(path: Path) -> list[dict]:
    """A result table as the README quotes it: numbers as numbers, the rest as text."""
    return [{key: value if number(value) is None else number(value) for key, value in row.items()}
            for row in read_csv(path)]


def transfer_summary(path: Path) -> list[dict]:
    """transfer.csv summarised by strategy and budget, as the report's table (mean over seeds)."""
    import pandas as pd

    from mnistflow.transfer_results import summarise

    table = summarise(pd.read_csv(path, dtype={"budget": str}))
    return [{key: (value if isinstance(value, str) else round(float(value), 5)) for key, value in row.items()}
            for row in table.to_dict("records")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="", help="added to the JSON's name and body, e.g. before/after")
    parser.add_argument("--rev", help="a git revision to measure instead of the working tree")
    parser.add_argument("--configfile", help="a config file given to snakemake after config.yaml")
    parser.add_argument("--scratch", help="the folder to run in (default: a new temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="mnistflow-run-"))
    scratch.mkdir(parents=True, exist_ok=True)
    revision = copy_project(args.rev, scratch)
    venv_bin = ROOT / ".venv" / "bin"
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(scratch / "src"))
    command = [str(venv_bin / "snakemake")]
    if args.configfile:
        command += ["--configfile", str(Path(args.configfile).resolve())]
    print(f"running {' '.join(command)} in {scratch} ({revision}); output in {scratch}/run.log", flush=True)
    started = time.perf_counter()
    with open(scratch / "run.log", "w") as out:
        status = subprocess.run(command, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - started

    logs = sorted((scratch / ".snakemake" / "log").glob("*.snakemake.log"))
    jobs = parse_snakemake_log(logs[-1]) if logs else []
    by_rule: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "seconds": 0.0, "startup_seconds": 0.0})
    startups = []
    for job in jobs:
        seconds = benchmark_seconds(scratch / job["benchmark"]) if job.get("benchmark") else None
        if seconds is None and job.get("end") and job.get("start"):
            seconds = (job["end"] - job["start"]).total_seconds()  # no benchmark file: Snakemake's stamps
        work = work_seconds(scratch / job["log"]) if job.get("log") else None
        entry = by_rule[job["rule"]]
        entry["jobs"] += 1
        entry["seconds"] += seconds or 0.0
        if job.get("benchmark") and seconds is not None and work is not None:
            startups.append(seconds - work)
            entry["startup_seconds"] += seconds - work
    startups.sort()
    busy = sum(job.get("threads", 1) * (job["end"] - job["start"]).total_seconds()
               for job in jobs if job.get("end") and job.get("start"))
    result = {
        "label": args.label,
        "date": datetime.date.today().isoformat(),
        "revision": revision,
        **machine(),
        "command": " ".join(["snakemake"] + command[1:]),
        "exit_status": status,
        "wall_seconds": round(wall, 1),
        "wall_minutes": round(wall / 60, 2),
        "jobs": len(jobs),
        "job_seconds_sum": round(sum(r["seconds"] for r in by_rule.values()), 1),
        # threads x seconds the jobs held, over cores x wall time: how full the run kept the machine
        "core_utilisation": round(busy / (wall * (os.cpu_count() or 1)), 3),
        "startup_seconds_per_job": {
            "jobs_measured": len(startups),
            "median": round(startups[len(startups) // 2], 2) if startups else None,
            "mean": round(sum(startups) / len(startups), 2) if startups else None,
            "sum": round(sum(startups), 1),
        },
        "rules": {rule: {k: round(v, 1) if isinstance(v, float) else v for k, v in entry.items()}
                  for rule, entry in sorted(by_rule.items(), key=lambda kv: -kv[1]["seconds"])},
        "floors": floors(scratch / "results") if (scratch / "results").is_dir() else None,
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"run-{result['date']}{'-' + args.label if args.label else ''}.json"
    (out_dir / name).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("wall_minutes", "jobs", "job_seconds_sum", "exit_status")}))
    print(f"wrote bench/results/{name}")
    if not args.keep and not args.scratch and status == 0:
        shutil.rmtree(scratch)
    sys.exit(status)


if __name__ == "__main__":
    main()
