"""What every bench JSON records of the machine it ran on: timings from machines that differ
(AVX-512 or AVX2 only, core count, torch build) are compared only side by side in one run."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# the instruction sets torch's CPU kernels dispatch on
SIMD_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in SIMD_FLAGS if flag in present]
    return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> dict:
    import torch

    return {"machine": platform.machine(), "cpu": cpu_model(), "cpu_flags": cpu_flags(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}
