import functools
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


# --- complete recipes for tests: the library's objects take every setting, their defaults are the
# config schema's; a test names only what it changes -------------------------------------------

@functools.cache
def _resolved(configfile: str) -> str:
    import json
    import yaml

    from mnistflow.config import merged, validate_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if configfile != "config.yaml":
        config = merged(config, yaml.safe_load((REPO / configfile).read_text()))
    return json.dumps(validate_config(config, REPO / "workflow/schemas/config.schema.yaml"))


def resolved_config(configfile: str = "config.yaml") -> dict:
    """config.yaml (over it ``configfile``, as --configfile does), validated and filled: a fresh
    copy each call."""
    import json

    return json.loads(_resolved(configfile))


def train_recipe(**overrides):
    """train.defaults (the article's settings) with no validation split held out, but for
    ``overrides``."""
    from mnistflow.train import TrainConfig

    return TrainConfig(**{**resolved_config()["train"]["defaults"], "validation": 0, **overrides})


def gan_recipe(**overrides):
    """The default config's shared GAN settings with the notebook's recipe (config-article.yaml's
    cgan_mlp: Adam 2e-4, the label beside the image, no class loss, no weight average), but for
    ``overrides``."""
    from mnistflow.gan import GanConfig
    from mnistflow.settings import GAN_SHARED

    shared = {key: resolved_config()["gan"][key] for key in GAN_SHARED}
    article = resolved_config("config-article.yaml")["gan"]["cgan_mlp"]
    return GanConfig(**{**shared, "model": "cgan_mlp", **article, **overrides})


def fit_recipe(**overrides):
    """The default config's fine-tuning fit from a dataset's checkpoint, but for ``overrides``."""
    from mnistflow.settings import transfer_settings
    from mnistflow.transfer import FitConfig

    return FitConfig(**{**transfer_settings(resolved_config(), "mnist", "finetune")["fit"], **overrides})
