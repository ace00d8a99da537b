"""Transfer learning (part 9): a trained network's features reused on another dataset.

A source is either one of our checkpoints (e.g. the ``best`` run on MNIST) or an ImageNet
network from torchvision (``imagenet_resnet18``, ``imagenet_vgg16``). Either way the network is
split at its last linear layer into a backbone (everything before it) and a head, a new linear
layer for the target's classes. Three strategies train on k labelled images per class:

- ``scratch``: the source's architecture from random weights (the baseline);
- ``frozen``: the backbone kept as is (eval mode, weights and BatchNorm statistics untouched),
  its features computed once and cached, only the head trained on them;
- ``finetune``: backbone and head trained together from the source's weights.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from . import atomic, rng
from .atomic import BrokenFileError, describe
from .errors import ConfigValueError
from .registry import IMAGENET_PREFIX, STRATEGIES
from .models import build_model
from .checkpoint import InputPipeline, load_checkpoint, load_state
from .train import bfloat16_autocast, evaluate, make_optimizer, weights_copy

IMAGENET_ARCHITECTURES = ("resnet18", "vgg16")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# a mirror of (or a test's stand-in for) torchvision's weights URL, per architecture
IMAGENET_URL_ENV = "MNISTFLOW_IMAGENET_URL_{}"
# labels: every labelled image a run saw (trained on and validated on); lr: the rate it kept
RESULT_COLUMNS = ["source", "target", "strategy", "budget", "per_class", "labels", "validation_images", "seed",
                  "lr", "lrs_tried", "val_accuracy", "test_accuracy", "test_loss", "steps", "best_step", "stopped",
                  "seconds", "shared_seconds"]


def budget_name(per_class: int | None) -> str:
    return "full" if per_class is None else str(per_class)


def parse_budget(budget: int | str) -> int | None:
    """Labels per class, or None for the full training set."""
    return None if budget == "full" else int(budget)


def budget_indices(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Indices of exactly ``per_class`` training images of every class (all images for None),
    drawn by ``seed``: each seed its own images, and within a seed a smaller budget's images a
    subset of a larger one's (each class's permutation is drawn once, budgets take its first k)."""
    if per_class is None:
        return np.arange(len(labels))
    generator = np.random.default_rng([seed, 1])  # apart from the seed's initial weights and batches
    chosen = []
    for label in np.unique(labels):
        candidates = generator.permutation(np.flatnonzero(labels == label))
        if len(candidates) < per_class:
            raise ValueError(f"budget {per_class} per class: class {label} has only {len(candidates)} "
                             "training images")
        chosen.append(candidates[:per_class])
    return np.sort(np.concatenate(chosen))


@dataclass(frozen=True)
class ValidationShare:
    """How much of a budget's own images each run holds out of training, per class: to stop on,
    keep the best weights and pick the learning rate. The budget is every label a run sees."""

    fraction: float
    max_per_class: int

    def per_class(self, images: int) -> int:
        """Held out of a class with ``images`` in the budget: ``fraction`` of them, at least 1
        and at most ``max_per_class``, always leaving one to train on."""
        if images < 2:
            raise ValueError(f"a budget needs at least 2 images of every class (1 to train on, 1 to validate "
                             f"on), not {images}")
        return min(images - 1, self.max_per_class, max(1, round(self.fraction * images)))

    def split(self, labels: np.ndarray, indices: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(training, validation) indices out of a budget's ``indices``, stratified by class."""
        generator = np.random.default_rng([seed, 2])
        train, validation = [], []
        for label in np.unique(labels[indices]):
            members = generator.permutation(indices[labels[indices] == label])
            held = self.per_class(len(members))
            validation.append(members[:held])
            train.append(members[held:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


class TransferNet(nn.Module):
    """A backbone (the source network with its last linear layer removed) and a new head."""

    def __init__(self, backbone: nn.Module, head: nn.Linear):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        return self.head(self.backbone(x))


def split_last_linear(model: nn.Module) -> tuple[nn.Module, int]:
    """The model with its last nn.Linear replaced by identity (in place), and that layer's input
    width. Every network here ends in that layer, so what is left computes its input."""
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear layer to replace")
    *path, last = linears[-1].split(".")
    parent = model.get_submodule(".".join(path)) if path else model
    width = getattr(parent, last).in_features
    setattr(parent, last, nn.Identity())
    return model, width


@dataclass
class Source:
    """A network to transfer from: how to build it (pretrained or not) and its input pipeline."""

    name: str
    build: Callable[[bool], nn.Module]  # pretrained -> the full network
    pipeline: InputPipeline

    def transfer_net(self, classes: int, pretrained: bool, seed: int) -> TransferNet:
        rng.seed_global(seed, "init")  # the head's (and for scratch the backbone's) initial weights
        backbone, width = split_last_linear(self.build(pretrained))
        return TransferNet(backbone, nn.Linear(width, classes))


def checkpoint_source(name: str, checkpoint: str | Path) -> Source:
    """One of our trained runs; its own normalisation (the source training set's mean and std)."""
    model, state = load_checkpoint(checkpoint, purpose="be transferred from")

    def build(pretrained: bool) -> nn.Module:
        if pretrained:
            return copy.deepcopy(model)
        return build_model(state["config"]["model"], len(state["classes"]))

    return Source(name, build, InputPipeline.from_checkpoint(state))


def imagenet_weights_url(architecture: str) -> str:
    """Where the ImageNet weights of ``architecture`` come from: torchvision's URL, or
    ``$MNISTFLOW_IMAGENET_URL_<ARCHITECTURE>`` (a mirror, or a test's file), whose file name
    carries the first hex digits of its SHA-256 like torchvision's (``resnet18-f37072fd.pth``)."""
    override = os.environ.get(IMAGENET_URL_ENV.format(architecture.upper()))
    if override:
        return override
    import torchvision

    return torchvision.models.get_model_weights(architecture).DEFAULT.url


def imagenet_weights_file(architecture: str) -> Path:
    """Where torchvision looks for the ImageNet weights of ``architecture`` (the torch hub cache:
    $TORCH_HOME/hub/checkpoints/<file name of the weights URL>)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(imagenet_weights_url(architecture))


def hash_prefix(path: Path) -> str:
    """The hex digits of SHA-256 a weights file's name promises (torch.hub's ``check_hash``
    convention: ``<name>-<first digits of its SHA-256>.<extension>``)."""
    found = torch.hub.HASH_REGEX.search(path.name)
    if not found or not found.group(1):
        raise ValueError(f"{path.name}: no SHA-256 prefix in the weights file's name (<name>-<hex digits>.pth)")
    return found.group(1)


def sha256_of(path: Path, chunk: int = 2**20) -> str:
    """The file's SHA-256 in hex, read in 1 MiB chunks (vgg16's weights are 528 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def broken_weights(architecture: str, path: Path, url: str, problem: str) -> BrokenFileError:
    """A weights file of the torch hub cache that is not the one its name promises: the message
    names it, where it came from and what to do (it is no output of the workflow: no --force)."""
    error = BrokenFileError(
        f"{path}: not the ImageNet weights of {architecture}: {problem}. It came from {url} into the torch hub "
        f"cache ({path.parent}; set TORCH_HOME to move it): delete it and run again to download it again "
        f"(transfer.imagenet.download: true), or put the right file there")
    error.problem = problem
    return error


def check_weights_file(architecture: str, path: Path, url: str) -> None:
    """Refuse a weights file whose SHA-256 does not start with the digits its name carries:
    truncated, damaged, or another file under its name (torchvision's own download does not
    check them)."""
    expected, actual = hash_prefix(path), sha256_of(path)
    if not actual.startswith(expected):
        raise broken_weights(architecture, path, url,
                             f"its SHA-256 starts {actual[:len(expected)]}, not {expected} as its name says "
                             f"({path.stat().st_size} bytes: truncated, damaged or another file)")


def load_weights(architecture: str, path: Path, url: str) -> dict:
    """The state dict in a checked weights file, through the project's weights-only loader."""
    try:
        return load_state(path)
    except BrokenFileError as exc:
        raise broken_weights(architecture, path, url, exc.problem) from exc


def imagenet_source(architecture: str, image_size: int, download: bool) -> Source:
    """An ImageNet network through torchvision's weights API. The weights come from the local
    torch hub cache, else (with ``download``) from their URL, and their SHA-256 is checked
    against the digits in their file name before anything else; without a file this fails at
    once, saying where to put it, and with a bad one naming it, its URL and what to do."""
    import torchvision

    if architecture not in IMAGENET_ARCHITECTURES:
        raise ValueError(f"unknown ImageNet backbone {architecture!r}; choose one of "
                         f"{', '.join(IMAGENET_ARCHITECTURES)}")
    url = imagenet_weights_url(architecture)
    path = imagenet_weights_file(architecture)
    if not path.exists():
        reason = "download is off (transfer.imagenet.download: false)"
        if download:
            try:  # torch.hub's download, checking the hash before the file takes its name
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix(path), progress=False)
            except Exception as error:  # no network, proxy, disk, hash: all say the same to the user
                reason = f"the download failed ({type(error).__name__}: {error})"
        if not path.exists():
            raise FileNotFoundError(
                f"no ImageNet weights for {architecture}: {reason}. Put the file {path.name} "
                f"(from {url}) at {path} (the torch hub cache; set TORCH_HOME to move it)")
    check_weights_file(architecture, path, url)

    def build(pretrained: bool) -> nn.Module:
        model = torchvision.models.get_model(architecture, weights=None)
        if pretrained:
            state = load_weights(architecture, path, url)
            try:
                model.load_state_dict(state)
            except (RuntimeError, TypeError) as exc:  # missing or unexpected keys, other shapes, not a dict
                raise broken_weights(architecture, path, url, f"not a state dict of torchvision's {architecture} "
                                     f"({' '.join(describe(exc).split())[:300]})") from exc
        return model

    return Source(f"{IMAGENET_PREFIX}{architecture}", build, InputPipeline(IMAGENET_MEAN, IMAGENET_STD, image_size))


def load_source(name: str, checkpoint: str | Path | None = None, image_size: int = 224,
                download: bool = True) -> Source:
    """``imagenet_<architecture>`` or a dataset name with its checkpoint."""
    if name.startswith(IMAGENET_PREFIX):
        return imagenet_source(name[len(IMAGENET_PREFIX):], image_size, download)
    if not checkpoint:
        raise ValueError(f"transfer source {name!r}: a checkpoint is needed")
    return checkpoint_source(name, checkpoint)


@contextmanager
def convolutions_autotuned(device: torch.device | str):
    """cuDNN's benchmark mode on a GPU, restored after: each convolution's algorithms are timed
    on the first batch of a shape and the fastest kept, which pays where thousands of training
    batches share one shape (the few others, a last evaluation batch, are timed once each;
    bench/README.md, "On a GPU"). Nothing on a CPU."""
    if torch.device(device).type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


@torch.no_grad()
def extract_features(backbone: nn.Module, images: torch.Tensor, pipeline: InputPipeline,
                     batch_size: int = 500) -> torch.Tensor:
    """The backbone's output for every image, in eval mode (BatchNorm statistics unchanged)."""
    backbone.eval()
    return torch.cat([backbone(pipeline(images[start:start + batch_size]))
                      for start in range(0, len(images), batch_size)])


@dataclass(frozen=True)
class FitConfig:
    """How a head or a whole network trains on a labelled subset: AdamW, a linear warm-up over
    the first 5% of ``max_steps`` and a cosine decay over ``max_steps``, scored on a validation
    split every ``eval_every`` steps, stopped once ``patience`` scores in a row have not beaten
    the best, which is kept. Every budget trains until it has converged or reached the cap.
    The recipe's values have their defaults in the config schema (``transfer``), and
    ``settings.transfer_settings`` makes them; the last three apply to ImageNet networks alone
    and are off unless given."""

    lr: float
    weight_decay: float
    batch_size: int
    max_steps: int
    eval_every: int
    patience: int
    # The pretrained backbone's own peak rate when the whole network trains (fine-tuning an
    # ImageNet network at the head's rate wrecks its features); None: one rate for all.
    backbone_lr: float | None = None
    # bfloat16 autocast of the forward passes, training's and scoring's (the weights and their
    # updates stay float32): for large networks on GPUs with bfloat16 tensor cores
    mixed_precision: bool = False
    # the whole network's weights and activations in channels-last layout (NHWC), the one GPU
    # tensor-core convolutions read without transposing; results as in the default layout
    channels_last: bool = False


@dataclass(frozen=True)
class Fitted:
    """How a fit ended: the steps trained, the step whose weights were kept, their validation
    accuracy, and why it stopped (``converged``: ``patience`` scores without progress; ``cap``)."""

    steps: int
    best_step: int
    val_accuracy: float
    stopped: str


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: FitConfig, seed: int,
        validation: tuple[torch.Tensor, torch.Tensor],
        prepare: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Fitted:
    """Train ``model`` on (x, y) until its accuracy on ``validation`` (inputs as x, labels) stops
    improving or ``config.max_steps``, and leave it with the best-scoring weights, in eval mode;
    ``prepare`` turns each batch of x into the model's input."""
    generator = rng.generator(seed, "order")
    rng.seed_global(seed, "dropout")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.backbone_lr is not None and isinstance(model, TransferNet):
        in_backbone = {id(p) for p in model.backbone.parameters()}
        parameters = [{"params": [p for p in trainable if id(p) in in_backbone], "lr": config.backbone_lr},
                      {"params": [p for p in trainable if id(p) not in in_backbone], "lr": config.lr}]
    else:
        parameters = [{"params": trainable, "lr": config.lr}]
    optimizer = make_optimizer("AdamW", parameters, {"lr": config.lr, "weight_decay": config.weight_decay})
    warmup, total = max(1, config.max_steps // 20), config.max_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / total)))
    batch = min(config.batch_size, len(y))
    per_pass = len(y) // batch  # full batches only: BatchNorm needs more than one image
    best, best_step, best_state, stale = -1.0, 0, None, 0
    model.train()
    for step in range(1, config.max_steps + 1):
        if (step - 1) % per_pass == 0:
            order = torch.randperm(len(y), generator=generator).to(y.device)
        index = order[((step - 1) % per_pass) * batch:((step - 1) % per_pass + 1) * batch]
        inputs = x[index] if prepare is None else prepare(x[index])
        optimizer.zero_grad()
        with bfloat16_autocast(y.device, config.mixed_precision):
            loss = F.cross_entropy(model(inputs), y[index])
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % config.eval_every and step != config.max_steps:
            continue
        with bfloat16_autocast(y.device, config.mixed_precision):
            _, accuracy = evaluate(model, *validation, prepare=prepare)  # leaves the model in eval mode
        if accuracy > best:
            best, best_step, stale = accuracy, step, 0
            best_state = weights_copy(model)
        else:
            stale += 1
        if stale >= config.patience:
            break
        model.train()
    model.load_state_dict(best_state)
    return Fitted(step, best_step, best, "converged" if stale >= config.patience else "cap")


def train_one(strategy: str, source: Source, images: torch.Tensor, labels: torch.Tensor, classes: int,
              seed: int, config: FitConfig, validation: tuple[torch.Tensor, torch.Tensor],
              frozen: tuple[nn.Module, torch.Tensor] | None = None) -> tuple[TransferNet, Fitted]:
    """One run of a strategy on the labelled images (uint8, on the training device), converged
    on ``validation`` (its images, or for ``frozen`` their cached features, and labels).
    ``frozen``: (the pretrained backbone, its cached features of ``images``), for ``frozen``; the
    head then trains on the features and the backbone object is shared, never modified."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown transfer strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if (strategy == "frozen") != (frozen is not None):
        raise ValueError("the frozen strategy trains on cached features, and only it does")
    if strategy == "frozen":
        backbone, features = frozen
        rng.seed_global(seed, "init")
        head = nn.Linear(features.shape[1], classes).to(features.device)
        fitted = fit(head, features, labels, config, seed, validation)
        return TransferNet(backbone.eval(), head).eval(), fitted
    model = source.transfer_net(classes, pretrained=strategy == "finetune", seed=seed).to(images.device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    fitted = fit(model, images, labels, config, seed, validation, prepare=source.pipeline)
    return model.eval(), fitted


def run_strategy(strategy: str, source: Source, target, budgets: list[int | None], seeds: list[int],
                 config: FitConfig, validation: ValidationShare, lr_factors: tuple[float, ...],
                 features: dict | None = None,
                 device: torch.device | str = "cpu", log: Callable[[str], None] = print) -> pd.DataFrame:
    """Every (budget, seed) run of one strategy on the target dataset, one row each. Each seed
    draws its own budget images (nested across budgets), and a run sees only those: it holds
    ``validation`` of them out, trains once per learning rate ``config.lr`` x each of
    ``lr_factors`` (the backbone's rate scaled alike) to convergence on them, keeps the rate
    that scores best there (of a tie, the one nearest ``config.lr``), and scores that model once
    on the test set. The validation accuracy it reports is the best over rates and scores, so
    optimistic; the test accuracy is not.
    ``features``: the cached backbone features (as load_features returns them), for ``frozen``
    only; its scores are measured on cached features (the same numbers as a forward pass through
    backbone and head, in float32)."""
    classes = len(target.classes)
    labels = target.train_labels
    train_images = torch.from_numpy(target.train_images).to(device)
    train_y = torch.from_numpy(labels.astype(np.int64)).to(device)
    test_y = torch.from_numpy(target.test_labels.astype(np.int64)).to(device)
    backbone = None
    if features is not None:
        backbone = source.transfer_net(classes, pretrained=True, seed=0).backbone.to(device)
        train_features = torch.from_numpy(features["train"]).to(device)
        test_features = torch.from_numpy(features["test"]).to(device)
    else:
        test_images = torch.from_numpy(target.test_images).to(device)
    inputs = train_images if backbone is None else train_features
    rows = []
    smallest = int(np.bincount(labels, minlength=classes).min())
    for per_class in [b for b in budgets if b is not None and b > smallest]:
        log(f"budget {per_class} per class skipped: the smallest class has {smallest} training images (budget "
            f"full trains on every image)")
    budgets = [b for b in budgets if b is None or b <= smallest]
    if not budgets:
        raise ConfigValueError(f"transfer.budgets: every budget is larger than the smallest class of the target "
                               f"({smallest} training images); add full, or a budget of at most {smallest}")
    with convolutions_autotuned(device):
        for seed in seeds:
            for per_class in budgets:
                budget = budget_indices(labels, per_class, seed)
                train, held = (torch.from_numpy(i).to(device) for i in validation.split(labels, budget, seed))
                started = time.perf_counter()
                # the frozen strategy trains on features: no need to copy the images of the subset
                frozen = None if backbone is None else (backbone, train_features[train])
                images = train_images[train] if frozen is None else train_images[:0]
                validation_set = (inputs[held], train_y[held])
                kept = None  # (fitted, model, lr) of the best rate on validation
                # tried nearest the strategy's own rate first, so a tie (common on a few validation
                # images) keeps the rate closest to it, not whichever came first in the config
                for factor in sorted(lr_factors, key=lambda f: abs(math.log(f))):
                    rate = dataclasses.replace(config, lr=config.lr * factor, backbone_lr=None
                                               if config.backbone_lr is None else config.backbone_lr * factor)
                    model, fitted = train_one(strategy, source, images, train_y[train], classes, seed, rate,
                                              validation_set, frozen)
                    log(f"{strategy} budget {budget_name(per_class)} seed {seed} lr {rate.lr:.3g}: validation "
                        f"{fitted.val_accuracy:.4f} ({fitted.steps} steps, {fitted.stopped})")
                    if kept is None or fitted.val_accuracy > kept[0].val_accuracy:
                        kept = (fitted, model, rate.lr)
                fitted, model, lr = kept
                seconds = time.perf_counter() - started
                with bfloat16_autocast(device, config.mixed_precision):
                    if backbone is None:
                        test_loss, test_accuracy = evaluate(model, test_images, test_y, prepare=source.pipeline)
                    else:
                        test_loss, test_accuracy = evaluate(model.head, test_features, test_y)
                rows.append({"source": source.name, "target": target.name, "strategy": strategy,
                             "budget": budget_name(per_class), "per_class": len(budget) / classes,
                             "labels": len(budget), "validation_images": len(held), "seed": seed, "lr": lr,
                             "lrs_tried": len(lr_factors), "val_accuracy": fitted.val_accuracy,
                             "test_accuracy": test_accuracy, "test_loss": test_loss, "steps": fitted.steps,
                             "best_step": fitted.best_step, "stopped": fitted.stopped, "seconds": seconds,
                             "shared_seconds": 0.0 if features is None else features["seconds"]})
                log(f"{strategy} budget {budget_name(per_class)} seed {seed}: lr {lr:.3g} kept, test accuracy "
                    f"{test_accuracy:.4f} ({len(budget)} labels, {len(held)} of them to validate on; "
                    f"{fitted.steps} steps, {fitted.stopped}, kept step {fitted.best_step} at validation "
                    f"{fitted.val_accuracy:.4f}; {seconds:.1f} s for every rate)")
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def backbone_features(source: Source, target, device: torch.device | str = "cpu",
                      log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """The pretrained backbone's features of every training and test image of the target, and
    the seconds they took (what ``load_features`` reads back)."""
    started = time.perf_counter()
    backbone = source.transfer_net(len(target.classes), pretrained=True, seed=0).backbone.to(device)
    arrays = {}
    with convolutions_autotuned(device):
        for split, images in (("train", target.train_images), ("test", target.test_images)):
            arrays[split] = extract_features(backbone, torch.from_numpy(images).to(device),
                                             source.pipeline).cpu().numpy()
    seconds = time.perf_counter() - started
    log(f"features of {source.name} on {target.name}: {arrays['train'].shape[1]} per image, "
        f"{seconds:.1f} s")
    return {"train": arrays["train"], "test": arrays["test"], "seconds": np.float64(seconds)}


def load_features(path: str | Path) -> dict:
    with atomic.load_npz(path) as data:
        return {"train": data["train"], "test": data["test"], "seconds": float(data["seconds"])}
