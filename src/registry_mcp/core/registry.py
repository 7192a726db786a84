"""The registry: open it, read models, versions, cards and the audit trail; register versions
and write their metadata (cards, tags).

Stage changes live in ``registry.stages`` (:mod:`registry_mcp.core.stage_changes`, over the one
stage machine in :mod:`registry_mcp.core.transitions`); the versions allowed to run code when
loaded in ``registry.trust``. Every registration and metadata write lands in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp.core.policy import ModelPolicy, Policies
from registry_mcp.core.stage_changes import StageChanges
from registry_mcp.core.transitions import StageMachine
from registry_mcp.core.trust import TrustedVersions
from registry_mcp.domain import validation
from registry_mcp.domain.cards import CARD_TAG, CardView, ModelCard, card_from_tag
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import (
    AliasState,
    AuditAction,
    AuditEntry,
    Decision,
    ModelDetail,
    ModelSummary,
    Page,
    Stage,
    VersionInfo,
)
from registry_mcp.store.approved_state import ApprovedStates
from registry_mcp.store.audit import AuditLog
from registry_mcp.store.catalog import Catalog
from registry_mcp.store.database import (
    backend_error,
    check_reachable,
    create_engine,
    is_postgres,
    migrate,
    schema_is_current,
)
from registry_mcp.store.locks import ModelLocks
from registry_mcp.store.mlflow_store import MlflowStore
from registry_mcp.store.settings import Settings


class Registry:
    """The registry's public operations. Build one with ``Registry.open(settings)``."""

    def __init__(
        self,
        *,
        store: MlflowStore,
        catalog: Catalog,
        audit: AuditLog,
        locks: ModelLocks,
        engine: Engine,
        settings: Settings,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._audit = audit
        self._locks = locks
        self._engine = engine
        self.settings = settings
        self.policies = Policies(settings)  # reads the models file on first use
        catalog.primary_metric_of = self._primary_metric
        self._machine = StageMachine(
            store=store,
            catalog=catalog,
            audit=audit,
            locks=locks,
            states=ApprovedStates(engine),
            version_info=self._require_version,
            require_complete_card=lambda: self.settings.require_complete_card,
            primary_metric_of=self._primary_metric,
        )
        self.stages = StageChanges(
            self._machine,
            audit=audit,
            model_summary=self._require_model,
            version_info=self._require_version,
            primary_metric_of=self._primary_metric,
        )
        """Stage changes: plan, transition, roll back, resolve unapproved alias moves."""
        self.trust = TrustedVersions(engine, audit, version_info=self.get_version)
        """Versions whose model may run code when loaded."""
        self.releases = self._machine.releases
        """Running canaries and promotion guards (changed only through ``stages``)."""

    @classmethod
    def open(cls, settings: Settings, *, initialise: bool = True) -> Registry:
        """Connect to the configured stores; create or migrate the schema when it is not
        current (checked with one query, so opening a ready registry stays cheap)."""
        if settings.tracking_uri is None or settings.registry_uri is None:
            settings.ensure_home()
        setting = settings.registry_uri_setting
        engine = create_engine(settings.resolved_registry_uri, setting=setting)
        try:
            check_reachable(engine, setting)  # one clear error now, not MLflow's retries
        except RegistryError:
            engine.dispose()
            raise
        registry = cls(
            store=MlflowStore.from_settings(settings),
            catalog=Catalog(engine),
            audit=AuditLog(engine),
            locks=ModelLocks(engine, settings.lock_timeout_s),
            engine=engine,
            settings=settings,
        )
        if initialise and not schema_is_current(engine):
            registry.initialise()
        return registry

    def initialise(self) -> None:
        """Create MLflow's schema and migrate ours (whatever their state; `modelreg init`)."""
        self._store.initialise()
        if not is_postgres(self._engine):
            # Write-ahead logging: readers never block the writer, and a commit costs one
            # fsync instead of several; the setting persists in the database file.
            try:
                with self._engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            except SQLAlchemyError as exc:
                raise backend_error(exc, "enabling write-ahead logging") from exc
        with self._schema_lock():
            try:
                with self._engine.begin() as conn:
                    migrate(conn)
            except SQLAlchemyError as exc:
                raise backend_error(exc, "migrating the modelreg schema") from exc

    @contextmanager
    def _schema_lock(self) -> Iterator[None]:
        # Reuse the per-model lock machinery with a name no model can have ('/' is refused).
        with self._locks.hold("/schema"):
            yield

    def close(self) -> None:
        self._store.close()
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The registry database (for our own tables: proposals, audit)."""
        return self._engine

    @property
    def dialect(self) -> str:
        return "postgresql" if is_postgres(self._engine) else "sqlite"

    # ----------------------------------------------------------------- reads

    def _check_kubernetes_name(self, name: str) -> None:
        wanted = validation.kubernetes_name(name)
        cursor = None
        while True:
            page = self.list_models(limit=1000, cursor=cursor)
            for model in page.items:
                if model.name != name and validation.kubernetes_name(model.name) == wanted:
                    raise RegistryError(
                        ErrorCode.ALREADY_EXISTS,
                        f"Model name {name!r} maps to the Kubernetes name {wanted!r} of the "
                        f"registered model {model.name!r}; register this version under "
                        f"{model.name!r} or choose a name that differs by more than case, "
                        "'_' or '.'.",
                    )
            cursor = page.next_cursor
            if cursor is None:
                return

    def list_models(
        self,
        *,
        tags: Sequence[tuple[str, str]] | Mapping[str, str] = (),
        stage: Stage | str | None = None,
        task: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ModelSummary]:
        pairs = list(tags.items()) if isinstance(tags, Mapping) else list(tags)
        checked = [(validation.tag_key(k), validation.tag_value(v)) for k, v in pairs]
        if task is not None:
            checked.append(("task", validation.tag_value(task)))
        return self._catalog.list_models(
            tags=checked,
            stage=None if stage is None else validation.stage(stage),
            limit=self.settings.page_size if limit is None else limit,
            cursor=cursor,
        )

    def get_model(
        self, name: str, *, limit: int | None = None, cursor: str | None = None
    ) -> ModelDetail:
        summary = self._require_model(validation.model_name(name))
        versions = self._catalog.list_versions(
            summary.name, limit=self.settings.page_size if limit is None else limit, cursor=cursor
        )
        return ModelDetail(model=summary, versions=versions)

    def model_summary(self, name: str) -> ModelSummary:
        """The model's row alone (stages, approved state, tags): ``get_model`` without its
        page of versions, for callers that read only the summary."""
        return self._require_model(validation.model_name(name))

    def get_version(self, name: str, version: int | str) -> VersionInfo:
        return self._require_version(validation.model_name(name), validation.version(version))

    def get_versions(self, name: str, versions: Sequence[int]) -> dict[int, VersionInfo]:
        """Several versions of one model, read together; NOT_FOUND (as ``get_version``) for
        the first one that does not exist."""
        name = validation.model_name(name)
        numbers = [validation.version(v) for v in versions]
        found = self._catalog.get_versions(name, numbers)
        for number in numbers:
            if number not in found:
                found[number] = self._require_version(name, number)
        return found

    def list_versions(
        self,
        name: str,
        *,
        stage: Stage | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[VersionInfo]:
        self._require_model(validation.model_name(name))
        return self._catalog.list_versions(
            name,
            stage=None if stage is None else validation.stage(stage),
            limit=self.settings.page_size if limit is None else limit,
            cursor=cursor,
        )

    def get_card(self, name: str, version: int | str) -> CardView:
        info = self.get_version(name, version)
        card = card_from_tag(info.system_tags.get(CARD_TAG))
        return CardView.of(card, self._primary_metric(info.name))

    def _primary_metric(self, name: str) -> str:
        return self.policies.get(name).primary_metric

    def policy(self, name: str) -> ModelPolicy:
        """How ``name``'s versions are judged (primary metric, direction, SLA), from the
        models file in effect; INVALID_INPUT names a bad file, model and field."""
        return self.policies.get(name)

    def cards_for(self, pairs: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ModelCard]:
        """Model cards of many versions at once (missing cards are empty)."""
        raw = self._catalog.version_tag_values(pairs, CARD_TAG)
        return {pair: card_from_tag(raw.get(pair)) for pair in pairs}

    def audit_log(
        self,
        *,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AuditEntry]:
        return self._audit.query(
            model=None if model is None else validation.model_name(model),
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    def record_repair(self, *, actor: str, model: str, ok: bool, reason: str) -> int:
        """Audit one serving repair (serving made to match the approved state)."""
        return self._audit.record(
            actor=actor,
            client=actor,
            model=model,
            action=AuditAction.REPAIR,
            decision=Decision.DONE if ok else Decision.FAILED,
            reason=reason,
        )

    def _require_model(self, name: str) -> ModelSummary:
        found = self._catalog.get_model(name)
        if found is None:
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"No registered model named {name!r}; run `modelreg models list` to see names.",
            )
        # Every read of one model notices aliases moved outside modelreg (audited once).
        self._machine.report_unapproved(found)
        return found

    def _require_version(self, name: str, version: int) -> VersionInfo:
        found = self._catalog.get_version(name, version)
        if found is None:
            self._require_model(name)
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"Model {name!r} has no version {version}; run `modelreg models show {name}` "
                "to see its versions.",
            )
        return found

    def approved_state(self, name: str) -> AliasState:
        """The stage aliases of ``name`` as a human last approved them, in one small read
        (what serving follows; all unset for a model modelreg never moved)."""
        return ApprovedStates(self._engine).get(validation.model_name(name))

    def change_id(self, name: str) -> int | None:
        """The audit id of the last approved stage change of ``name`` (None: none yet)."""
        return ApprovedStates(self._engine).change_id(name)

    def download_uri(self, name: str, version: int | str) -> str:
        """Where a version's model directory is fetched from (MLflow's download URI)."""
        info = self.get_version(name, version)
        return self._store.download_uri(info.name, info.version)

    # ---------------------------------------------------------------- writes

    def download_version(self, name: str, version: int | str, dest: Path) -> Path:
        """Copy a version's MLflow model directory under ``dest``; return its path."""
        info = self.get_version(name, version)
        return self._store.download_version(info.name, info.version, dest)

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
        """Log a training run and its PyTorch model to MLflow; return (run_id, model_uri)."""
        return self._store.log_pytorch_run(
            model=model,
            input_example=input_example,
            params=params,
            metrics=metrics,
            pip_requirements=pip_requirements,
            run_name=run_name,
        )

    def register(
        self,
        name: str,
        model_uri: str,
        *,
        actor: str,
        description: str | None = None,
        card: ModelCard | None = None,
        tags: Mapping[str, str] | None = None,
        version_tags: Mapping[str, str] | None = None,
        client: str | None = None,
    ) -> VersionInfo:
        """Register a new version of ``name`` from ``runs:/<run>/<path>`` or ``models:/m-<id>``.

        A new model's name must be safe for Kubernetes and must not map to the Kubernetes
        name of a model registered before (refused, naming it)."""
        name = validation.model_name(name)
        if self._catalog.get_model(name) is None:
            name = validation.new_model_name(name)
            self._check_kubernetes_name(name)
        actor = validation.actor(actor)
        model_tags = {
            validation.tag_key(k): validation.tag_value(v) for k, v in (tags or {}).items()
        }
        v_tags = {
            validation.tag_key(k): validation.tag_value(v) for k, v in (version_tags or {}).items()
        }
        if not isinstance(model_uri, str) or not model_uri:
            raise RegistryError(ErrorCode.INVALID_INPUT, "A model URI is required.")
        source, run_id, model_id = self._store.resolve_source(model_uri)
        self._store.create_model(name, description=description)
        for key, value in model_tags.items():
            self._store.set_model_tag(name, key, value)
        if card is not None:
            v_tags[CARD_TAG] = card.to_tag_value()
        number = self._store.create_version(
            name, source, run_id=run_id, model_id=model_id, tags=v_tags
        )
        if card is not None:
            self._store.set_version_description(
                name, number, card.to_markdown(name, number, self._primary_metric(name))
            )
        self._audit.record(
            actor=actor,
            client=client,
            model=name,
            action=AuditAction.REGISTER,
            decision=Decision.DONE,
            to_version=number,
            reason=f"registered from {model_uri}",
        )
        return self._require_version(name, number)

    def set_card(self, name: str, version: int | str, card: ModelCard, *, actor: str) -> CardView:
        info = self.get_version(name, version)
        actor = validation.actor(actor)
        self._store.set_version_tag(info.name, info.version, CARD_TAG, card.to_tag_value())
        self._store.set_version_description(
            info.name,
            info.version,
            card.to_markdown(info.name, info.version, self._primary_metric(info.name)),
        )
        view = CardView.of(card, self._primary_metric(info.name))
        self._audit.record(
            actor=actor,
            model=info.name,
            action=AuditAction.CARD,
            decision=Decision.DONE,
            to_version=info.version,
            reason="complete" if view.complete else f"incomplete: {', '.join(view.missing_fields)}",
        )
        return view

    def set_tags(
        self,
        name: str,
        tags: Mapping[str, str],
        *,
        actor: str,
        version: int | str | None = None,
        remove: Sequence[str] = (),
    ) -> dict[str, str]:
        """Set and remove user tags on a model (or one version); return its tags after."""
        name = validation.model_name(name)
        actor = validation.actor(actor)
        to_set = {validation.tag_key(k): validation.tag_value(v) for k, v in tags.items()}
        to_remove = [validation.tag_key(k) for k in remove]
        if not to_set and not to_remove:
            raise RegistryError(ErrorCode.INVALID_INPUT, "No tags given; pass key=value pairs.")
        if version is None:
            current = self._require_model(name).tags
            for key in to_remove:
                if key in current:
                    self._store.delete_model_tag(name, key)
            for key, value in to_set.items():
                self._store.set_model_tag(name, key, value)
            number = None
            after = self._require_model(name).tags
        else:
            info = self._require_version(name, validation.version(version))
            number = info.version
            for key in to_remove:
                if key in info.tags:
                    self._store.delete_version_tag(name, number, key)
            for key, value in to_set.items():
                self._store.set_version_tag(name, number, key, value)
            after = self._require_version(name, number).tags
        changes = [f"{k}={v}" for k, v in to_set.items()] + [f"-{k}" for k in to_remove]
        self._audit.record(
            actor=actor,
            model=name,
            action=AuditAction.TAG,
            decision=Decision.DONE,
            to_version=number,
            reason=", ".join(changes)[:2000],
        )
        return {k: v for k, v in after.items() if not k.startswith(validation.RESERVED_TAG_PREFIX)}
