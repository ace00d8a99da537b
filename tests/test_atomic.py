import numpy as np
import pytest

from mnistflow import atomic


def test_interrupted_write_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "out" / "figure.png"
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half a png")
            raise KeyboardInterrupt
    assert list((tmp_path / "out").iterdir()) == []


def test_previous_output_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old,complete\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("new,but")
            raise RuntimeError("disk full")
    assert target.read_text() == "old,complete\n"


def test_savez_keeps_the_name_and_suffix_drives_the_format(tmp_path):
    atomic.save_npz(tmp_path / "a.npz", x=np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    with np.load(tmp_path / "a.npz") as npz:
        assert npz["x"].tolist() == [0, 1, 2]
    with atomic.atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".fig.png.")


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        atomic.write_bytes(tmp_path / "out.bin", b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o644


def test_data_and_rename_are_synced_to_disk_before_the_file_counts_as_written(tmp_path, monkeypatch):
    import os

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                 real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
    atomic.write_bytes(tmp_path / "model.pt", b"weights")
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(tmp_path / ".model.pt.")) and events[2][1] == str(tmp_path)
    assert (tmp_path / "model.pt").read_bytes() == b"weights"


def test_a_figure_is_closed_even_when_saving_it_fails(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    with pytest.raises(ValueError):
        atomic.save_figure(tmp_path / "figure.nosuchformat", fig)
    assert not plt.fignum_exists(fig.number)
    assert list(tmp_path.iterdir()) == []


def test_an_npz_without_an_array_asked_for_names_the_file_and_how_to_rebuild_it(tmp_path):
    from mnistflow.embed import Embedding

    path = tmp_path / "tsne.npz"
    atomic.save_npz(path, method=np.array("tsne"), coords=np.zeros((2, 2)))
    with pytest.raises(atomic.BrokenFileError) as error:
        Embedding.load(path)
    assert str(error.value) == (
        f"{path}: no array 'labels' in this npz file (it holds method, coords); it was written by another version "
        f"of this workflow, or damaged. Rebuild it: snakemake --force {path} (or delete it and run again)")


def test_a_full_disk_under_torch_save_says_so_naming_the_folder(tmp_path, monkeypatch):
    import collections
    import shutil

    import torch

    def save(obj, path):
        with open(path, "wb") as fh:
            fh.write(b"PK")
        raise RuntimeError("basic_ios::clear: iostream error")  # what torch.save says when the disk fills

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: collections.namedtuple("usage", "total used free")(1, 1, 0))
    target = tmp_path / "run" / "model.pt"
    with pytest.raises(atomic.NoSpaceError) as error:
        with atomic.atomic_path(target) as tmp:
            torch.save({}, tmp)
    assert str(error.value) == (f"no space left on {tmp_path / 'run'}: model.pt could not be written (RuntimeError: "
                                "basic_ios::clear: iostream error). Free some space and run again")
    assert list((tmp_path / "run").iterdir()) == []
    # another error on a nearly full disk is that error, not a full disk's
    with pytest.raises(RuntimeError, match="CUDA out of memory") as other:
        with atomic.atomic_path(target):
            raise RuntimeError("CUDA out of memory")
    assert not isinstance(other.value, atomic.NoSpaceError)
