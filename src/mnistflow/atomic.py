"""Atomic output files: write to a hidden temporary file beside the target, then rename.

An interrupted job therefore never leaves a half-written file under the final name. Reading an
npz goes through ``load_npz``, which names a broken file and the command that rebuilds it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import FixableError


class NoSpaceError(FixableError, OSError):
    """An output that could not be written for want of space; the message names the folder."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path with the target's suffix; rename it onto ``path`` on success.

    The suffix is kept because writers such as ``matplotlib.savefig`` and ``numpy.savez``
    choose the format (or append an extension) from it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=f".partial{target.suffix}"
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; outputs are not
        _fsync(tmp)  # the data on disk before the name: a crash never leaves an empty file
        os.replace(tmp, target)
        try:
            _fsync(target.parent)  # and the rename itself
        except OSError as exc:  # some network and FUSE file systems cannot sync a folder
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
                raise
    except (OSError, RuntimeError) as exc:
        # torch.save on a full disk says only "basic_ios::clear: iostream error"; any other error
        # (a CUDA one, a bad tensor) is not taken for a full disk, however little space is left
        stream_failed = isinstance(exc, RuntimeError) and "iostream" in str(exc)
        if getattr(exc, "errno", None) == errno.ENOSPC or (
                stream_failed and shutil.disk_usage(target.parent).free < 2**20):
            raise NoSpaceError(f"no space left on {target.parent}: {target.name} could not be written "
                               f"({describe(exc)}). Free some space and run again") from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def save_npz(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez`` (uncompressed: the caches are read far more often than written)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def save_npz_compressed(path: str | os.PathLike, **arrays) -> None:
    """``numpy.savez_compressed``, for dumps written once and read by a few plotting rules."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def save_csv(path: str | os.PathLike, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_figure(path: str | os.PathLike, fig, **kwargs) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or None, **kwargs)
    finally:
        plt.close(fig)  # also when saving failed: a loop of figures must not keep them all


class BrokenFileError(FixableError, ValueError):
    """An input file that cannot be read; the message names it and how to rebuild it."""


def broken_file(path: str | os.PathLike, problem: str) -> BrokenFileError:
    """The one error for a workflow file that is there but unreadable: Snakemake calls such a
    file up to date, so it would never rebuild it by itself; the message says how."""
    error = BrokenFileError(f"{path}: {problem}. Rebuild it: snakemake --force {path} (or delete it and run again)")
    error.problem = problem  # for a file that is no output (a resume file), whose reader carries on without it
    return error


def describe(exc: BaseException) -> str:
    """``Type: message``, or the type alone: an ``EOFError`` often has no message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class NpzArrays:
    """An open npz whose missing array is a ``BrokenFileError`` naming the file, not a bare
    ``KeyError`` naming only the array."""

    def __init__(self, npz, path: str | os.PathLike):
        self.npz, self.path, self.files = npz, path, npz.files

    def __getitem__(self, key: str):
        if key not in self.files:
            held = ", ".join(self.files) or "none"
            raise broken_file(self.path, f"no array {key!r} in this npz file (it holds {held}); it was written by "
                                         f"another version of this workflow, or damaged")
        return self.npz[key]


@contextlib.contextmanager
def load_npz(path: str | os.PathLike) -> Iterator[NpzArrays]:
    """``numpy.load`` of an npz (arrays only, no pickles). A truncated or foreign file, or one
    without an array asked for, raises ``BrokenFileError`` naming it and the command that
    rebuilds it, instead of a bare BadZipFile or KeyError."""
    import zipfile
    import zlib

    import numpy as np

    def broken(exc: BaseException) -> BrokenFileError:
        return broken_file(path, f"not a readable npz file ({describe(exc)}); it is truncated or damaged")

    try:
        npz = np.load(path)
    except (FileNotFoundError, PermissionError):
        raise  # not damaged: missing or not readable, and the error says so
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise broken(exc) from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):  # an .npy file under the name
        raise broken(TypeError("an array, not an npz archive"))
    try:
        with npz:
            yield NpzArrays(npz, path)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise broken(exc) from exc


def load_arrays(path: str | os.PathLike) -> dict:
    """Every array of an npz, read into memory (``load_npz``'s checks included)."""
    with load_npz(path) as npz:
        return {key: npz[key] for key in npz.files}
