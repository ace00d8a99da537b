"""The tiny-dataset workflow submitted through profiles/slurm to a real SLURM on this machine."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slurm_cluster import Cluster, unavailable_reason
from tiny_workflow import NOT_COMPARED, REPO, snakemake

pytestmark = pytest.mark.workflow


# Wall times differ from run to run; every other value must be the same.
TIMED = re.compile(r"seconds|images_per_second")
# The tiny run through SLURM takes about 10 minutes here. Under heavy load the executor can lose a
# finished job: `scontrol show config` answers too late (10 s) for it to read MinJobAge, so it
# asks `sacct`, which this cluster without accounting cannot answer, and it would wait forever.
SLURM_RUN_SECONDS = 1800
# Figures that print wall times: compared by size only.
FIGURES_SHOWING_TIMES = {"embed_quality.png", "leaderboard.png", "label_efficiency.png"}
# A wall-time cell of the report's headline tables ("     - 5.6 s").
WALL_TIME_CELL = re.compile(r"^     - [\d,.]+ s$", re.M)


def without_times(value):
    """``value`` with every wall-time field dropped, also inside JSON strings (t-SNE params)."""
    if isinstance(value, pd.DataFrame):
        value = value.drop(columns=[c for c in value.columns if TIMED.search(c)])
        return value.map(lambda v: without_times(v) if isinstance(v, str) and v.startswith("{") else v)
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if not TIMED.search(str(k))}
    if isinstance(value, str) and value.startswith("{"):
        return without_times(json.loads(value))
    if isinstance(value, np.ndarray) and value.dtype.kind == "U" and value.ndim == 0:
        return without_times(str(value))
    return value


def same_values(a, b) -> bool:
    """Equal, floats to 1e-9 relative (multi-threaded sums, e.g. t-SNE's KL divergence, may
    differ in the last digits), tensors and arrays exactly."""
    a, b = without_times(a), without_times(b)
    if isinstance(a, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)
        except AssertionError:
            return False
        return True
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or (np.isnan(a) and np.isnan(b))
    return a == b


def same_result(a: Path, b: Path) -> bool:
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix == ".csv":
        return same_values(pd.read_csv(a), pd.read_csv(b))
    if a.suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            return same_values(dict(x), dict(y))
    if a.suffix == ".pt":
        return same_values(torch.load(a, weights_only=False), torch.load(b, weights_only=False))
    if a.suffix == ".html" and b"data:text/csv;base64," in a.read_bytes():  # a table page: its table
        return same_values(embedded_table(a), embedded_table(b))
    if a.name == "headline.rst":
        return WALL_TIME_CELL.sub("", a.read_text()) == WALL_TIME_CELL.sub("", b.read_text())
    if a.name in FIGURES_SHOWING_TIMES:
        from PIL import Image

        # a printed time ("12 s" against "9 s") can widen the tight bounding box by a few pixels
        with Image.open(a) as x, Image.open(b) as y:
            return x.height == y.height and abs(x.width - y.width) <= 30
    return False


def embedded_table(page: Path) -> pd.DataFrame:
    """The CSV a report table page carries for download."""
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', page.read_text()).group(1)
    return pd.read_csv(io.BytesIO(base64.b64decode(data)))


def local_rules() -> set[str]:
    """Rules marked ``localrule: True``: they run on the submit host, not as SLURM jobs."""
    rules = set()
    for path in (REPO / "workflow/rules").glob("*.smk"):
        for block in re.split(r"^rule ", path.read_text(), flags=re.M)[1:]:
            if re.search(r"^\s+localrule: True$", block, re.M):
                rules.add(block.split(":", 1)[0])
    return rules


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no SLURM cluster here: {reason}")
    cluster = Cluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    yield cluster
    cluster.stop()


def test_slurm_run_submits_every_job_and_matches_the_local_run(cluster, tiny_run, tmp_path):
    workdir = tmp_path / "slurm-run"
    workdir.mkdir()
    shutil.copy(tiny_run["workdir"] / "config.yaml", workdir / "config.yaml")
    # The profile as shipped; only the executor's polling is quickened (first check after 40 s,
    # then every 10 s by default), which this cluster's MinJobAge of 300 s allows.
    result = snakemake(workdir, "--workflow-profile", str(REPO / "profiles/slurm"), "--configfile", "config.yaml",
                       "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
                       env=cluster.env, torch_home=tiny_run["workdir"] / "torch-home", timeout=SLURM_RUN_SECONDS)
    assert f"workflow specific profile {REPO / 'profiles/slurm'}" in result.stderr

    # the plugin deletes a successful job's SLURM log, so the ids come from the controller's record
    # of every job that ended (jobcomp/filetxt), whichever scheduler started it
    ended = cluster.completed_jobs()
    assert set(ended.values()) == {"COMPLETED"}, ended
    slurm_ids = set(ended)
    local = local_rules()
    submitted = 0
    for log in sorted((workdir / "results/logs").rglob("*.log")):
        header = log.read_text().splitlines()[0]
        rule = re.search(r"rule (\w+),", header).group(1)
        job = re.search(r" as SLURM job (\d+)$", header)
        if rule in local:
            assert job is None, f"{log}: local rule {rule} ran as a SLURM job"
            continue
        assert job is not None and job.group(1) in slurm_ids, f"{log}: {header}"
        submitted += 1
        if "GPU(s)" in log.read_text():
            assert "GPU(s) assigned by SLURM: CUDA_VISIBLE_DEVICES=0\n" in log.read_text(), log
    assert submitted > 30 and len(slurm_ids) == submitted

    local, remote = tiny_run["results_as_run"], workdir / "results"
    files = {str(p.relative_to(remote)) for p in remote.rglob("*")
             if p.is_file() and p.relative_to(remote).parts[0] not in NOT_COMPARED}
    assert files == {str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()}
    different = sorted(name for name in files if not same_result(local / name, remote / name))
    assert different == [], f"SLURM and local results differ beyond wall times: {different}"
