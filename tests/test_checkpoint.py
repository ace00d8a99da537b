import numpy as np
import pytest
import torch

from mnistflow.atomic import BrokenFileError
from mnistflow.checkpoint import load_checkpoint


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
