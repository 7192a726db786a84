"""The three digits architectures: what each serves, how it is judged, where it is registered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.training.job import train_and_register
from registry_mcp.training.trainer import TrainConfig, knn_accuracy, train


def test_the_cnn_serves_class_probabilities() -> None:
    result = train(TrainConfig(architecture="cnn", hidden=16, epochs=2, seed=0))
    assert result.primary_metric == "accuracy"
    with torch.no_grad():
        out = result.model(torch.from_numpy(result.input_example)).numpy()
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
    assert 0.5 < result.accuracy <= 1.0  # 2 epochs already beat chance (0.1) by far


def test_the_encoder_serves_unit_vectors_and_is_judged_by_nearest_neighbours() -> None:
    result = train(TrainConfig(architecture="encoder", embedding_dim=12, epochs=5, seed=0))
    assert result.primary_metric == "knn_accuracy"
    with torch.no_grad():
        out = result.model(torch.from_numpy(result.input_example)).numpy()
    assert out.shape == (2, 12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert 0.5 < result.accuracy <= 1.0


def test_knn_accuracy_counts_rows_whose_nearest_training_row_shares_the_label() -> None:
    train_vectors = np.array([[1.0, 0.0], [0.0, 1.0]])
    train_labels = np.array([3, 7])
    vectors = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert knn_accuracy(train_vectors, train_labels, vectors, np.array([3, 7, 7])) == (
        pytest.approx(2 / 3)
    )


def test_each_architecture_registers_under_its_model_with_its_own_metric(
    registry: Registry,
) -> None:
    outcome = train_and_register(
        registry, TrainConfig(architecture="encoder", epochs=2, seed=1), actor="trainer"
    )
    assert outcome.version.name == "digits-encoder"
    card = registry.get_card("digits-encoder", outcome.version.version)
    assert card.complete, card.missing_fields
    assert set(card.card.baseline_metrics) == {"knn_accuracy", "p50_latency_ms"}
    summary = registry.get_model("digits-encoder").model
    assert summary.tags["task"] == "feature-extraction"


def test_an_architecture_the_models_file_would_misjudge_is_refused_before_training(
    registry: Registry,
) -> None:
    before = registry.list_models().items
    with pytest.raises(RegistryError) as refused:
        train_and_register(
            registry,
            TrainConfig(architecture="encoder", epochs=1),
            name="mnist-classifier",
            actor="trainer",
        )
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert "ranked by accuracy" in refused.value.message
    assert "train it under 'digits-encoder'" in refused.value.message
    assert registry.list_models().items == before
