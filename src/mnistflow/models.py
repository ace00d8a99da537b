"""The networks: the article's two, pytorch/examples' MNIST net, and a compact modern CNN.

Every model takes a (batch, 1, 28, 28) float tensor and returns class logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class FirstModel(nn.Module):
    """The article's first model: one 3x3 convolution with 32 filters, then FC 21632 -> 128 -> 10."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.fc1 = nn.Linear(32 * 26 * 26, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class SecondModel(nn.Module):
    """The article's second model: adds a 64-filter 3x3 convolution, still no pooling."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(64 * 24 * 24, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class LeNet(nn.Module):
    """pytorch/examples' mnist/main.py Net: two convolutions, max pooling, dropout."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


def _conv_block(inputs: int, outputs: int, kernel: int = 3) -> nn.Sequential:
    """Convolution, BatchNorm, 2x2 max pooling, ReLU. Pooling before the ReLU gives the same
    output (max commutes with a monotonic function) at a quarter of the ReLU's cost."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(outputs),
        nn.MaxPool2d(2),
        nn.ReLU(),
    )


class BestModel(nn.Module):
    """A compact modern CNN chosen by measurement on 2 CPU cores (bench/train.py): three
    convolution + BatchNorm + max-pooling stages of 16, 32 and 64 filters, then one linear layer.
    About 2 M multiply-adds per image against SecondModel's 15 M, 29 k parameters; its accuracy
    and the wider variants it beat are in bench/README.md ("Measured choices").

    Weights and activations are kept channels-last: on CPU oneDNN's convolutions then run faster;
    the article's SecondModel, without pooling, runs slower that way."""

    def __init__(self, classes: int = 10, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        a, b, c = widths
        self.features = nn.Sequential(_conv_block(1, a, kernel=5), _conv_block(a, b), _conv_block(b, c))
        self.fc = nn.Linear(c * 3 * 3, classes)
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        x = x.contiguous(memory_format=torch.channels_last)
        return self.fc(torch.flatten(self.features(x), 1))


MODELS = {"first": FirstModel, "second": SecondModel, "lenet": LeNet, "best": BestModel}


def build_model(name: str, classes: int = 10) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](classes=classes)
