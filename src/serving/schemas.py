"""Typed results of the TorchServe client: plain data, no I/O."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serving.naming import registry_version

VersionStatus = Literal["READY", "PARTIAL", "LOADING", "NO_WORKERS"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Endpoints(_Frozen):
    """Base URLs of the three TorchServe HTTP APIs."""

    inference: str
    management: str
    metrics: str

    @field_validator("inference", "management", "metrics")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


class ClientTimeouts(_Frozen):
    connect_s: float = Field(default=3.0, gt=0)
    request_s: float = Field(default=30.0, gt=0, description="Any call that loads nothing.")
    load_s: float = Field(
        default=300.0, gt=0, description="Synchronous register/scale: workers load the model."
    )


class Ack(_Frozen):
    """TorchServe accepted a management call."""

    message: str
    elapsed_ms: float


class RegisterResult(_Frozen):
    model: str
    version: str
    archive: str
    initial_workers: int
    message: str
    elapsed_ms: float


class WorkerInfo(_Frozen):
    id: str
    status: str
    pid: int | None = None


class ServedVersion(_Frozen):
    version: str
    is_default: bool
    status: VersionStatus
    workers: tuple[WorkerInfo, ...]
    min_workers: int
    max_workers: int
    batch_size: int
    max_batch_delay_ms: int
    archive: str

    @property
    def registry_version(self) -> int | None:
        return registry_version(self.version)


class ModelDescription(_Frozen):
    name: str
    default_version: str | None
    versions: tuple[ServedVersion, ...]

    def get(self, version: str) -> ServedVersion | None:
        return next((v for v in self.versions if v.version == version), None)


class ModelSummary(_Frozen):
    name: str
    archive: str


class PingResult(_Frozen):
    healthy: bool
    status: str


class Prediction(_Frozen):
    """One row's answer, by the model's task: ``class`` + ``probabilities`` (classification),
    ``embedding`` (feature extraction), ``value`` or ``values`` (regression)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    label: int | None = Field(default=None, alias="class")
    probabilities: tuple[float, ...] | None = None
    embedding: tuple[float, ...] | None = None
    value: float | None = None
    values: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [
            self.label is not None and self.probabilities is not None,
            self.embedding is not None,
            self.value is not None,
            self.values is not None,
        ]
        present = sum(v is not None for v in (self.label, self.probabilities, self.embedding))
        present += sum(v is not None for v in (self.value, self.values))
        if sum(kinds) != 1 or present != (2 if kinds[0] else 1):
            raise ValueError("a prediction is class + probabilities, an embedding, or value(s)")
        return self


class PredictionResult(_Frozen):
    model: str
    model_version: str
    predictions: tuple[Prediction, ...]
