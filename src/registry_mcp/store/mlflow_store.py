"""The one module that calls MlflowClient: models, versions, tags and descriptions, training.

Stage changes (aliases, stage tags, the legacy stage) are not written here but in one SQL
transaction of ours (``store.stage_writes``).

Every ``MlflowException`` is translated here into a ``RegistryError`` with a code. MLflow
itself is imported on the first call that needs it: importing it costs about a second, and
most commands (catalog reads, serving status, help) never do.
"""

from __future__ import annotations

import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store import database
from registry_mcp.store.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._model_registry.client import ModelRegistryClient

_CODES = {
    "RESOURCE_DOES_NOT_EXIST": ErrorCode.NOT_FOUND,
    "NOT_FOUND": ErrorCode.NOT_FOUND,
    "INVALID_PARAMETER_VALUE": ErrorCode.INVALID_INPUT,
    "RESOURCE_ALREADY_EXISTS": ErrorCode.ALREADY_EXISTS,
    "ALREADY_EXISTS": ErrorCode.ALREADY_EXISTS,
}


def translate(exc: MlflowException, doing: str) -> RegistryError:
    code = _CODES.get(exc.error_code, ErrorCode.BACKEND)
    detail = str(exc.message).splitlines()[0][:300]
    hint = "" if code is not ErrorCode.BACKEND else " Check the registry database and try again."
    return RegistryError(code, f"MLflow refused {doing}: {detail}.{hint}")


def _probe(settings: Settings) -> None:
    """Check MLflow's databases before MLflow opens them: it retries an unreachable one for
    about two minutes, logging a warning per try, before it raises."""
    database.probe_store(settings.resolved_tracking_uri, "MLFLOW_TRACKING_URI")
    if settings.resolved_registry_uri != settings.resolved_tracking_uri:
        database.probe_store(settings.resolved_registry_uri, settings.registry_uri_setting)


def _limit(store: object) -> None:
    """Bound the connection attempts of an MLflow SQL store's engine too (MLflow sets no
    timeout), so a database lost later fails in seconds, not minutes."""
    engine = getattr(store, "engine", None)
    if isinstance(engine, Engine):
        database.limit_connect_time(engine)


@contextmanager
def _mlflow(doing: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise translate(exc, doing) from exc
    except OSError as exc:
        raise RegistryError(ErrorCode.BACKEND, f"I/O error while {doing}: {exc}.") from exc


class MlflowStore:
    """Thin, typed wrapper around an injected ``MlflowClient``.

    Clients come from factories, called on the first call that needs each: a store that only
    served catalog reads never imports MLflow, and version tags build only the registry
    client, not the tracking store that ``MlflowClient`` opens eagerly.
    """

    def __init__(
        self,
        connect: Callable[[], MlflowClient],
        settings: Settings,
        *,
        connect_registry: Callable[[], ModelRegistryClient] | None = None,
    ) -> None:
        self._connect = connect
        # MlflowClient checks before each version-tag write whether the model is a prompt
        # (one extra read each); our models never are, so tag writes go to the registry
        # client those public methods delegate to.
        self._connect_registry = connect_registry or (
            lambda: self._client._get_registry_client()  # type: ignore[no-untyped-call]
        )
        self._settings = settings
        self._client_made: MlflowClient | None = None
        self._writes_made: ModelRegistryClient | None = None
        self._connecting = threading.RLock()  # the MCP server calls in from worker threads

    @classmethod
    def from_settings(cls, settings: Settings) -> MlflowStore:
        def connect() -> MlflowClient:
            from mlflow import MlflowClient

            _probe(settings)
            client = MlflowClient(
                tracking_uri=settings.resolved_tracking_uri,
                registry_uri=settings.resolved_registry_uri,
            )
            _limit(client._tracking_client.store)
            return client

        def connect_registry() -> ModelRegistryClient:
            from mlflow.tracking._model_registry.client import ModelRegistryClient

            _probe(settings)
            client = ModelRegistryClient(  # type: ignore[no-untyped-call]
                settings.resolved_registry_uri, settings.resolved_tracking_uri
            )
            _limit(client.store)
            return client

        return cls(connect, settings, connect_registry=connect_registry)

    @property
    def _client(self) -> MlflowClient:
        with self._connecting:
            if self._client_made is None:
                with _mlflow("connecting to the MLflow tracking store"):
                    self._client_made = self._connect()
            return self._client_made

    @property
    def _writes(self) -> Any:  # MLflow's ModelRegistryClient has no type annotations
        with self._connecting:
            if self._writes_made is None:
                with _mlflow("connecting to the MLflow model registry"):
                    self._writes_made = self._connect_registry()
            return self._writes_made

    def close(self) -> None:
        """Release the database connections MLflow's stores hold (they are cached per URI
        inside MLflow; a disposed engine reconnects if that cache hands it out again).
        Only clients that were made are touched: closing must not import MLflow."""
        stores = []
        if self._client_made is not None:
            stores.append(self._client_made._tracking_client.store)
        if self._writes_made is not None:
            stores.append(self._writes_made.store)
        for store in stores:
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()

    def initialise(self) -> None:
        """Create MLflow's schema (first use of an empty database runs its migrations)."""
        with _mlflow("initialising the tracking store"):
            self._client.search_experiments(max_results=1)
        with _mlflow("initialising the registry store"):
            self._client.search_registered_models(max_results=1)

    # ------------------------------------------------------------- registry

    def create_model(self, name: str, description: str | None = None) -> bool:
        """Create the registered model; False if it already existed."""
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if _CODES.get(exc.error_code) is ErrorCode.ALREADY_EXISTS:
                return False
            raise translate(exc, f"creating model {name!r}") from exc
        return True

    def create_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None,
        model_id: str | None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        with _mlflow(f"creating a version of {name!r}"):
            created = self._client.create_model_version(
                name,
                source,
                run_id=run_id,
                tags=dict(tags or {}),
                description=description,
                model_id=model_id,
            )
        return int(created.version)

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        with _mlflow(f"tagging {name!r} v{version}"):
            self._writes.set_model_version_tag(name, str(version), key, value)

    def delete_version_tag(self, name: str, version: int, key: str) -> None:
        with _mlflow(f"untagging {name!r} v{version}"):
            self._client.delete_model_version_tag(name, str(version), key)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        with _mlflow(f"tagging {name!r}"):
            self._client.set_registered_model_tag(name, key, value)

    def delete_model_tag(self, name: str, key: str) -> None:
        with _mlflow(f"untagging {name!r}"):
            self._client.delete_registered_model_tag(name, key)

    def set_model_description(self, name: str, description: str) -> None:
        with _mlflow(f"describing {name!r}"):
            self._client.update_registered_model(name, description=description)

    def set_version_description(self, name: str, version: int, description: str) -> None:
        with _mlflow(f"describing {name!r} v{version}"):
            self._client.update_model_version(name, str(version), description=description)

    def download_uri(self, name: str, version: int) -> str:
        with _mlflow(f"resolving the artifacts of {name!r} v{version}"):
            return str(self._client.get_model_version_download_uri(name, str(version)))

    def download_version(self, name: str, version: int, dest: Path) -> Path:
        """Copy a version's MLflow model directory to ``dest`` (for building an archive)."""
        from mlflow.artifacts import download_artifacts

        uri = self.download_uri(name, version)
        dest.mkdir(parents=True, exist_ok=True)
        with _mlflow(f"downloading {name!r} v{version}"):
            local = download_artifacts(
                artifact_uri=uri,
                dst_path=str(dest),
                tracking_uri=self._settings.resolved_tracking_uri,
            )
        return Path(local)

    def resolve_source(self, model_uri: str) -> tuple[str, str | None, str | None]:
        """(source, run_id, model_id) for ``runs:/<run>/<path>`` or ``models:/m-<id>``.

        The source is the logged model's artifact location, not ``models:/m-<id>``: MLflow's
        SQL registry resolves ``models:/`` sources through the process-global tracking URI,
        which would be wrong (or unset) for a client built from our settings.
        """
        if model_uri.startswith("models:/m-") and "/" not in model_uri[len("models:/") :]:
            model_id = model_uri[len("models:/") :]
            with _mlflow(f"reading logged model {model_id}"):
                logged = self._client.get_logged_model(model_id)
            return logged.artifact_location, logged.source_run_id, model_id
        if model_uri.startswith("runs:/"):
            run_id, _, artifact_path = model_uri[len("runs:/") :].partition("/")
            if not run_id or not artifact_path:
                raise RegistryError(
                    ErrorCode.INVALID_INPUT,
                    f"Model URI {model_uri!r} is incomplete; use runs:/<run_id>/<artifact_path>.",
                )
            with _mlflow(f"reading run {run_id}"):
                run = self._client.get_run(run_id)
            outputs = run.outputs.model_outputs if run.outputs else []
            for output in outputs:
                with _mlflow(f"reading logged model {output.model_id}"):
                    logged = self._client.get_logged_model(output.model_id)
                if logged.name == artifact_path:
                    return logged.artifact_location, run_id, logged.model_id
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"Run {run_id} logged no model named {artifact_path!r}; check the run in the "
                "MLflow UI or register with models:/<model_id>.",
            )
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Unsupported model URI {model_uri!r}; use runs:/<run_id>/<path> or models:/m-<id>.",
        )

    # ------------------------------------------------------------- training

    def experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        name = self._settings.experiment
        with _mlflow(f"reading experiment {name!r}"):
            found = self._client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            location = f"{self._settings.resolved_artifact_root.rstrip('/')}/{name}"
            try:
                return str(self._client.create_experiment(name, artifact_location=location))
            except MlflowException as exc:  # created concurrently by another process
                again = self._client.get_experiment_by_name(name)
                if again is None:
                    raise translate(exc, f"creating experiment {name!r}") from exc
                return str(again.experiment_id)

    def log_pytorch_run(
        self,
        *,
        model: Any,
        input_example: Any,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        pip_requirements: list[str],
        run_name: str,
    ) -> tuple[str, str]:
        """Log a run with params, metrics and a PyTorch model; return (run_id, model_uri).

        The model is saved with its signature and input example (a batch of >= 2 rows, so
        the pt2 export is not specialised to batch size 1) and logged as an MLflow 3
        LoggedModel linked to the run.
        """
        import mlflow.pytorch  # heavy (torch); only training needs it
        import torch
        from mlflow.entities import LoggedModelOutput, Metric, Param
        from mlflow.models import infer_signature

        experiment_id = self.experiment_id()
        with torch.no_grad():
            output_example = model(torch.as_tensor(input_example)).numpy()
        signature = infer_signature(input_example, output_example)
        with _mlflow("logging the training run"):
            run = self._client.create_run(experiment_id, run_name=run_name)
            run_id = run.info.run_id
            try:
                logged = self._client.create_logged_model(
                    experiment_id,
                    name="model",
                    source_run_id=run_id,
                    params={k: str(v) for k, v in params.items()},
                    model_type="pytorch",
                )
                now_ms = int(time.time() * 1000)
                self._client.log_batch(
                    run_id,
                    params=[Param(k, str(v)) for k, v in params.items()],
                    metrics=[
                        Metric(k, float(v), now_ms, 0, model_id=logged.model_id)
                        for k, v in metrics.items()
                    ],
                )
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "model"
                    with warnings.catch_warnings():
                        # MLflow's type-hint inference notes Any on torch's forward(); the
                        # explicit signature below is what validates inputs.
                        warnings.filterwarnings("ignore", message=".*Any type hint.*")
                        mlflow.pytorch.save_model(
                            model,
                            str(path),
                            signature=signature,
                            input_example=input_example,
                            pip_requirements=pip_requirements,
                        )
                    self._client.log_model_artifacts(logged.model_id, str(path))
                self._client.finalize_logged_model(logged.model_id, "READY")
                self._client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
                self._client.set_terminated(run_id, "FINISHED")
            except BaseException:
                self._client.set_terminated(run_id, "FAILED")
                raise
        return run_id, f"models:/{logged.model_id}"
