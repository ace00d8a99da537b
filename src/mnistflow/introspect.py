"""Inside the network (the article's parts 5-7): weight and gradient statistics recorded during
training, and what a trained checkpoint's hidden layers do with test images.

The recorder keeps summaries, not raw tensors: per parameter tensor, a histogram on bin edges
fixed when recording starts (so frames of a GIF share their axes), percentiles, mean, std and
L2 norm of the weights, and mean |g|, max |g|, L2 norm and a histogram of log10 |g| of the
gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from . import atomic
from .predictions import Predictions

# The bands of TensorBoard's "distribution" view: min, ±1.5, ±1 and ±0.5 sigma of a normal, median, max.
PERCENTILES = (0, 7, 16, 31, 50, 69, 84, 93, 100)
# Gradients span many orders of magnitude, so their histogram is over log10 |g|; exact zeros
# (and anything smaller than 1e-12) fall in the first bin.
GRADIENT_LOG10_RANGE = (-12.0, 2.0)


def weight_edges(values: torch.Tensor, bins: int) -> np.ndarray:
    """Fixed histogram edges for one parameter tensor, from its initial values: ten times its
    initial spread around the centre (trained weights often end several times wider than their
    initialisation); for a constant tensor (BatchNorm's ones and zeros) its value ± max(|value|,
    0.5). Values beyond count in the end bins; percentiles 0 and 100 keep the exact extremes, and
    the plots zoom to the range the weights actually took."""
    low, high = float(values.min()), float(values.max())
    centre, half = (low + high) / 2, (high - low) / 2
    half = 10 * half if half > 0 else max(abs(centre), 0.5)
    return np.linspace(centre - half, centre + half, bins + 1)


def histogram(values: torch.Tensor, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` on ``edges`` (equal width), out-of-range values in the end bins:
    the counts always sum to the number of values."""
    low, high = float(edges[0]), float(edges[-1])
    flat = values.detach().reshape(-1).float().clamp(low, high)
    return torch.histc(flat, bins=len(edges) - 1, min=low, max=high).cpu().numpy().astype(np.int64)


def percentiles(values: torch.Tensor, levels=PERCENTILES) -> np.ndarray:
    """Exact percentiles with numpy's linear interpolation, from one partial sort (a few times
    faster than torch.quantile's full sort on the article's 4.7 M-weight layer)."""
    flat = values.detach().reshape(-1).float().cpu().numpy()
    position = np.asarray(levels, dtype=np.float64) / 100 * (len(flat) - 1)
    low, high = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
    ordered = np.partition(flat, np.unique(np.concatenate([low, high])))
    return (ordered[low] + (ordered[high] - ordered[low]) * (position - low)).astype(np.float32)


def gradient_log10(grad: torch.Tensor) -> torch.Tensor:
    low, high = GRADIENT_LOG10_RANGE
    return grad.detach().abs().float().clamp_min(10.0 ** low).log10().clamp(low, high)


class Recorder:
    """Statistics of every parameter tensor and its gradient at ``per_epoch`` evenly spaced steps
    of each epoch. ``record`` is called after ``backward()`` and before the optimizer step, so
    the weights recorded are those that produced the gradients recorded."""

    def __init__(self, model: torch.nn.Module, steps_per_epoch: int, per_epoch: int = 20,
                 weight_bins: int = 240, gradient_bins: int = 56):
        self.names = [name for name, _ in model.named_parameters()]
        self.sizes = [p.numel() for _, p in model.named_parameters()]
        self.steps_per_epoch = steps_per_epoch
        # exactly per_epoch steps, evenly spread (every step of a shorter epoch): a fixed interval
        # of steps_per_epoch // per_epoch records 21 of 430 steps where 20 were asked for
        self.recorded_steps = frozenset(k * steps_per_epoch // per_epoch for k in range(per_epoch))
        self.weight_edges = np.stack([weight_edges(p.detach(), weight_bins) for _, p in model.named_parameters()])
        self.gradient_edges = np.linspace(*GRADIENT_LOG10_RANGE, gradient_bins + 1)
        self.rows: list[dict] = []

    def due(self, step: int) -> bool:
        """Whether the ``step``-th batch of an epoch (from 0) is recorded."""
        return step in self.recorded_steps

    @torch.no_grad()
    def record(self, model: torch.nn.Module, epoch: int, step: int) -> None:
        row = {"step": (epoch - 1) * self.steps_per_epoch + step, "epoch": epoch - 1 + step / self.steps_per_epoch,
               "weight_counts": [], "percentiles": [], "mean": [], "std": [], "l2": [],
               "gradient_counts": [], "mean_abs_gradient": [], "max_abs_gradient": [], "gradient_l2": []}
        for (name, p), edges in zip(model.named_parameters(), self.weight_edges):
            w = p.detach().reshape(-1).float()
            row["weight_counts"].append(histogram(w, edges))
            row["percentiles"].append(percentiles(w))
            row["mean"].append(w.mean().item())
            row["std"].append(w.std().item() if w.numel() > 1 else 0.0)
            row["l2"].append(w.norm().item())
            g = p.grad.detach().reshape(-1).float() if p.grad is not None else torch.zeros_like(w)
            row["gradient_counts"].append(histogram(gradient_log10(g), self.gradient_edges))
            row["mean_abs_gradient"].append(g.abs().mean().item())
            row["max_abs_gradient"].append(g.abs().max().item())
            row["gradient_l2"].append(g.norm().item())
        self.rows.append(row)

    def state_dict(self) -> dict:
        return {"names": self.names, "recorded_steps": sorted(self.recorded_steps), "rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        if state["names"] != self.names or state.get("recorded_steps") != sorted(self.recorded_steps):
            raise ValueError("the recording in the resume file belongs to another model or other recorded steps")
        self.rows = state["rows"]

    def _common(self) -> dict:
        return {"step": np.array([r["step"] for r in self.rows], dtype=np.int64),
                "epoch": np.array([r["epoch"] for r in self.rows], dtype=np.float64),
                "names": np.array(self.names), "sizes": np.array(self.sizes, dtype=np.int64)}

    def _stack(self, key: str, dtype) -> np.ndarray:
        return np.array([r[key] for r in self.rows], dtype=dtype)

    def weight_arrays(self) -> dict[str, np.ndarray]:
        """The weights dump: arrays indexed [recorded step, tensor, ...]."""
        return dict(self._common(), edges=self.weight_edges, counts=self._stack("weight_counts", np.int64),
                    percentile_levels=np.array(PERCENTILES), percentiles=self._stack("percentiles", np.float32),
                    mean=self._stack("mean", np.float64), std=self._stack("std", np.float64),
                    l2=self._stack("l2", np.float64))

    def gradient_arrays(self) -> dict[str, np.ndarray]:
        """The gradients dump: arrays indexed [recorded step, tensor, ...]."""
        return dict(self._common(), log10_edges=self.gradient_edges, counts=self._stack("gradient_counts", np.int64),
                    mean_abs=self._stack("mean_abs_gradient", np.float64),
                    max_abs=self._stack("max_abs_gradient", np.float64), l2=self._stack("gradient_l2", np.float64))



# --- a trained checkpoint's hidden layers -------------------------------------------------------


def layers_of(model: torch.nn.Module, kind: type) -> list[tuple[str, torch.nn.Module]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, kind)]


@torch.no_grad()
def feature_maps(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The output of every convolution for the images ``x``, by forward hooks: name -> (n, c, h, w)."""
    outputs: dict[str, np.ndarray] = {}
    handles = [module.register_forward_hook(
        lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach().cpu().contiguous().numpy()))
        for name, module in layers_of(model, torch.nn.Conv2d)]
    try:
        model.eval()
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def one_per_class(y: torch.Tensor, classes: int) -> torch.Tensor:
    """The index of the first test image of each class."""
    return torch.stack([torch.nonzero(y == c)[0, 0] for c in range(classes)])


def saliency(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d(logit of ``target``)/d(input) for each image, the same shape as ``x``."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    scores = model(x).gather(1, target.view(-1, 1)).sum()
    (grad,) = torch.autograd.grad(scores, x)
    return grad


def class_saliency(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, classes: int,
                   batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the mean saliency of its own score over the correctly classified test images
    of that class, and how many those were: ((classes, h, w), (classes,))."""
    sums = torch.zeros(classes, *x.shape[2:])
    counts = torch.zeros(classes, dtype=torch.long)
    for start in range(0, len(y), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with torch.no_grad():
            right = model.eval()(xb).argmax(1) == yb
        if right.any():
            grad = saliency(model, xb[right], yb[right])[:, 0].cpu()
            sums.index_add_(0, yb[right].cpu(), grad)
            counts += torch.bincount(yb[right].cpu(), minlength=classes)
    return (sums / counts.clamp_min(1).view(-1, 1, 1)).numpy(), counts.numpy()


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The most probable class of each input and its softmax probability, exp of the largest
    log-softmax (stable where a logit is huge)."""
    model.eval()
    log_probabilities = torch.cat([F.log_softmax(model(x[s:s + batch_size]), 1) for s in range(0, len(x), batch_size)])
    log_confidence, predicted = log_probabilities.max(1)
    return predicted, log_confidence.exp()


def confident_mistakes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                       n: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``n`` wrongly classified test images with the highest predicted probability:
    (indices, predicted classes, probabilities), most confident first."""
    predicted, confidence = predict(model, x)
    wrong = torch.nonzero(predicted != y).reshape(-1)
    order = wrong[confidence[wrong].argsort(descending=True)][:n]
    return order.cpu().numpy(), predicted[order].cpu().numpy(), confidence[order].cpu().numpy()


def test_predictions(model: torch.nn.Module, pipeline, test_images: np.ndarray, test_labels: np.ndarray,
                     run: str) -> Predictions:
    """``pipeline``: the checkpoint's InputPipeline (uint8 images -> the model's input)."""
    predicted, confidence = predict(model, pipeline(torch.from_numpy(test_images)))
    broken = int((~torch.isfinite(confidence)).sum())
    if broken:
        raise ValueError(f"run {run!r}: its model's output is not finite for {broken} of {len(confidence)} test "
                         "images; retrain it, or choose another run (train.best_run)")
    return Predictions(run=run, labels=np.asarray(test_labels, dtype=np.int64),
                       predicted=predicted.cpu().numpy().astype(np.int64),
                       confidence=confidence.cpu().numpy().astype(np.float32))


@dataclass
class HiddenLayers:
    """What a trained classifier does with the test images, as the hidden-layer figures draw it:
    its convolution kernels and fully connected weights (by layer name), each convolution's
    output for one test image per class, those images' logits and saliency, the mean saliency of
    each class over its correctly classified images, and the most confidently wrong images with
    the saliency of the class they were taken for."""

    classes: np.ndarray  # class names
    filters: dict[str, np.ndarray]  # convolution -> (out, in, kh, kw)
    linear_weights: dict[str, np.ndarray]  # fully connected layer -> (out, in)
    example_index: np.ndarray  # (classes,) test image indices, one per class
    example_images: np.ndarray  # (classes, h, w) uint8
    feature_maps: dict[str, np.ndarray]  # convolution -> (classes, channels, h', w')
    example_logits: np.ndarray  # (classes, classes)
    example_saliency: np.ndarray  # (classes, h, w)
    class_saliency: np.ndarray  # (classes, h, w)
    class_saliency_counts: np.ndarray  # (classes,)
    mistake_index: np.ndarray  # (n,) most confident first
    mistake_images: np.ndarray  # (n, h, w) uint8
    mistake_labels: np.ndarray
    mistake_predicted: np.ndarray
    mistake_confidence: np.ndarray
    mistake_saliency: np.ndarray  # (n, h, w), of the predicted class

    LAYERED = ("filters", "linear_weights", "feature_maps")

    def save(self, path: str | Path) -> None:
        """An npz; a layered field's arrays are stored as ``<field>/<layer>`` in layer order."""
        arrays = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self.LAYERED:
                arrays[f"{f.name}_layers"] = np.array(list(value), dtype=str)
                arrays.update({f"{f.name}/{layer}": array for layer, array in value.items()})
            else:
                arrays[f.name] = np.asarray(value)
        atomic.save_npz_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "HiddenLayers":
        with atomic.load_npz(path) as npz:
            values = {}
            for f in fields(cls):
                if f.name in cls.LAYERED:
                    values[f.name] = {str(layer): npz[f"{f.name}/{layer}"] for layer in npz[f"{f.name}_layers"]}
                else:
                    values[f.name] = npz[f.name]
        return cls(**values)


def hidden_layers(model: torch.nn.Module, pipeline, test_images: np.ndarray, test_labels: np.ndarray,
                  classes, mistakes: int = 16) -> HiddenLayers:
    """``pipeline``: the checkpoint's InputPipeline (uint8 images -> the model's input)."""
    x = pipeline(torch.from_numpy(test_images))
    y = torch.from_numpy(test_labels.astype("int64"))
    examples = one_per_class(y, len(classes))
    with torch.no_grad():
        logits = model.eval()(x[examples]).cpu().numpy()
    mean_saliency, counts = class_saliency(model, x, y, len(classes))
    wrong, predicted, confidence = confident_mistakes(model, x, y, mistakes)
    return HiddenLayers(
        classes=np.array(list(classes), dtype=str),
        filters={name: m.weight.detach().cpu().numpy() for name, m in layers_of(model, torch.nn.Conv2d)},
        linear_weights={name: m.weight.detach().cpu().numpy() for name, m in layers_of(model, torch.nn.Linear)},
        example_index=examples.numpy(), example_images=test_images[examples.numpy()],
        feature_maps=feature_maps(model, x[examples]), example_logits=logits,
        example_saliency=saliency(model, x[examples], y[examples])[:, 0].cpu().numpy(),
        class_saliency=mean_saliency, class_saliency_counts=counts,
        mistake_index=wrong, mistake_images=test_images[wrong], mistake_labels=y[wrong].numpy(),
        mistake_predicted=predicted, mistake_confidence=confidence,
        mistake_saliency=saliency(model, x[wrong], torch.from_numpy(predicted))[:, 0].cpu().numpy())
