import numpy as np
import pytest
import torch

from mnistflow.atomic import BrokenFileError
from mnistflow.checkpoint import load_checkpoint

from conftest import train_recipe


def damaged(path, damage):
    """``path`` written as a damaged or foreign .pt file of the kind ``damage`` names."""
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("model weights go here\n")
    elif damage == "truncated":
        torch.save({"config": {"model": "first"}, "model": {}, "classes": ("0", "1")}, path)
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, a=np.zeros(3))
    elif damage == "list":
        torch.save([1, 2], path)
    return path


@pytest.mark.parametrize("damage, reason", [
    ("empty", "not a readable torch file (EOFError); it is truncated or damaged"),
    ("text", "not a readable torch file (Unsupported operand 109); it is truncated or damaged"),
    ("truncated", "not a readable torch file (RuntimeError: PytorchStreamReader failed reading zip archive: "
                  "failed finding central directory.); it is truncated or damaged"),
    ("npz", "not a readable torch file (RuntimeError: [enforce fail at inline_container.cc:180] . file in archive "
            "is not in a subdirectory: a.npy); it is truncated or damaged"),
    ("list", "not one of this workflow's files: it holds a list without 'config', 'classes', 'model'"),
], ids=lambda value: value if " " not in value else "")
def test_a_broken_checkpoint_names_the_file_and_how_to_rebuild_it(tmp_path, damage, reason):
    from mnistflow.gan import load_generator

    path = damaged(tmp_path / "model.pt", damage)
    with pytest.raises(BrokenFileError) as error:
        load_checkpoint(path)
    assert str(error.value) == f"{path}: {reason}. Rebuild it: snakemake --force {path} (or delete it and run again)"
    with pytest.raises(BrokenFileError, match=f"Rebuild it: snakemake --force {path} "):
        load_generator(path)


@pytest.mark.parametrize("content, reason", [
    ({"a": 1}, "not one of this workflow's files: it holds a dict without 'config'"),
    (torch.zeros(3), "not one of this workflow's files: it holds a Tensor without 'config'"),
    ([1, 2], "not one of this workflow's files: it holds a list without 'config'"),
    (b"", "not a readable torch file (EOFError); it is truncated or damaged"),
], ids=["dict", "tensor", "list", "empty"])
def test_a_resume_file_that_holds_no_resume_state_means_a_fresh_start_said_why(tmp_path, content, reason):
    from mnistflow.checkpoint import read_resume_file

    path = tmp_path / "resume.pt"
    path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
    lines = []
    assert read_resume_file(path, train_recipe(), "cpu", lines.append) is None
    assert lines == [f"ignoring {path}, starting afresh: {reason}"]


def test_an_error_without_a_message_is_logged_by_its_type(tmp_path, monkeypatch):
    from mnistflow import checkpoint

    def fail(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr(checkpoint, "load_state", fail)
    (tmp_path / "resume.pt").write_bytes(b"x")
    lines = []
    assert checkpoint.read_resume_file(tmp_path / "resume.pt", train_recipe(), "cpu", lines.append) is None
    assert lines == [f"ignoring {tmp_path / 'resume.pt'}, starting afresh: EOFError"]
