"""Train a digits classifier, log it to MLflow, fill its model card and register a version."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from pydantic import BaseModel, ConfigDict

from registry_mcp.core.registry import Registry
from registry_mcp.domain import validation
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.schemas import VersionInfo
from registry_mcp.training.trainer import TrainConfig, train

DEFAULT_MODEL_NAME = "mnist-classifier"


class TrainOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: VersionInfo
    run_id: str
    model_uri: str
    accuracy: float
    p50_latency_ms: float
    config: TrainConfig


def _requirements() -> list[str]:
    pins = []
    for dist in ("torch", "mlflow", "numpy"):
        try:
            pins.append(f"{dist}=={package_version(dist)}")
        except PackageNotFoundError:
            pins.append(dist)
    return pins


def model_card(config: TrainConfig, accuracy: float, latency_ms: float, owner: str) -> ModelCard:
    return ModelCard(
        description=(
            f"Multi-layer perceptron (64 -> {config.hidden} -> 10, softmax output) that "
            "classifies 8x8 grey-scale handwritten digits."
        ),
        owner=owner,
        baseline_metrics={"accuracy": accuracy, "p50_latency_ms": latency_ms},
        training_dataset=(
            "scikit-learn load_digits (1,797 8x8 images, 10 classes); stratified "
            f"{1 - config.test_fraction:.0%}/{config.test_fraction:.0%} train/test split, "
            f"seed {config.seed}"
        ),
        preprocessing=[
            "flatten the 8x8 image to 64 features (row-major)",
            "divide pixel intensities (0-16) by 16 to scale them to [0, 1]",
        ],
        intended_use=(
            "Recognising single handwritten digits in 8x8 scans; a stand-in for MNIST in "
            "registry, serving and promotion workflows."
        ),
        limitations=(
            "Trained on ~1,350 low-resolution images from 43 writers; not validated on other "
            "resolutions, other scripts or adversarial input. Latency measured on one CPU "
            "core, batch size 1."
        ),
    )


def train_and_register(
    registry: Registry,
    config: TrainConfig,
    *,
    name: str = DEFAULT_MODEL_NAME,
    actor: str,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainOutcome:
    name = validation.model_name(name)
    actor = validation.actor(actor)
    result = train(config, on_epoch=on_epoch)
    run_id, model_uri = registry.log_pytorch_run(
        model=result.model,
        input_example=result.input_example,
        params=config.model_dump(),
        metrics={
            "test_accuracy": result.accuracy,
            "p50_latency_ms": result.p50_latency_ms,
            "final_train_loss": result.final_loss,
        },
        pip_requirements=_requirements(),
        run_name=f"{name}-h{config.hidden}-e{config.epochs}-s{config.seed}",
    )
    version = registry.register(
        name,
        model_uri,
        actor=actor,
        description="Handwritten digit classifier (8x8 digits, 10 classes).",
        card=model_card(config, result.accuracy, result.p50_latency_ms, actor),
        # The `task` tag that list filters read is the model's policy task (models.yaml).
        tags={"framework": "pytorch", "task": registry.policy(name).task},
        version_tags={"environment": "dev", "framework": "pytorch"},
    )
    return TrainOutcome(
        version=version,
        run_id=run_id,
        model_uri=model_uri,
        accuracy=result.accuracy,
        p50_latency_ms=result.p50_latency_ms,
        config=config,
    )
