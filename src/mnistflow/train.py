"""Training: data held as tensors on the device, a loop in the style of pytorch/examples'
mnist/main.py, per-epoch metrics, checkpoints, resume after a kill, divergence detection.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from . import atomic, rng
from .checkpoint import InputPipeline, read_resume_file
from .datasets import Dataset, array_digest
from .graphs import GraphedStep
from .introspect import Recorder
from .models import build_model
from .recipes import SCHEDULES

# standardise: (pixel / 255 - mean) / std of the training images used, as a modern loop does;
# unit: pixel / 255 in [0, 1] only, as the article's notebook fed ToTensor() images
INPUT_SCALINGS = ("standardise", "unit")
# One row per epoch. test_* are filled in the selected row only: the test set is read once.
METRIC_COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                  "images_per_second", "status", "note", "selected", "test_loss", "test_accuracy"]


@dataclass(frozen=True)
class TrainConfig:
    """A training run's settings, every one given: their defaults are the config schema's
    (``train.defaults``), and ``settings.training_run`` makes them from the config."""

    model: str
    optimizer: str
    optimizer_kwargs: dict
    schedule: str
    schedule_kwargs: dict
    epochs: int
    batch_size: int
    augment: bool
    mixed_precision: bool  # bfloat16 autocast of the forward pass and loss
    seed: int
    train_subset: int | None  # the first n training images, for quick runs
    validation: int  # of those, the last n held out to select the epoch on (0: the last epoch)
    input_scaling: str  # "standardise" or "unit" (``INPUT_SCALINGS``)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class TensorData:
    """Normalised images and labels as tensors on the training device: the training images, a
    validation split held out of them (what a run is selected on) and the test set (read once, for
    the reported figure). Either held-out set may be empty."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float
    std: float
    classes: tuple[str, ...]
    digest: str = ""  # of the images and labels these were made from (resume files record it)

    @property
    def has_validation(self) -> bool:
        return len(self.val_y) > 0

    @classmethod
    def for_run(cls, dataset: Dataset, run: TrainConfig, device: torch.device | str = "cpu",
                test: bool = True) -> "TensorData":
        """The images and labels as training run ``run`` reads them: its training subset,
        validation split and input scaling; ``test=False`` leaves the test set out (a tuning sweep)."""
        return cls.from_dataset(dataset, device, train_subset=run.train_subset, validation=run.validation,
                                scaling=run.input_scaling, test=test)

    @classmethod
    def from_dataset(cls, dataset: Dataset, device: torch.device | str = "cpu", *, train_subset: int | None,
                     validation: int, scaling: str, test: bool = True) -> "TensorData":
        """The first ``train_subset`` training images (all for None), of which the last
        ``validation`` are held out; ``test=False`` leaves the test set out (a tuning sweep);
        ``scaling`` one of ``INPUT_SCALINGS``."""
        if scaling not in INPUT_SCALINGS:
            raise ValueError(f"unknown input_scaling {scaling!r}; choose one of {', '.join(INPUT_SCALINGS)}")
        train = dataset.train_images[:train_subset] if train_subset else dataset.train_images
        labels = dataset.train_labels[:train_subset] if train_subset else dataset.train_labels
        if validation >= len(train):
            raise ValueError(f"validation={validation} leaves no training images out of {len(train)}")
        cut = len(train) - validation
        val_images, val_labels = train[cut:], labels[cut:]
        train, labels = train[:cut], labels[:cut]
        test_images = dataset.test_images if test else dataset.test_images[:0]
        test_labels = dataset.test_labels if test else dataset.test_labels[:0]
        if scaling == "unit":
            mean, std = 0.0, 1.0
        else:
            scaled = train.astype(np.float64) / 255.0
            mean, std = float(scaled.mean()), float(scaled.std())  # of the training images used
        pipeline = InputPipeline((mean,), (std,))  # what the checkpoint records (mean, std)

        def tensor(images):
            return pipeline(torch.from_numpy(images).to(device))

        def long(values):
            return torch.from_numpy(np.asarray(values)).to(device=device, dtype=torch.long)

        return cls(tensor(train), long(labels), tensor(val_images), long(val_labels), tensor(test_images),
                   long(test_labels), mean, std, dataset.classes,
                   array_digest(train, labels, val_images, val_labels, test_images, test_labels))


def weights_copy(model: torch.nn.Module) -> dict:
    """A copy of the model's weights (and buffers) as they are now."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def warp_draws(n: int, generator: torch.Generator) -> torch.Tensor:
    """The random numbers of one batch's warp (``augment_batch``): (n, 3) uniforms in [0, 1), the
    rotation's then the shift's."""
    angle = torch.rand(n, generator=generator)
    shift = torch.rand(n, 2, generator=generator)
    return torch.cat([angle[:, None], shift], dim=1)


def augment_batch(x: torch.Tensor, draws: torch.Tensor, max_shift: float = 2.0,
                  max_degrees: float = 10.0) -> torch.Tensor:
    """Random shifts (pixels) and small rotations, one affine warp for the whole batch; ``draws``
    are ``warp_draws`` for it, on x's device."""
    n, _, h, w = x.shape
    angle = (draws[:, 0] * 2 - 1) * math.radians(max_degrees)
    shift = (draws[:, 1:] * 2 - 1) * max_shift
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cos, -sin, shift[:, 0] * 2 / w], dim=1),
        torch.stack([sin, cos, shift[:, 1] * 2 / h], dim=1),
    ], dim=1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    background = x.amin()  # the normalised value of a black pixel
    return F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background


def bfloat16_autocast(device: torch.device | str, enabled: bool):
    """bfloat16 autocast of the forward passes on ``device`` (nothing when not ``enabled``),
    without a cache of the weights' bfloat16 copies: a CUDA graph would replay stale ones."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=False)


def evaluation_batch(device: torch.device) -> int:
    """Batches of 250 stay in the CPU's cache, which batches of 1,000 do not (bench/README.md,
    "Measured choices"); a GPU wants batches large enough to fill it."""
    return 250 if device.type == "cpu" else 4096


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None,
             prepare: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over exactly the ``len(y)`` given examples; ``prepare``
    turns each batch of x into the model's input (then batches stay at 250: a backbone's input at
    224 px is 64 times larger). The sums stay on the device until the end: one wait for a GPU, not
    two per batch."""
    model.eval()
    batch_size = batch_size or (evaluation_batch(y.device) if prepare is None else 250)
    loss_sum = torch.zeros((), dtype=torch.float64, device=y.device)
    correct = torch.zeros((), dtype=torch.long, device=y.device)
    for start in range(0, len(y), batch_size):
        batch = x[start:start + batch_size]
        # under bfloat16 autocast the logits come out in bfloat16: loss and arg-max in float32
        logits = model(batch if prepare is None else prepare(batch)).float()
        target = y[start:start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum")
        correct += (logits.argmax(dim=1) == target).sum()
    return loss_sum.item() / len(y), correct.item() / len(y)


def make_optimizer(name: str, parameters, kwargs: dict, capturable: bool = False) -> torch.optim.Optimizer:
    """``capturable``: its step can be recorded in a CUDA graph (``graphs.GraphedStep``)."""
    optimizer_class = getattr(torch.optim, name, None)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise ValueError(f"unknown optimizer {name!r}: not a class in torch.optim")
    options = inspect.signature(optimizer_class).parameters
    if "fused" in options:
        # The same update in one kernel instead of a chain of foreach ops over temporaries: much
        # faster on CPU for large layers (bench/README.md, "Measured choices").
        kwargs = {"fused": True, **kwargs}
    if capturable and "capturable" in options:
        kwargs = {**kwargs, "capturable": True}
    return optimizer_class(parameters, **kwargs)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping the optimizer's own ``capturable``: torch
    would take the saved one, and a resume file may come from a run with CUDA graphs off (whose
    replays would then be refused) or from a GPU (whose setting a CPU refuses). Step counts go
    where the kept setting wants them."""
    groups = [dict(saved, capturable=own["capturable"]) if "capturable" in own else saved
              for saved, own in zip(state["param_groups"], optimizer.param_groups)]
    optimizer.load_state_dict({**state, "param_groups": groups})
    for group in optimizer.param_groups:
        if not (group.get("capturable") or group.get("fused")):  # torch keeps these counts on the host
            for parameter in group["params"]:
                step = optimizer.state.get(parameter, {}).get("step")
                if isinstance(step, torch.Tensor):
                    optimizer.state[parameter]["step"] = step.cpu()


def make_schedule(name: str, optimizer, kwargs: dict, steps_per_epoch: int, epochs: int):
    """(scheduler or None, whether it steps per batch)."""
    if name == "constant":
        return None, False
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, **kwargs), False
    if name == "onecycle":
        kwargs = dict(kwargs)
        kwargs.setdefault("max_lr", optimizer.param_groups[0]["lr"])
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, total_steps=steps_per_epoch * epochs, **kwargs), True
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def near_chance(accuracy: float, classes: int) -> bool:
    """Within 5% of the way from chance (1 / classes) to perfect: a model that learnt nothing."""
    chance = 1 / classes
    return accuracy < chance + 0.05 * (1 - chance)


class LossWatch:
    """Tells a blow-up from training while the loss is still finite: the batch loss, smoothed
    over about ten batches, has risen more than ln(classes) (the loss of a uniform guess) above the
    lowest value it reached after the first ``warmup`` batches. Those are left out: a first update
    often overshoots (FirstModel under Adam at lr 0.01 goes from 2.3 to 48 at step 1 and is back
    below 1 by step 15), and a run that never recovers from it ends its epoch with a loss still at
    or above ln(classes), which ``EpochWatch.settled`` marks."""

    def __init__(self, classes: int, decay: float = 0.9, warmup: int = 50):
        self.limit, self.decay, self.warmup = math.log(classes), decay, warmup
        self.batches, self.smoothed, self.lowest = 0, None, None

    def update(self, loss: float) -> str | None:
        """The batch's loss; says what is wrong when the run has blown up, else None."""
        self.batches += 1
        self.smoothed = loss if self.smoothed is None else self.decay * self.smoothed + (1 - self.decay) * loss
        if self.batches <= self.warmup:
            return None
        self.lowest = self.smoothed if self.lowest is None else min(self.lowest, self.smoothed)
        if self.smoothed > self.lowest + self.limit:
            return (f"the smoothed training loss rose to {self.smoothed:.3g}, more than ln(classes) = "
                    f"{self.limit:.3f} above its lowest {self.lowest:.3g}")
        return None

    def state_dict(self) -> dict:
        return {"batches": self.batches, "smoothed": self.smoothed, "lowest": self.lowest}

    def load_state_dict(self, state: dict) -> None:
        self.batches, self.smoothed, self.lowest = state["batches"], state["smoothed"], state["lowest"]


class EpochWatch:
    """An epoch's batch losses and hits, kept on the device and read back in blocks: a GPU then
    waits for the host once per block, not twice per batch. ``check`` feeds the losses read so far
    to the run's ``LossWatch`` in order and stops at the first bad batch, so the epoch's means and
    the problem named are those a batch-by-batch check gives; on a GPU the batches between a
    blow-up and the end of its block are trained too, in a run that is then stopped anyway (so a
    run that blows up in its first epoch, which has no epoch to keep, ends with other weights
    there than on a CPU: a diverged checkpoint, which no later analysis reads)."""

    SETTLED_IMAGES = 2000

    def __init__(self, loss_watch: LossWatch, batch_sizes: list[int], device: torch.device, check_every: int):
        """``check_every``: how many batches' losses are computed before the host reads them."""
        self.loss_watch, self.batch_sizes, self.check_every = loss_watch, batch_sizes, check_every
        self.losses = torch.zeros(len(batch_sizes), device=device)
        self.hits = torch.zeros(len(batch_sizes), dtype=torch.long, device=device)
        self.checked, self.loss_sum, self.correct, self.seen = 0, 0.0, 0, 0
        self.recent: deque[tuple[float, int]] = deque()  # the last batches read: (loss, images)
        self.recent_images = 0  # of all but the oldest of them
        self.problem: str | None = None
        self.finite = True  # False: a batch's loss was not finite, and the epoch's means are NaN

    def add(self, step: int, loss: torch.Tensor, hits: torch.Tensor, read_now: bool = False) -> bool:
        """Keeps batch ``step``'s loss and hits; at the end of a block, or ``read_now``, reads
        those not read yet: whether the run has blown up."""
        self.losses[step] = loss.detach()
        self.hits[step] = hits
        return (read_now or (step + 1) % self.check_every == 0) and self.check(step + 1)

    def finish(self) -> bool:
        """Reads the epoch's last block: whether the run has blown up."""
        return self.check(len(self.batch_sizes))

    def check(self, upto: int) -> bool:
        """Reads the losses of the batches before ``upto``; whether the run has blown up."""
        values = zip(self.losses[self.checked:upto].tolist(), self.hits[self.checked:upto].tolist())
        for step, (value, hits) in enumerate(values, start=self.checked):
            if not math.isfinite(value):
                self.finite = False
                self.problem = f"the training loss is {value} at step {step}"
                return True
            self.loss_sum += value * self.batch_sizes[step]
            if self.recent:
                self.recent_images += self.batch_sizes[step]
            self.recent.append((value, self.batch_sizes[step]))
            while self.recent_images >= self.SETTLED_IMAGES:  # the fewest last batches that hold them
                self.recent.popleft()
                self.recent_images -= self.recent[0][1]
            self.correct += hits
            self.seen += self.batch_sizes[step]
            problem = self.loss_watch.update(value)
            if problem is not None:
                self.problem = f"{problem} at step {step}"
                return True
        self.checked = upto
        return False

    def settled(self) -> str | None:
        """At the end of an epoch: what is wrong when the mean loss of its last
        ``SETTLED_IMAGES`` images (the whole epoch, if shorter) is not below ln(classes) (no
        better than a uniform guess), else None. The whole epoch's mean would not do: it keeps a
        first overshoot the run recovered from, so the same curve would be marked or not by how
        many batches follow it; nor would ``LossWatch``'s smoothed loss, which carries the epochs
        before into an epoch of a few batches. A fixed count of images, not of batches, judges
        every batch size on as many losses."""
        if not self.recent:
            return None
        images = sum(size for _, size in self.recent)
        loss = sum(value * size for value, size in self.recent) / images
        if loss >= self.loss_watch.limit:
            return (f"the mean training loss of the epoch's last {images} images, {loss:.3f}, is not below "
                    f"ln(classes) = {self.loss_watch.limit:.3f}")
        return None

    def result(self) -> tuple[float, float, str | None]:
        if not self.finite:
            return float("nan"), float("nan"), self.problem
        return self.loss_sum / self.seen, self.correct / self.seen, self.problem


def epoch_progress(batches: list, epoch: int, progress_file) -> Iterable:
    """The epoch's batches, with a progress bar in ``progress_file`` (none when it is None)."""
    from tqdm import tqdm

    return tqdm(batches, desc=f"epoch {epoch}", file=progress_file, disable=progress_file is None, mininterval=5,
                ascii=True)


class TrainingStep:
    """One batch's training, the device machinery behind two calls: ``backward`` (forward, loss,
    backward) and ``update`` (the optimizer's step and a per-batch schedule). On a GPU with
    ``graphs`` the forward and backward pass replay as one CUDA graph (``graphs.GraphedStep``);
    the update (a few fused kernels), the schedule and a recorder's reads run after each replay as
    they do eagerly, so any optimizer and schedule keep their meaning."""

    def __init__(self, config: TrainConfig, model: torch.nn.Module, data: TensorData, graphs: bool,
                 log: Callable[[str], None]):
        self.model, self.data = model, data
        self.mixed_precision = config.mixed_precision
        self.device = data.train_x.device
        self.optimizer = make_optimizer(config.optimizer, model.parameters(), config.optimizer_kwargs)
        self.steps_per_epoch = math.ceil(len(data.train_y) / config.batch_size)
        self.scheduler, self.per_batch = make_schedule(
            config.schedule, self.optimizer, config.schedule_kwargs, self.steps_per_epoch, config.epochs)
        self.graph = GraphedStep(self._forward_backward, enabled=graphs and self.device.type == "cuda", log=log)
        # a replay writes the gradients into the tensors recorded: they are zeroed in place, never
        # dropped, so that the update reads the same tensors after an eager call (a warm-up, an
        # epoch's smaller last batch) as after a replay
        self.gradients_in_place = self.graph.enabled

    def backward(self, index: torch.Tensor, warp: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradients (in the weights' ``.grad``) of the batch of training images at ``index``
        (warped by ``warp``, when augmenting), its loss and how many of it the model classifies
        right, as tensors on the device. A replay's outputs are overwritten by the next: read them first."""
        return self.graph(index) if warp is None else self.graph(index, warp)

    def update(self) -> None:
        self.optimizer.step()
        if self.per_batch:
            self.scheduler.step()

    def end_epoch(self) -> None:
        if self.scheduler is not None and not self.per_batch:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def _forward_backward(self, index: torch.Tensor,
                          warp: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=not self.gradients_in_place)
        x, y = self.data.train_x[index], self.data.train_y[index]
        if warp is not None:
            x = augment_batch(x, warp)
        with bfloat16_autocast(self.device, self.mixed_precision):
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
        loss.backward()
        return loss.detach(), (logits.argmax(dim=1) == y).sum()

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


class Trainer:
    """One training run. ``run()`` trains epoch by epoch, writing a resume file after each,
    scores every epoch on the validation split, and at the end keeps the epoch that scored best
    there (the last one without a validation split) and scores it once on the test set.

    A run is marked diverged, and stops, when its loss is not finite or blows up (``LossWatch``)
    or ends an epoch (its last 2,000 images) not below ln(classes) (the first of several epochs
    excepted); also, at the end, when its accuracy is near chance (the validation split's, else
    the training images'; never the test set's)."""

    def __init__(self, config: TrainConfig, data: TensorData, resume_path: str | Path, *, graphs: bool,
                 log: Callable[[str], None] = print, progress_file=None, recording: dict | None = None):
        """``graphs``: on a GPU, replay each batch's forward and backward pass as a CUDA graph
        (``graphs.graphs_wanted`` reads ``train.cuda_graphs``); ``recording``: Recorder options
        (``per_epoch``, bin counts) to record weight and gradient statistics during training
        (``self.recorder``), or None."""
        self.config, self.data, self.log = config, data, log
        self.resume_path = Path(resume_path)
        self.progress_file = progress_file
        self.device = data.train_x.device
        # how many batches' losses a GPU computes before the host reads them (a CPU: every one)
        self.check_every = 1 if self.device.type == "cpu" else 100
        rng.seed_global(config.seed, "init")
        self.model = build_model(config.model, len(data.classes)).to(self.device)
        self.step = TrainingStep(config, self.model, data, graphs, log)
        self.metrics: list[dict] = []
        self.loss_watch = LossWatch(len(data.classes))
        self.selected: dict | None = None  # {"epoch", "model"}: the weights the run keeps
        self.recorder = (None if recording is None
                         else Recorder(self.model, self.step.steps_per_epoch, **recording))
        # what a resume file must have been written for: this data, these random streams
        self.inputs = {"data": data.digest, "streams": rng.VERSION}

    def _resume(self) -> int:
        state = read_resume_file(self.resume_path, self.config, self.device, self.log, self.inputs)
        if state is None:
            return 1
        if (self.recorder is None) != (state.get("recorder") is None):
            self.log(f"ignoring {self.resume_path}: it was written with recording "
                     f"{'off' if state.get('recorder') is None else 'on'}")
            return 1
        if self.recorder is not None:
            self.recorder.load_state_dict(state["recorder"])
        self.model.load_state_dict(state["model"])
        self.step.load_state_dict(state)
        self.metrics = state["metrics"]
        self.loss_watch.load_state_dict(state["loss_watch"])
        self.selected = state["selected"]
        self.log(f"resuming after epoch {state['epoch']} from {self.resume_path}")
        return state["epoch"] + 1

    def _save_resume(self, epoch: int) -> None:
        state = {"epoch": epoch, "config": asdict(self.config), "inputs": self.inputs,
                 "model": self.model.state_dict(), **self.step.state_dict(), "metrics": self.metrics,
                 "recorder": None if self.recorder is None else self.recorder.state_dict(),
                 "loss_watch": self.loss_watch.state_dict(), "selected": self.selected}
        with atomic.atomic_path(self.resume_path) as tmp:
            torch.save(state, tmp)

    def train_epoch(self, epoch: int) -> tuple[float, float, str | None]:
        """Mean train loss and accuracy over the batches trained, and what went wrong if the run
        blew up (training then stops), else None."""
        batches = self.epoch_batches(epoch)
        watch = EpochWatch(self.loss_watch, [len(index) for index, _ in batches], self.device, self.check_every)
        self.model.train()
        for step, (index, warp) in enumerate(epoch_progress(batches, epoch, self.progress_file)):
            loss, hits = self.step.backward(index, warp)
            recording = self.recorder is not None and self.recorder.due(step)
            # read before the update: a bad batch read (every batch, on a CPU) never updates, and
            # no weights past a blow-up are recorded
            if watch.add(step, loss, hits, read_now=recording):
                return watch.result()
            if recording:
                self.recorder.record(self.model, epoch, step)
            self.step.update()
        if watch.finish():
            return watch.result()
        self.step.end_epoch()
        train_loss, train_accuracy, _ = watch.result()
        # the first of several epochs starts untrained (and may warm up): judged only when it is the last
        judged = epoch > 1 or self.config.epochs == 1
        return train_loss, train_accuracy, watch.settled() if judged else None

    def epoch_batches(self, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """The epoch's batches, (index, warp draws or None), on the device. Each epoch's random
        streams depend only on (seed, epoch): a resumed run sees the same batches and dropout."""
        config = self.config
        rng.seed_global(config.seed, "dropout", epoch)
        indices, generator = rng.shuffled_batches(config.seed, epoch, len(self.data.train_y), config.batch_size,
                                                  self.device)
        if not config.augment:
            return [(index, None) for index in indices]
        return list(zip(indices, rng.per_batch(warp_draws, [len(i) for i in indices], generator, self.device)))

    def run(self) -> pd.DataFrame:
        has_validation = self.data.has_validation
        for epoch in range(self._resume(), self.config.epochs + 1):
            lr = self.step.lr
            started = time.perf_counter()
            train_loss, train_accuracy, problem = self.train_epoch(epoch)
            seconds = time.perf_counter() - started
            val_loss = val_accuracy = float("nan")
            if problem is None and has_validation:
                val_loss, val_accuracy = evaluate(self.model, self.data.val_x, self.data.val_y)
                if not math.isfinite(val_loss):
                    problem = f"the validation loss is {val_loss}"
            self.metrics.append({
                "epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy, "val_loss": val_loss,
                "val_accuracy": val_accuracy, "lr": lr, "seconds": seconds,
                "images_per_second": len(self.data.train_y) / seconds,
                "status": "ok" if problem is None else "diverged", "note": problem or "", "selected": False,
            })
            self.log(f"epoch {epoch}: train loss {train_loss:.4f} acc {train_accuracy:.4f}, "
                     f"validation loss {val_loss:.4f} acc {val_accuracy:.4f}, {seconds:.1f} s")
            if problem is not None:
                self.log(f"run marked diverged in epoch {epoch}: {problem}")
                break
            best = None if self.selected is None else self.metrics[self.selected["epoch"] - 1]["val_accuracy"]
            if not has_validation or best is None or val_accuracy > best:
                self.selected = {"epoch": epoch, "model": weights_copy(self.model)}
            self._save_resume(epoch)
        self._test_selected()
        return pd.DataFrame(self.metrics, columns=METRIC_COLUMNS)

    def _test_selected(self) -> None:
        """Keep the selected epoch's weights and score them on the test set: the one time it is read.
        Then mark the run diverged if its accuracy ended near chance (on the validation split, or
        without one on the training images)."""
        classes = len(self.data.classes)
        if self.selected is not None:
            self.model.load_state_dict(self.selected["model"])
            row = self.metrics[self.selected["epoch"] - 1]
            row["selected"] = True
            if len(self.data.test_y):
                row["test_loss"], row["test_accuracy"] = evaluate(self.model, self.data.test_x, self.data.test_y)
                self.log(f"epoch {row['epoch']} selected"
                         f"{' on validation' if self.data.has_validation else ' (the last)'}: "
                         f"test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.4f}")
        final = self.metrics[-1] if self.metrics else None
        if final is None or final["status"] != "ok":
            return
        # without a validation split the training accuracy judges: the test set decides nothing
        split = "held-out" if self.data.has_validation else "training"
        accuracy = final["val_accuracy"] if self.data.has_validation else final["train_accuracy"]
        if math.isfinite(accuracy) and near_chance(accuracy, classes):
            final["status"] = "diverged"
            final["note"] = f"{split} accuracy {accuracy:.4f} is near chance ({1 / classes:.4f})"
            self.log(f"run marked diverged in epoch {final['epoch']}: {final['note']}")

    def save(self, checkpoint_path: str | Path, metrics: pd.DataFrame) -> None:
        """The final checkpoint: the selected epoch's weights, config, normalisation, classes and metrics."""
        state = {"config": asdict(self.config), "model": self.model.state_dict(),
                 "classes": self.data.classes, "mean": self.data.mean, "std": self.data.std,
                 "metrics": metrics.to_dict("records"), "cuda_graph_replays": self.step.graph.replays,
                 "status": "diverged" if (metrics.status == "diverged").any() else "ok"}
        with atomic.atomic_path(checkpoint_path) as tmp:
            torch.save(state, tmp)
