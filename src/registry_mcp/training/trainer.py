"""Training stand-in: a small PyTorch classifier on scikit-learn's bundled digits data.

``load_digits`` ships inside scikit-learn (1,797 8x8 images, 10 classes), so training needs
no download. Pure torch here; logging and registration go through the registry core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

N_FEATURES = 64
N_CLASSES = 10
LATENCY_SAMPLES = 200


class TrainConfig(BaseModel):
    """Hyperparameters; different values give measurably different accuracy."""

    model_config = ConfigDict(frozen=True)

    hidden: int = Field(default=64, ge=1, le=1024, description="Hidden units.")
    epochs: int = Field(default=30, ge=1, le=1000)
    lr: float = Field(default=1e-2, gt=0, le=1.0, description="Adam learning rate.")
    batch_size: int = Field(default=64, ge=1, le=2048)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    test_fraction: float = Field(default=0.25, gt=0.05, lt=0.9)


@dataclass(frozen=True)
class TrainResult:
    model: nn.Module
    accuracy: float
    p50_latency_ms: float
    final_loss: float
    n_train: int
    n_test: int
    input_example: np.ndarray[tuple[int, int], np.dtype[np.float32]]


def load_data(
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits flattened to 64 features scaled to [0, 1]; a stratified, seeded split."""
    digits = load_digits()
    features = (digits.data / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        labels,
        test_size=config.test_fraction,
        random_state=config.seed,
        stratify=labels,
    )
    return x_train, x_test, y_train, y_test


def build_model(hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def train(config: TrainConfig, on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train, then measure test accuracy and p50 single-row CPU latency.

    The returned model outputs class probabilities (softmax), as served.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x_train, x_test, y_train, y_test = load_data(config)
    net = build_model(config.hidden)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    inputs, targets = torch.from_numpy(x_train), torch.from_numpy(y_train)
    loss_value = float("nan")
    for epoch in range(config.epochs):
        net.train()
        order = torch.randperm(len(inputs), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            optimiser.zero_grad()
            loss = loss_fn(net(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        loss_value = total / len(inputs)
        if on_epoch is not None:
            on_epoch(epoch + 1, loss_value)
    model = nn.Sequential(net, nn.Softmax(dim=1)).eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    accuracy = float((predicted == y_test).mean())
    return TrainResult(
        model=model,
        accuracy=accuracy,
        p50_latency_ms=measure_p50_latency_ms(model, x_test),
        final_loss=loss_value,
        n_train=len(x_train),
        n_test=len(x_test),
        input_example=x_test[:2].copy(),
    )


def measure_p50_latency_ms(model: nn.Module, samples: np.ndarray) -> float:
    """Median wall time of one single-row forward pass on the CPU."""
    timings = []
    with torch.no_grad():
        for i in range(LATENCY_SAMPLES):
            row = torch.from_numpy(samples[i % len(samples)][None, :])
            started = time.perf_counter()
            model(row)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)
