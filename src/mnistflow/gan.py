"""Conditional GANs (the article's part 8): the networks, their training, and sampling.

The article's generator ended in tanh, so its samples lay in [-1, 1] while the real images it
was shown lay in [0, 1]; here real images are scaled to [-1, 1] to match. Each epoch's samples
are scored by ``gan_quality``, every epoch on as many samples (``quality_samples``), against the
training images the scoring classifier held out (``gan_quality.ScoringReference``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from . import atomic, rng
from .checkpoint import load_state, read_resume_file, unit_images
from .datasets import array_digest
from .gan_quality import QUALITY_COLUMNS, Scorer, ScoringReference, class_frequencies, class_labels, class_weights
from .graphs import GraphedStep
from .train import epoch_progress, load_optimizer_state, make_optimizer

# How samples are scored (gan_quality.ScoringReference): a resume file written under another way
# holds epoch scores that cannot stand beside new ones.
SCORING = "held-out reference, training class frequencies, one sample size"

# discriminator_loss and generator_loss are the adversarial BCE; the class losses are the auxiliary
# classifier's cross-entropy on real images (discriminator) and on samples (generator), 0 without one.
LOSS_COLUMNS = ["epoch", "discriminator_loss", "generator_loss", "discriminator_class_loss", "generator_class_loss",
                "real_score", "fake_score", "seconds"]


def one_hot(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return F.one_hot(labels, classes).float()


class MLPGenerator(nn.Module):
    """The article's generator: noise 100 + one-hot label -> 512 -> 1024 -> 784, tanh."""

    def __init__(self, noise_dim: int = 100, classes: int = 10):
        super().__init__()
        self.classes = classes
        self.net = nn.Sequential(
            nn.Linear(noise_dim + classes, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),
            nn.Linear(1024, 784), nn.Tanh(),
        )

    def forward(self, z, labels):
        return self.net(torch.cat([z, one_hot(labels, self.classes)], 1)).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """The article's discriminator: image + one-hot label -> 1024 -> 512 -> 256 -> 1 with dropout
    0.3; returns the logit (the sigmoid lives in the loss, which is the same BCE, computed stably).

    ``conditioning="projection"`` keeps the layer sizes but reads the image alone; the label enters
    at the end as the inner product of a learned label embedding with the 256 features (Miyato and
    Koyama 2018), so an auxiliary classifier on those features (``auxiliary_classifier``) cannot
    read the label off its input."""

    def __init__(self, classes: int = 10, conditioning: str = "concat", auxiliary_classifier: bool = False):
        super().__init__()
        self.classes, self.conditioning = classes, conditioning
        label_inputs = classes if conditioning == "concat" else 0
        self.net = nn.Sequential(
            nn.Linear(784 + label_inputs, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        )
        self.heads = DiscriminatorHeads(256, classes, conditioning, auxiliary_classifier)

    def forward(self, x, labels):
        x = x.flatten(1)
        if self.conditioning == "concat":
            x = torch.cat([x, one_hot(labels, self.classes)], 1)
        return self.heads(self.net(x), labels)


class DiscriminatorHeads(nn.Module):
    """What a discriminator computes from its features: the real/fake logit (plus the projection
    term under ``conditioning="projection"``) and, with ``auxiliary_classifier``, class logits."""

    def __init__(self, features: int, classes: int, conditioning: str, auxiliary_classifier: bool):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"unknown conditioning {conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
        if auxiliary_classifier and conditioning == "concat":
            raise ValueError("an auxiliary classifier needs conditioning 'projection': with 'concat' the "
                             "discriminator sees the label and its classifier would only copy it")
        self.real_fake = nn.Linear(features, 1)
        self.embedding = None
        if conditioning == "projection":
            # nn.Embedding's N(0, 1) start would make the projection term's spread sqrt(features)
            # (56 for the DCGAN's 3,136) and swamp the real/fake logit: start it at the scale of
            # the linear head's weights instead.
            self.embedding = nn.Embedding(classes, features)
            nn.init.uniform_(self.embedding.weight, -features ** -0.5, features ** -0.5)
        self.classifier = nn.Linear(features, classes) if auxiliary_classifier else None

    def forward(self, features, labels) -> tuple[torch.Tensor, torch.Tensor | None]:
        logit = self.real_fake(features).squeeze(1)
        if self.embedding is not None:
            logit = logit + (self.embedding(labels) * features).sum(1)
        return logit, None if self.classifier is None else self.classifier(features)


class ConvGenerator(nn.Module):
    """A small conditional DCGAN generator: noise + one-hot -> 64x7x7 -> 32x14x14 -> 1x28x28."""

    def __init__(self, noise_dim: int = 100, classes: int = 10, width: int = 64):
        super().__init__()
        self.classes, self.width = classes, width
        self.project = nn.Sequential(nn.Linear(noise_dim + classes, width * 7 * 7, bias=False),
                                     nn.BatchNorm1d(width * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.ConvTranspose2d(width // 2, 1, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z, labels):
        x = self.project(torch.cat([z, one_hot(labels, self.classes)], 1))
        return self.up(x.view(-1, self.width, 7, 7))


class ConvDiscriminator(nn.Module):
    """A small conditional DCGAN discriminator: the label enters as 10 constant input planes, or,
    under ``conditioning="projection"``, as a label embedding projected on the image's features."""

    def __init__(self, classes: int = 10, width: int = 64, conditioning: str = "concat",
                 auxiliary_classifier: bool = False):
        super().__init__()
        self.classes, self.conditioning = classes, conditioning
        label_planes = classes if conditioning == "concat" else 0
        self.net = nn.Sequential(
            nn.Conv2d(1 + label_planes, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width // 2, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.heads = DiscriminatorHeads(width * 7 * 7, classes, conditioning, auxiliary_classifier)

    def forward(self, x, labels):
        if self.conditioning == "concat":
            planes = one_hot(labels, self.classes)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, planes], 1)
        return self.heads(self.net(x), labels)


# registry.GAN_MODELS -> (generator, discriminator)
GAN_NETWORKS = {"cgan_mlp": (MLPGenerator, MLPDiscriminator), "dcgan": (ConvGenerator, ConvDiscriminator)}
# How the discriminator reads the label: the article's one-hot beside the image, or projected.
CONDITIONINGS = ("concat", "projection")


@dataclass(frozen=True)
class GanConfig:
    """A GAN's recipe, every setting given: their defaults are the config schema's (``gan``), and
    ``settings.gan_settings`` makes them from the config."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    betas: tuple[float, float]
    noise_dim: int
    seed: int
    train_subset: int | None
    # scored after each epoch (the final row is the last epoch's), and as many real images for the
    # floor: every point of the quality chart on one sample size
    quality_samples: int
    conditioning: str  # "concat" (the article's) or "projection"; see MLPDiscriminator
    # Weight of the auxiliary class loss (AC-GAN, Odena et al. 2017): the discriminator also learns
    # the class of real images, and the generator is pushed to make samples it classifies as the
    # label they were drawn for. 0: the article's plain conditional GAN.
    class_loss_weight: float
    # Decay of an exponential moving average of the generator's weights, which then makes every
    # sample, frame and score (Karras et al. 2018; Yazici et al. 2019). 0: the trained generator
    # itself, as the article sampled.
    generator_ema: float

    def __post_init__(self):
        object.__setattr__(self, "betas", tuple(self.betas))  # a list from YAML


def build_gan(config: GanConfig, classes: int = 10) -> tuple[nn.Module, nn.Module]:
    if config.model not in GAN_NETWORKS:
        raise ValueError(f"unknown GAN model {config.model!r}; choose one of {', '.join(GAN_NETWORKS)}")
    generator_class, discriminator_class = GAN_NETWORKS[config.model]
    return generator_class(config.noise_dim, classes), discriminator_class(
        classes, conditioning=config.conditioning, auxiliary_classifier=config.class_loss_weight > 0)


def to_generator_range(images: np.ndarray) -> torch.Tensor:
    """uint8 images -> float (n, 1, 28, 28) in [-1, 1], the range of the generator's tanh."""
    return torch.from_numpy(images).float().unsqueeze(1) / 127.5 - 1.0


def to_unit_range(samples: torch.Tensor) -> torch.Tensor:
    return (samples.clamp(-1, 1) + 1) / 2


# A sample grid has a row per class up to this many classes; of more, this many spread evenly
# (every figure of a GAN then shows the same classes)
GRID_CLASSES = 20


def shown_classes(classes: int) -> np.ndarray:
    """The labels a GAN's sample grids show (``GRID_CLASSES``)."""
    if classes <= GRID_CLASSES:
        return np.arange(classes)
    return np.unique(np.linspace(0, classes - 1, GRID_CLASSES).round().astype(np.int64))


def sample_grid(samples: torch.Tensor, rows: int) -> np.ndarray:
    """(rows*cols, 1, h, w) samples in [-1, 1] -> one uint8 image, rows x cols tiles."""
    n, _, h, w = samples.shape
    cols = n // rows
    tiles = (to_unit_range(samples.detach().cpu())[:, 0] * 255).round().to(torch.uint8).numpy()
    return tiles.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


# --- training -----------------------------------------------------------------------------------


class GanTrainer:
    """Trains one conditional GAN epoch by epoch; after each epoch it keeps a sample grid from fixed
    noise (10 per class, a row per class) and scores fresh samples, and writes a resume file."""

    def __init__(self, config: GanConfig, images: np.ndarray, labels: np.ndarray, resume_path: str | Path,
                 scorer: Scorer | None = None, reference: ScoringReference | None = None,
                 device: torch.device | str = "cpu", classes: int = 10, log: Callable[[str], None] = print,
                 progress_file=None, *, graphs: bool):
        """``reference``: what ``scorer`` scores samples against (``gan_quality.scoring_reference``
        for these images); ``graphs``: on a GPU, replay each step as a CUDA graph
        (``graphs.GraphedStep``)."""
        self.config, self.log, self.progress_file = config, log, progress_file
        self.device, self.classes = torch.device(device), classes
        self.resume_path = Path(resume_path)
        # scored against a reference, the GAN never trains on the reference's images
        end = config.train_subset if reference is None else min(config.train_subset or len(images),
                                                                 reference.training_images)
        subset = slice(None, end)
        self.real = to_generator_range(images[subset]).to(self.device)
        self.labels = torch.from_numpy(np.asarray(labels[subset], dtype=np.int64)).to(self.device)
        self.scorer, self.reference = scorer, reference
        # the class frequencies of these training images: samples are generated with them
        self.frequencies = class_frequencies(labels[subset], classes)
        if reference is not None and not np.allclose(reference.frequencies, self.frequencies):
            raise ValueError("the scoring reference was weighted to other class frequencies than these training "
                             "images': build it for the same train_subset")
        # what a resume file must have been written for: these images, this scoring classifier (its
        # weights: the checkpoint file also holds wall times, which differ run to run), these streams
        self.inputs = {"data": array_digest(images[subset], labels[subset]),
                       "classifier": None if scorer is None else array_digest(
                           *(t.detach().cpu().numpy() for t in scorer.model.state_dict().values())),
                       "streams": rng.VERSION, "scoring": SCORING}
        rng.seed_global(config.seed, "init")
        self.generator, self.discriminator = (m.to(self.device) for m in build_gan(config, classes))
        # what samples: the moving average of the generator's weights, or the generator itself
        self.sampler = copy.deepcopy(self.generator) if config.generator_ema else self.generator
        settings = {"lr": config.lr, "betas": tuple(config.betas)}
        graphs = graphs and self.device.type == "cuda"
        self.g_optimizer = make_optimizer("Adam", self.generator.parameters(), settings, capturable=graphs)
        self.d_optimizer = make_optimizer("Adam", self.discriminator.parameters(), settings, capturable=graphs)
        self.step = GraphedStep(self._step, enabled=graphs, log=log)
        # an epoch's summed losses and scores, added to on the device by every step and read once
        # an epoch (a GPU never waits for the host mid-epoch); one tensor, which a graph adds into
        self.sums = torch.zeros(6, dtype=torch.float64, device=self.device)
        fixed = rng.generator(config.seed, "fixed_noise")
        shown = shown_classes(classes)
        if len(shown) < classes:
            log(f"the sample grid after each epoch shows {len(shown)} of the {classes} classes, spread evenly "
                f"(labels {', '.join(map(str, shown))})")
        self.grid_rows = len(shown)  # a row of 10 samples per class shown
        self.fixed_noise = torch.randn(10 * self.grid_rows, config.noise_dim, generator=fixed).to(self.device)
        self.fixed_labels = torch.from_numpy(shown).repeat_interleave(10).to(self.device)
        self.losses: list[dict] = []
        self.quality: list[dict] = []
        self.frames: list[np.ndarray] = []

    def samples(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples (in [-1, 1]) and their labels, each class as often as among the training
        images (``gan_quality.class_labels``)."""
        labels = torch.from_numpy(class_labels(self.frequencies, n))
        z = torch.randn(n, self.config.noise_dim, generator=generator)
        self.sampler.eval()
        with torch.no_grad():
            out = torch.cat([self.sampler(z[s:s + 1000].to(self.device), labels[s:s + 1000].to(self.device))
                             for s in range(0, n, 1000)])
        return out, labels

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the training images; the epoch's mean losses and scores. Its random
        streams depend only on (seed, epoch): a resumed run sees the same batches, noise and dropout."""
        config = self.config
        rng.seed_global(config.seed, "dropout", epoch)
        batches, _ = rng.shuffled_batches(config.seed, epoch, len(self.labels), config.batch_size, self.device)
        noises = rng.per_batch(lambda n, g: torch.randn(n, config.noise_dim, generator=g), [len(b) for b in batches],
                               rng.generator(config.seed, "noise", epoch), self.device)
        self.generator.train()
        self.discriminator.train()
        self.sums.zero_()
        started = time.perf_counter()
        for index, z in epoch_progress(list(zip(batches, noises)), epoch, self.progress_file):
            self.step(index, z)
        means = (self.sums / len(self.labels)).tolist()
        return {"epoch": epoch, "discriminator_loss": means[0], "generator_loss": means[1],
                "discriminator_class_loss": means[2], "generator_class_loss": means[3],
                "real_score": means[4], "fake_score": means[5], "seconds": time.perf_counter() - started}

    def _step(self, index: torch.Tensor, z: torch.Tensor) -> tuple:
        """One update of both networks on the training images at ``index`` and the noise ``z``;
        its losses and scores are added to ``self.sums``. What a CUDA graph records."""
        config = self.config
        real, labels = self.real[index], self.labels[index]
        fake = self.generator(z, labels)
        real_logit, real_class = self.discriminator(real, labels)
        fake_logit, _ = self.discriminator(fake.detach(), labels)
        d_adversarial = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                         + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        d_class = F.cross_entropy(real_class, labels) if real_class is not None else real_logit.new_zeros(())
        self.d_optimizer.zero_grad()
        (d_adversarial + config.class_loss_weight * d_class).backward()
        self.d_optimizer.step()
        g_logit, g_class_logits = self.discriminator(fake, labels)
        g_adversarial = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
        g_class = F.cross_entropy(g_class_logits, labels) if g_class_logits is not None else g_logit.new_zeros(())
        self.g_optimizer.zero_grad()
        (g_adversarial + config.class_loss_weight * g_class).backward()
        self.g_optimizer.step()
        self.update_sampler()
        with torch.no_grad():
            losses = torch.stack([d_adversarial, g_adversarial, d_class, g_class]).double() * len(index)
            scores = torch.stack([torch.sigmoid(real_logit).sum(), torch.sigmoid(fake_logit).sum()]).double()
            self.sums += torch.cat([losses, scores])
        return ()

    @torch.no_grad()
    def update_sampler(self) -> None:
        if self.sampler is self.generator:
            return
        torch._foreach_lerp_(list(self.sampler.parameters()), list(self.generator.parameters()),
                             1 - self.config.generator_ema)
        for average, buffer in zip(self.sampler.buffers(), self.generator.buffers()):
            average.copy_(buffer)  # BatchNorm's running statistics: the trained generator's

    def score(self, epoch: int, n: int) -> dict | None:
        if self.scorer is None:
            return None
        samples, labels = self.samples(n, rng.generator(self.config.seed, "score", epoch))
        return {"epoch": epoch, **self.scorer.quality(to_unit_range(samples), labels, self.reference.statistics)}

    def real_data_score(self, n: int) -> dict:
        """The floor a GAN's scores are read against: ``n`` real images the classifier never
        trained on (the reference's floor pool, the test images; drawn without replacement, all
        of them where there are no more), weighted to the training images' class frequencies and
        scored as samples are, against the same reference. Its Fréchet distance is what sampling
        real images costs at ``n``; its accuracy the classifier's on digits it never saw."""
        pool = len(self.reference.floor_labels)
        if pool < n:
            self.log(f"the real-data floor scores all {pool} test images, fewer than the {n} samples a point: "
                     "its Fréchet distance is biased upward against theirs")
        index = torch.randperm(pool, generator=rng.generator(self.config.seed, "real_subset"))[:n].numpy()
        index.sort()
        images = unit_images(torch.from_numpy(self.reference.floor_images[index]))
        labels = self.reference.floor_labels[index]
        return self.scorer.quality(images, torch.from_numpy(labels), self.reference.statistics,
                                   class_weights(labels, self.frequencies))

    def _resume(self) -> int:
        state = read_resume_file(self.resume_path, self.config, self.device, self.log, self.inputs)
        if state is None:
            return 1
        self.load_state(state)
        self.log(f"resuming after epoch {state['epoch']} from {self.resume_path}")
        return state["epoch"] + 1

    def state(self, epoch: int) -> dict:
        return {"epoch": epoch, "config": asdict(self.config), "inputs": self.inputs,
                "generator": self.generator.state_dict(),
                "sampler": None if self.sampler is self.generator else self.sampler.state_dict(),
                "discriminator": self.discriminator.state_dict(), "g_optimizer": self.g_optimizer.state_dict(),
                "d_optimizer": self.d_optimizer.state_dict(), "losses": self.losses, "quality": self.quality,
                "frames": self.frames, "classes": self.classes}

    def load_state(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        if state.get("sampler") is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.discriminator.load_state_dict(state["discriminator"])
        load_optimizer_state(self.g_optimizer, state["g_optimizer"])
        load_optimizer_state(self.d_optimizer, state["d_optimizer"])
        self.losses, self.quality, self.frames = state["losses"], state["quality"], state["frames"]

    def run(self) -> None:
        for epoch in range(self._resume(), self.config.epochs + 1):
            self.run_epoch(epoch)

    def run_epoch(self, epoch: int) -> None:
        """One epoch's training, then its sample grid and scores, its log line and resume file."""
        row = self.train_epoch(epoch)
        self.losses.append(row)
        self.sampler.eval()
        with torch.no_grad():
            self.frames.append(sample_grid(self.sampler(self.fixed_noise, self.fixed_labels), self.grid_rows))
        quality = self.score(epoch, self.config.quality_samples)
        if quality is not None:
            self.quality.append(quality)
        self.log(f"epoch {epoch}: D loss {row['discriminator_loss']:.3f}, G loss {row['generator_loss']:.3f}, "
                 f"{row['seconds']:.1f} s" + ("" if quality is None else
                                               f", FD {quality['frechet_distance']:.2f}, "
                                               f"conditional accuracy {quality['conditional_accuracy']:.3f}"))
        with atomic.atomic_path(self.resume_path) as tmp:
            torch.save(self.state(epoch), tmp)

    def losses_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.losses, columns=LOSS_COLUMNS)

    def frame_arrays(self) -> dict[str, np.ndarray]:
        """The fixed-noise sample grid after each epoch (uint8, a row per class) and its epoch."""
        return {"frames": np.stack(self.frames), "epochs": np.array([r["epoch"] for r in self.losses])}

    def quality_table(self) -> pd.DataFrame:
        """Each epoch's scores, then a ``final`` row, the last epoch's, and a ``real data`` row:
        as many real images the classifier never trained on, scored the same way (every row on
        ``quality_samples`` images, but a floor whose pool holds fewer)."""
        quality = pd.DataFrame(self.quality, columns=QUALITY_COLUMNS)
        if self.scorer is not None and self.quality:
            floor = self.real_data_score(self.config.quality_samples)
            quality = pd.concat([quality.astype({"epoch": object}),
                                 pd.DataFrame([dict(self.quality[-1], epoch="final"), dict(floor, epoch="real data")])])
        quality["classifier"] = self.scorer.checkpoint if self.scorer else ""
        return quality

    def save(self, path: str | Path) -> None:
        """The final checkpoint (what ``load_generator`` reads)."""
        with atomic.atomic_path(path) as tmp:
            torch.save(dict(self.state(self.config.epochs), cuda_graph_replays=self.step.replays), tmp)


def load_generator(path: str | Path, device="cpu") -> tuple[nn.Module, dict]:
    state = load_state(path, device, needs=("config", "classes", "generator"))
    config = GanConfig(**state["config"])
    generator, _ = build_gan(config, state["classes"])
    generator.load_state_dict(state.get("sampler") or state["generator"])  # what the trainer sampled with
    return generator.to(device).eval(), state


@torch.no_grad()
def fresh_samples(generator: nn.Module, classes, noise_dim: int, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` new samples of each of ``classes`` (labels), in [0, 1]: (len(classes), per_class, h, w)
    float32."""
    noise = torch.Generator().manual_seed(seed)
    labels = torch.as_tensor(np.asarray(classes), dtype=torch.long).repeat_interleave(per_class)
    z = torch.randn(len(labels), noise_dim, generator=noise)
    samples = torch.cat([generator(z[s:s + 1000], labels[s:s + 1000]) for s in range(0, len(labels), 1000)])
    samples01 = to_unit_range(samples)[:, 0].numpy()
    return samples01.reshape(len(classes), per_class, *samples01.shape[1:])
