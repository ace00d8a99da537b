"""Which GPU a job may use, when several jobs share one machine's GPUs.

Snakemake only counts GPUs (``--resources gpu=N``); it never tells a job which device is its
own, so every job would land on device 0. A job that asks for GPUs therefore takes a lease: an
exclusive file lock on ``.snakemake/gpu-leases/gpu-<id>.lock`` for a free device, and sets
``CUDA_VISIBLE_DEVICES`` to it before torch initialises CUDA. The kernel drops a file lock when
its process ends, however it ends, so a crashed or killed job never keeps a device.

With ``MNISTFLOW_JOBS_PER_GPU=k`` each device has k leases (``gpu-<id>.<slot>.lock`` beside
the first), so that k jobs share it: what one job's start spends on the CPU (a fresh process's
imports, the device's start, its dataset file) then overlaps the others' GPU work. Jobs are
spread over the devices first, and share one only when every device has a job.

Under SLURM (``SLURM_JOB_ID`` set) the scheduler has already chosen the job's devices and set
``CUDA_VISIBLE_DEVICES``: that assignment is used as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

LEASE_DIR = Path(".snakemake/gpu-leases")
# The NVIDIA driver lists one folder per GPU here, without initialising CUDA.
DRIVER_GPU_DIR = Path("/proc/driver/nvidia/gpus")
# Overrides the device count (tests, or drivers that do not populate DRIVER_GPU_DIR).
COUNT_ENV = "MNISTFLOW_GPU_COUNT"
# How many jobs may share one device (default 1: a device per job).
SHARING_ENV = "MNISTFLOW_JOBS_PER_GPU"


def machine_devices() -> list[str]:
    """Device ids a job on this machine may lease: CUDA_VISIBLE_DEVICES's list when the user set
    one, else 0..n-1 for the n GPUs the driver lists (or ``MNISTFLOW_GPU_COUNT``, or
    ``nvidia-smi --list-gpus`` where the driver's folder is missing)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [d.strip() for d in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
    if COUNT_ENV in os.environ:
        value = os.environ[COUNT_ENV]
        if not value.isdigit():
            raise ValueError(f"{COUNT_ENV}={value!r}: expected a number of GPUs (0, 1, 2, ...)")
        return [str(i) for i in range(int(value))]
    if DRIVER_GPU_DIR.is_dir():
        return [str(i) for i in range(len(list(DRIVER_GPU_DIR.iterdir())))]
    if shutil.which("nvidia-smi"):
        listed = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True)
        if listed.returncode == 0:
            return [str(i) for i, line in enumerate(listed.stdout.splitlines()) if line.startswith("GPU ")]
    return []


def jobs_per_gpu() -> int:
    """``MNISTFLOW_JOBS_PER_GPU``: how many jobs may lease one device at once (1 unless set)."""
    value = os.environ.get(SHARING_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SHARING_ENV}={value!r}: expected how many jobs may share a GPU (1, 2, ...)")
    return int(value)


def lock_file(lock_dir: Path, device: str, slot: int) -> Path:
    """The lock of a device's ``slot``-th lease (the first keeps the name a device had alone)."""
    return lock_dir / (f"gpu-{device}.lock" if slot == 0 else f"gpu-{device}.{slot}.lock")


@dataclass
class Lease:
    devices: list[str]
    files: list[IO]

    def release(self) -> None:
        for handle in self.files:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        self.files = []


def try_lock(path: Path) -> IO | None:
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def acquire(devices: Sequence[str], count: int = 1, lock_dir: Path = LEASE_DIR, poll_seconds: float = 0.5,
            on_wait: Callable[[str], None] | None = None, slots: int = 1) -> Lease:
    """Lease ``count`` distinct ``devices``, all or none, waiting while fewer are free; each
    device takes up to ``slots`` jobs, the least shared devices first."""
    if count > len(devices):
        raise ValueError(f"a job asks for {count} GPU(s) but this machine has {len(devices)} "
                         f"({', '.join(devices) or 'none'}); lower the rule's gpu resource")
    lock_dir.mkdir(parents=True, exist_ok=True)
    waiting = False
    while True:
        # per device with a free lease: how many jobs hold it, and that lease, locked
        free: list[tuple[int, int, str, IO]] = []
        for order, device in enumerate(devices):
            held, handle = 0, None
            for slot in range(slots):
                probe = try_lock(lock_file(lock_dir, device, slot))
                if probe is None:
                    held += 1
                elif handle is None:
                    handle = probe
                else:  # only counted: the job takes one lease of a device
                    Lease([], [probe]).release()
            if handle is not None:
                free.append((held, order, device, handle))
        free.sort(key=lambda entry: entry[:2])
        chosen, spare = free[:count], free[count:]
        Lease([], [handle for *_, handle in spare]).release()
        if len(chosen) == count:
            return Lease([device for _, _, device, _ in chosen], [handle for *_, handle in chosen])
        Lease([], [handle for *_, handle in chosen]).release()
        if not waiting and on_wait is not None:
            shared = f", {slots} jobs each" if slots > 1 else ""
            on_wait(f"all of GPU(s) {', '.join(devices)} are leased{shared} (locks in {lock_dir}); waiting for one")
        waiting = True
        time.sleep(poll_seconds)


@contextlib.contextmanager
def gpus_for_job(count: int, log: Callable[[str], None], lock_dir: Path = LEASE_DIR) -> Iterator[list[str]]:
    """Set CUDA_VISIBLE_DEVICES to the devices leased for the job's body; [] means the CPU."""
    if count <= 0:
        yield []
        return
    if "SLURM_JOB_ID" in os.environ:
        assigned = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        log(f"GPU(s) assigned by SLURM: CUDA_VISIBLE_DEVICES={assigned or '(unset)'}")
        yield [d for d in assigned.split(",") if d]
        return
    devices = machine_devices()
    if not devices:
        log("no GPU on this machine: running on the CPU")
        yield []
        return
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    slots = jobs_per_gpu()
    lease = acquire(devices, count, lock_dir, on_wait=log, slots=slots)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(lease.devices)
    log(f"leased GPU(s) {', '.join(lease.devices)} of {', '.join(devices)}"
        f"{f' (up to {slots} jobs each)' if slots > 1 else ''}: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}")
    try:
        yield lease.devices
    finally:
        lease.release()
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
