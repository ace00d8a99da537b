"""A one-node SLURM cluster on loopback, from Debian's slurmctld, slurmd and munge, for tests.

No systemd: munged runs as the munge user, slurmctld and slurmd as root, each with its pid file
in the cluster's folder; ``stop`` kills them by those pid files. slurmd runs in a mount namespace
where the cluster's etc/ is /etc/slurm (see ``start``). The node has this machine's
CPUs and memory (``slurmd -C``) and one GPU backed by /dev/null, so a job asking ``--gpus=1``
gets ``CUDA_VISIBLE_DEVICES=0`` from slurmd's gres plugin, as on a real GPU node. No accounting
(``sacct`` fails): jobs are queried with ``squeue``, which sees finished jobs for ``MinJobAge``.

    python tests/slurm_cluster.py start DIR   # prints the SLURM_CONF to export
    python tests/slurm_cluster.py stop DIR
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = "slurmctld slurmd slurm-client munge"  # the Makefile's SYSTEM_PACKAGES
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "srun", "scontrol", "sinfo", "unshare")
MUNGE_SOCKET_DIR = Path("/run/munge")
MUNGE_PID_FILE = MUNGE_SOCKET_DIR / "munged.pid"
# squeue forgets a finished job after MinJobAge seconds; the executor's first status check comes
# 40 s after submission by default, so keep jobs visible for well over three such intervals.
MIN_JOB_AGE = 300


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages {PACKAGES}: `make system-packages`)"
    if os.geteuid() != 0:
        return "slurmd and munged must be started as root"
    if not Path("/etc/slurm").is_dir():
        return "/etc/slurm missing (the slurm-client package creates it)"
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        return "mount namespaces are not permitted here (unshare --mount), and slurmd needs one"
    if not Path("/etc/munge/munge.key").is_file():
        return "/etc/munge/munge.key missing (the munge package creates it)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "etc/slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What client commands (sbatch, squeue, snakemake --executor slurm) add to the environment."""
        return {"SLURM_CONF": str(self.conf)}

    @property
    def controller_log(self) -> Path:
        return self.root / "log/slurmctld.log"

    @property
    def completed_jobs_file(self) -> Path:
        return self.root / "log/jobcomp.txt"

    def completed_jobs(self) -> dict[str, str]:
        """Every job that ended, by SLURM job id: its final state (COMPLETED, FAILED, ...)."""
        if not self.completed_jobs_file.is_file():
            return {}
        text = self.completed_jobs_file.read_text()
        return dict(re.findall(r"^JobId=(\d+) .*? JobState=(\w+) ", text, flags=re.M))

    def write_config(self) -> None:
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
        hostname = node.split()[0].removeprefix("NodeName=")
        for folder in ("etc", "state", "spool", "log", "run"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=mnistflow-test",
            f"SlurmctldHost={hostname}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'run/slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'run/slurmd.pid'}",
            f"SlurmctldLogFile={self.controller_log}",
            f"SlurmdLogFile={self.root / 'log/slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            # One line per job that ended, however the controller started it (its main scheduler
            # and backfill log their starts differently).
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.completed_jobs_file}",
            f"MinJobAge={MIN_JOB_AGE}",
            "GresTypes=gpu",
            f"{node.split(' UpTime=')[0]} NodeAddr=127.0.0.1 Gres=gpu:1 State=UNKNOWN",
            "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        # AutoDetect=off: no NVML here; the device file only has to exist for slurmd.
        (self.root / "etc/gres.conf").write_text("AutoDetect=off\nName=gpu File=/dev/null\n")

    def start(self, timeout: float = 60) -> None:
        self.write_config()
        if not munge_is_running():
            MUNGE_SOCKET_DIR.mkdir(exist_ok=True)
            shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
            subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
            (self.root / "run/munged.started").write_text("")
        environment = {**os.environ, **self.env}
        subprocess.run(["slurmctld", "-f", str(self.conf), "-c"], check=True, env=environment)
        # snakemake-executor-plugin-slurm-jobstep drops SLURM_CONF (with every SLURM_* variable
        # it does not know) from the job's inner srun, which then reads /etc/slurm/slurm.conf.
        # So slurmd, and the jobs it starts, see this cluster's etc/ there, in a mount namespace
        # of their own: the machine's /etc/slurm stays as it is.
        subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        f"mount --bind '{self.conf.parent}' /etc/slurm && exec slurmd -f '{self.conf}'"],
                       check=True, env=environment)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=environment)
            if state.returncode == 0 and state.stdout.strip() == "idle":
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"SLURM node not idle after {timeout:.0f} s; see {self.root / 'log'}")

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld"):
            kill_by_pid_file(self.root / f"run/{name}.pid")
        if (self.root / "run/munged.started").exists():
            kill_by_pid_file(MUNGE_PID_FILE)
            (self.root / "run/munged.started").unlink()


def munge_is_running() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0 if shutil.which("munge") else False


def kill_by_pid_file(path: Path, timeout: float = 10) -> None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2]).resolve()
    cluster = Cluster(folder)
    if command == "start":
        cluster.start()
        print(f"export SLURM_CONF={cluster.conf}")
    else:
        cluster.stop()
