"""The serving backend interface (TorchServe, KServe's model server) and TorchServe's adapter.

A backend serves several versions of each model at once and answers unversioned requests
with a default version. Every method names the model by its served name
(``serving.naming.served_name``) and a version by its string (``naming.ts_version``); every
result is a typed value from ``serving.schemas``; every failure is a ``ServingError``.

    load          make ``archive`` (a bare .mar file name in the backend's model store)
                  serve ``model`` ``version``; the archive must hold that version
    set_default   the version unversioned requests get
    describe      the loaded versions of a model and which one is the default
    unload        stop serving a version (the default cannot be unloaded)
    health        whether the backend answers
    predict       one JSON request (``{"inputs": [[...], ...]}``), optionally to one version
    metrics_url   where Prometheus scrapes the backend's own metrics

Implementations: ``TorchServeBackend`` (below, over ``TorchServeClient``) and
``serving.kserve.backend.KServeBackend``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from serving.schemas import (
    Ack,
    ModelDescription,
    ModelSummary,
    PingResult,
    PredictionResult,
    RegisterResult,
)
from serving.torchserve import TorchServeClient

BackendKind = Literal["torchserve", "kserve"]


@runtime_checkable
class ServingBackend(Protocol):
    """What the controller and the router need from a model server."""

    @property
    def kind(self) -> BackendKind: ...

    @property
    def metrics_url(self) -> str: ...

    def load(
        self, archive: str, model: str, version: int | str, *, workers: int = 1
    ) -> RegisterResult: ...

    def set_default(self, model: str, version: int | str) -> Ack: ...

    def default_version(self, model: str) -> str: ...

    def describe(self, model: str) -> ModelDescription: ...

    def list_models(self) -> list[ModelSummary]: ...

    def unload(self, model: str, version: int | str) -> Ack: ...

    def health(self) -> PingResult: ...

    def predict(
        self,
        model: str,
        payload: Mapping[str, Any] | Sequence[Any],
        version: int | str | None = None,
    ) -> PredictionResult: ...

    def metrics_text(self) -> str: ...

    def close(self) -> None: ...


class TorchServeBackend:
    """``ServingBackend`` over the TorchServe management, inference and metrics APIs."""

    def __init__(self, client: TorchServeClient) -> None:
        self.client = client

    @property
    def kind(self) -> BackendKind:
        return "torchserve"

    @property
    def metrics_url(self) -> str:
        return f"{self.client.endpoints.metrics}/metrics"

    def load(
        self, archive: str, model: str, version: int | str, *, workers: int = 1
    ) -> RegisterResult:
        return self.client.register(archive, model, version, initial_workers=workers)

    def set_default(self, model: str, version: int | str) -> Ack:
        return self.client.set_default(model, version)

    def default_version(self, model: str) -> str:
        return self.client.default_version(model)

    def describe(self, model: str) -> ModelDescription:
        return self.client.describe(model)

    def list_models(self) -> list[ModelSummary]:
        return self.client.list_models()

    def unload(self, model: str, version: int | str) -> Ack:
        return self.client.unregister(model, version)

    def health(self) -> PingResult:
        return self.client.ping()

    def predict(
        self,
        model: str,
        payload: Mapping[str, Any] | Sequence[Any],
        version: int | str | None = None,
    ) -> PredictionResult:
        return self.client.predict(model, payload, version)

    def metrics_text(self) -> str:
        return self.client.metrics_text()

    def close(self) -> None:
        self.client.close()
