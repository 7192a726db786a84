"""Training stand-in: small PyTorch models on scikit-learn's bundled digits data.

``load_digits`` ships inside scikit-learn (1,797 8x8 images, 10 classes), so training needs
no download. Three architectures with different trade-offs:

- ``mlp``: 64 -> hidden -> 10 classifier (fast, the default ``mnist-classifier``);
- ``cnn``: two 3x3 convolutions over the 8x8 image, then a classifier (more accurate,
  slower: the high-accuracy model);
- ``encoder``: 64 -> hidden -> ``embedding_dim`` feature extractor, trained through a
  classification head that is dropped before serving; it answers with an L2-normalised
  vector per row and is judged by the 1-nearest-neighbour accuracy of those vectors
  (``knn_accuracy``: test rows labelled by their nearest training row).

Pure torch here; logging and registration go through the registry core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

N_FEATURES = 64
N_CLASSES = 10
LATENCY_SAMPLES = 200
Architecture = Literal["mlp", "cnn", "encoder"]
#: The metric each architecture's versions are ranked by (its card's primary metric).
PRIMARY_METRIC: dict[Architecture, str] = {
    "mlp": "accuracy",
    "cnn": "accuracy",
    "encoder": "knn_accuracy",
}


class TrainConfig(BaseModel):
    """Hyperparameters; different values give measurably different accuracy."""

    model_config = ConfigDict(frozen=True)

    architecture: Architecture = Field(
        default="mlp", description="mlp or cnn (classifiers), encoder (feature extractor)."
    )
    hidden: int = Field(default=64, ge=1, le=1024, description="Hidden units.")
    embedding_dim: int = Field(
        default=16, ge=2, le=256, description="encoder: length of the vector it answers with."
    )
    epochs: int = Field(default=30, ge=1, le=1000)
    lr: float = Field(default=1e-2, gt=0, le=1.0, description="Adam learning rate.")
    batch_size: int = Field(default=64, ge=1, le=2048)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    test_fraction: float = Field(default=0.25, gt=0.05, lt=0.9)


@dataclass(frozen=True)
class TrainResult:
    model: nn.Module
    accuracy: float
    """Classifiers: test accuracy. Encoder: 1-nearest-neighbour accuracy of its vectors."""
    primary_metric: str
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


class L2Normalize(nn.Module):
    """Scale each row to unit length (embeddings compare by cosine)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(x, dim=1)


def build_model(hidden: int) -> nn.Sequential:
    """The ``mlp`` classifier (logits)."""
    return nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def build_cnn(hidden: int) -> nn.Sequential:
    """The ``cnn`` classifier (logits): 1x8x8 -> 16 and 32 channels -> 4x4 -> hidden -> 10."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, hidden),
        nn.ReLU(),
        nn.Linear(hidden, N_CLASSES),
    )


def build_encoder(hidden: int, embedding_dim: int) -> nn.Sequential:
    """The ``encoder`` body (its training head is added by :func:`train`)."""
    return nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, embedding_dim))


def _network(config: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """(what is trained with cross-entropy, what is served)."""
    if config.architecture == "cnn":
        net = build_cnn(config.hidden)
        return net, nn.Sequential(net, nn.Softmax(dim=1))
    if config.architecture == "encoder":
        body = build_encoder(config.hidden, config.embedding_dim)
        head = nn.Sequential(nn.ReLU(), nn.Linear(config.embedding_dim, N_CLASSES))
        return nn.Sequential(body, head), nn.Sequential(body, L2Normalize())
    net = build_model(config.hidden)
    return net, nn.Sequential(net, nn.Softmax(dim=1))


def knn_accuracy(
    train_vectors: np.ndarray, train_labels: np.ndarray, vectors: np.ndarray, labels: np.ndarray
) -> float:
    """Share of ``vectors`` whose nearest training vector (cosine) has the same label."""
    similarity = vectors @ train_vectors.T
    nearest = similarity.argmax(axis=1)
    return float((train_labels[nearest] == labels).mean())


def train(config: TrainConfig, on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train, then measure test accuracy and p50 single-row CPU latency.

    The returned model is what is served: class probabilities (softmax) for the
    classifiers, unit-length vectors for the encoder.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x_train, x_test, y_train, y_test = load_data(config)
    net, served = _network(config)
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
    model = served.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(x_test)).numpy()
        if config.architecture == "encoder":
            train_vectors = model(torch.from_numpy(x_train)).numpy()
            accuracy = knn_accuracy(train_vectors, y_train, output, y_test)
        else:
            accuracy = float((output.argmax(axis=1) == y_test).mean())
    return TrainResult(
        model=model,
        accuracy=accuracy,
        primary_metric=PRIMARY_METRIC[config.architecture],
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
