"""Train a digits model, log it to MLflow, fill its model card and register a version."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from pydantic import BaseModel, ConfigDict

from registry_mcp.core.registry import Registry
from registry_mcp.domain import validation
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import VersionInfo
from registry_mcp.training.trainer import PRIMARY_METRIC, Architecture, TrainConfig, train

DEFAULT_MODEL_NAME = "mnist-classifier"
#: The registered name each architecture gets unless told otherwise (models.yaml lists them).
DEFAULT_NAMES: dict[Architecture, str] = {
    "mlp": DEFAULT_MODEL_NAME,
    "cnn": "mnist-cnn",
    "encoder": "digits-encoder",
}
_DESCRIPTIONS: dict[Architecture, str] = {
    "mlp": "Handwritten digit classifier (8x8 digits, 10 classes).",
    "cnn": "High-accuracy handwritten digit classifier (small CNN, 8x8 digits, 10 classes).",
    "encoder": "Feature extractor for 8x8 handwritten digits (unit-length embeddings).",
}


class TrainOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: VersionInfo
    run_id: str
    model_uri: str
    accuracy: float
    """Classifiers: test accuracy; encoder: 1-nearest-neighbour accuracy of its vectors."""
    primary_metric: str
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


def _architecture_text(config: TrainConfig) -> str:
    if config.architecture == "cnn":
        return (
            "Convolutional network (1x8x8 -> 3x3 conv 16 -> 3x3 conv 32 -> max-pool -> "
            f"{config.hidden} -> 10, softmax output) that classifies 8x8 grey-scale "
            "handwritten digits."
        )
    if config.architecture == "encoder":
        return (
            f"Encoder (64 -> {config.hidden} -> {config.embedding_dim}, L2-normalised output) "
            "that maps an 8x8 grey-scale handwritten digit to a unit-length vector; trained "
            "through a 10-class head that is not served. knn_accuracy: share of test digits "
            "whose nearest training vector (cosine) has the same label."
        )
    return (
        f"Multi-layer perceptron (64 -> {config.hidden} -> 10, softmax output) that "
        "classifies 8x8 grey-scale handwritten digits."
    )


def model_card(
    config: TrainConfig,
    accuracy: float,
    latency_ms: float,
    owner: str,
    primary_metric: str = "accuracy",
) -> ModelCard:
    extractor = config.architecture == "encoder"
    return ModelCard(
        description=_architecture_text(config),
        owner=owner,
        baseline_metrics={primary_metric: accuracy, "p50_latency_ms": latency_ms},
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
            "Embedding single handwritten digits for similarity search and clustering; a "
            "stand-in for an image encoder in registry, serving and promotion workflows."
            if extractor
            else "Recognising single handwritten digits in 8x8 scans; a stand-in for MNIST in "
            "registry, serving and promotion workflows."
        ),
        limitations=(
            "Trained on ~1,350 low-resolution images from 43 writers; not validated on other "
            "resolutions, other scripts or adversarial input. Latency measured in process on "
            "one CPU core, batch size 1 (not what clients see through serving)."
        ),
    )


_TASKS: dict[Architecture, str] = {
    "mlp": "classification",
    "cnn": "classification",
    "encoder": "feature-extraction",
}


def _check_policy(registry: Registry, name: str, architecture: Architecture) -> None:
    """Refuse, before training, a model the models file would judge or serve as another task."""
    policy = registry.policy(name)
    metric = PRIMARY_METRIC[architecture]
    if policy.task != _TASKS[architecture] or policy.primary_metric != metric:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"the models file says {name!r} is a {policy.task} model ranked by "
            f"{policy.primary_metric}, but the {architecture} architecture makes a "
            f"{_TASKS[architecture]} model "
            f"ranked by {metric}; train it under {DEFAULT_NAMES[architecture]!r} or declare "
            f"{name!r} in models.yaml with task {_TASKS[architecture]} and primary_metric "
            f"{metric}.",
        )


def train_and_register(
    registry: Registry,
    config: TrainConfig,
    *,
    name: str | None = None,
    actor: str,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainOutcome:
    name = validation.model_name(name or DEFAULT_NAMES[config.architecture])
    actor = validation.actor(actor)
    _check_policy(registry, name, config.architecture)
    result = train(config, on_epoch=on_epoch)
    run_id, model_uri = registry.log_pytorch_run(
        model=result.model,
        input_example=result.input_example,
        params=config.model_dump(),
        metrics={
            f"test_{result.primary_metric}": result.accuracy,
            "p50_latency_ms": result.p50_latency_ms,
            "final_train_loss": result.final_loss,
        },
        pip_requirements=_requirements(),
        run_name=f"{name}-{config.architecture}-h{config.hidden}-e{config.epochs}-s{config.seed}",
    )
    version = registry.register(
        name,
        model_uri,
        actor=actor,
        description=_DESCRIPTIONS[config.architecture],
        card=model_card(
            config, result.accuracy, result.p50_latency_ms, actor, result.primary_metric
        ),
        # The `task` tag that list filters read is the model's policy task (models.yaml).
        tags={"framework": "pytorch", "task": registry.policy(name).task},
        version_tags={"environment": "dev", "framework": "pytorch"},
    )
    return TrainOutcome(
        version=version,
        run_id=run_id,
        model_uri=model_uri,
        accuracy=result.accuracy,
        primary_metric=result.primary_metric,
        p50_latency_ms=result.p50_latency_ms,
        config=config,
    )
