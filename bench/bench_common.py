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


def article_config() -> dict:
    """config-article.yaml over config.yaml, the schema's defaults filled in (not validated: the
    GPU machine has no jsonschema; the workflow's tests validate both files)."""
    import yaml

    from mnistflow.config import fill_defaults, merged

    root = Path(__file__).resolve().parents[1]
    config = merged(yaml.safe_load((root / "config.yaml").read_text()),
                    yaml.safe_load((root / "config-article.yaml").read_text()))
    fill_defaults(config, yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text()))
    return config
