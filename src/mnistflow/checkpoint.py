"""A trained classifier's files: its input pipeline, its checkpoint and resume files.

Every consumer of a checkpoint (training itself, the hidden-layer figures, the GAN scorer,
transfer) turns uint8 images into the network's input with the checkpoint's own pipeline, and
reads the files with the one weights-only loader here.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .atomic import BrokenFileError, broken_file, describe
from .models import build_model


def unit_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (n, h, w) as float32 (n, 1, h, w) in [0, 1]."""
    return images.to(torch.float32).unsqueeze(1) / 255.0


@dataclass(frozen=True)
class InputPipeline:
    """uint8 images (n, 28, 28) to the network's input: scaled to [0, 1], optionally resized and
    repeated to three channels, then normalised per channel. Applied batch by batch, so a
    224-pixel input never has to fit in memory for the whole dataset."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int | None = None  # None keeps 28 x 28

    @classmethod
    def from_checkpoint(cls, state: dict) -> "InputPipeline":
        """The pipeline a checkpoint's model was trained with (its training images' mean and std)."""
        return cls((state["mean"],), (state["std"],))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalise(unit_images(images))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Images already in [0, 1], (n, 1, h, w) (e.g. GAN samples), to the network's input."""
        if self.size is not None and self.size != x.shape[-1]:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        channels = len(self.mean)
        if channels == 1:  # by numbers, not tensors: on CUDA x / float is x * (1 / float), one bit off x / tensor
            return (x - self.mean[0]) / self.std[0]
        mean, std = channel_constants(self.mean, self.std, x.device)
        return (x.expand(-1, channels, -1, -1) - mean) / std


@lru_cache(maxsize=8)
def channel_constants(mean: tuple[float, ...], std: tuple[float, ...],
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std as (1, c, 1, 1) tensors on ``device``, made once: copying them
    there for every batch would make the host wait for a GPU at each one. (Not to be made first
    inside a CUDA graph's capture, which refuses that copy; nothing graphed reads them.)"""
    return tuple(torch.tensor(values, device=device).view(1, len(values), 1, 1) for values in (mean, std))


# What a checkpoint may hold besides tensors, numbers, strings and containers: numpy arrays and
# scalars (recordings, GAN frames). Nothing else is unpickled, so no file can run code on loading.
NUMPY_GLOBALS = [np._core.multiarray._reconstruct, np._core.multiarray.scalar, np.ndarray, np.dtype,
                 *{type(np.dtype(t)) for t in (np.uint8, np.int64, np.float32, np.float64, np.bool_)}]


def load_state(path: str | Path, device: torch.device | str = "cpu", needs: tuple[str, ...] = ()) -> dict:
    """A checkpoint, resume file or generator file (a dict with the keys ``needs``), loaded with
    torch's weights-only unpickler: a file holding anything else (a class, a function: code that
    unpickling would run) is refused, and nothing of it runs. That file, and one that is empty,
    truncated, foreign or without the keys, is a ``BrokenFileError`` naming it."""
    try:
        with torch.serialization.safe_globals(NUMPY_GLOBALS):
            state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message starts with advice to load the file unsafely; keep only the cause
        code = re.search(r"Unsupported global: GLOBAL [\w.]+", str(exc))
        if code:
            raise broken_file(path, f"refused: it holds more than tensors, numbers, strings and arrays, and loading "
                                    f"it could run code ({code.group(0)})") from exc
        cause = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
        raise broken_file(path, f"not a readable torch file ({cause.group(1) if cause else describe(exc)}); "
                                f"it is truncated or damaged") from exc
    except (EOFError, KeyError, RuntimeError) as exc:  # empty; text (a bad pickle); not a torch zip
        if isinstance(exc, RuntimeError) and not re.search(r"PytorchStreamReader|inline_container", str(exc)):
            raise  # not the file: no CUDA for map_location, out of memory
        reason = re.split(r"(?<=\.) (?=[A-Z])", describe(exc))[0]  # torch's first sentence; then advice
        raise broken_file(path, f"not a readable torch file ({reason}); it is truncated or damaged") from exc
    missing = [key for key in needs if not isinstance(state, dict) or key not in state]
    if missing:
        raise broken_file(path, f"not one of this workflow's files: it holds a {type(state).__name__} "
                                f"without {', '.join(map(repr, missing))}")
    return state


def read_resume_file(path: Path, config, device, log: Callable[[str], None],
                     inputs: dict | None = None) -> dict | None:
    """The state in a resume file if there is one and it was written for this (dataclass)
    config and these ``inputs`` (digests of the data and of any file the run reads); a file
    written for another config or other inputs, or one that cannot be loaded (refused,
    truncated, corrupt, not a resume file's dict), is ignored, and said so."""
    if not path.exists():
        return None
    try:
        state = load_state(path, device, needs=("config",))
    except torch.OutOfMemoryError:
        raise  # the file may be fine: keep it for a retry with room
    except Exception as exc:  # refused, truncated or corrupt: a resume file is only a shortcut
        log(f"ignoring {path}, starting afresh: {exc.problem if isinstance(exc, BrokenFileError) else describe(exc)}")
        return None
    if state["config"] != asdict(config):
        log(f"ignoring {path}: it was written for another config")
        return None
    recorded, inputs = state.get("inputs"), inputs or {}
    if recorded is None and inputs:
        log(f"ignoring {path}, starting afresh: it was written before resume files recorded their inputs")
        return None
    changed = sorted(k for k in (recorded or {}).keys() | inputs.keys() if (recorded or {}).get(k) != inputs.get(k))
    if changed:
        log(f"ignoring {path}, starting afresh: it was written for other inputs ({', '.join(changed)} changed)")
        return None
    return state


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    purpose: str | None = None) -> tuple[torch.nn.Module, dict]:
    """The trained model (in eval mode) and the checkpoint's other contents. With ``purpose``
    (what the model is loaded to do), a run that diverged is refused, naming the file."""
    state = load_state(path, device, needs=("config", "classes", "model"))
    if purpose is not None and state.get("status") == "diverged":
        raise ValueError(f"{path}: that training run diverged (its checkpoint says so); it cannot {purpose}. "
                         f"Fix the run's settings, or choose another run (train.best_run)")
    model = build_model(state["config"]["model"], len(state["classes"])).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state
