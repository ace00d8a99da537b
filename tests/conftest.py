import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import write_dataset  # noqa: E402
from tiny_workflow import REPO, tiny_run  # noqa: E402, F401  (REPO for the tests, a session fixture)

from mnistflow.datasets import DatasetSpec  # noqa: E402


@pytest.fixture
def tiny(tmp_path):
    """A tiny dataset on disk: its directory, arrays, config entry and spec."""
    written = write_dataset(tmp_path / "tiny-idx")
    written["dir"] = tmp_path / "tiny-idx"
    written["spec"] = DatasetSpec.from_config("tiny", written["entry"])
    return written
