"""The registry core: register, describe, tag, query, promote and roll back model versions.

Stages are backed by aliases (``production``, ``staging``, plus ``previous_production`` as the
rollback target) and a version tag for Archived; MLflow's legacy stage is mirrored for the UI
and never read back. Transitions are compare-and-set under a per-model lock, and every
registration, transition, rollback and refused attempt lands in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from registry_mcp import validation
from registry_mcp.audit import AuditLog
from registry_mcp.cards import CARD_TAG, CardView, ModelCard, card_from_tag
from registry_mcp.catalog import (
    PREVIOUS_ALIAS,
    PRODUCTION_ALIAS,
    SERVED_TAG,
    STAGE_TAG,
    STAGING_ALIAS,
    Catalog,
    version_stage,
)
from registry_mcp.database import backend_error, create_engine, is_postgres, migrate
from registry_mcp.errors import ErrorCode, RegistryError
from registry_mcp.locks import ModelLocks
from registry_mcp.mlflow_store import MlflowStore
from registry_mcp.schemas import (
    AuditAction,
    AuditEntry,
    Decision,
    ExpectedVersion,
    ModelDetail,
    ModelSummary,
    Page,
    Stage,
    TransitionPlan,
    TransitionResult,
    VersionInfo,
)
from registry_mcp.settings import Settings
from registry_mcp.stages import refusal

_STAGE_ALIAS = {Stage.PRODUCTION: PRODUCTION_ALIAS, Stage.STAGING: STAGING_ALIAS}


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

    @classmethod
    def open(cls, settings: Settings, *, initialise: bool = True) -> Registry:
        """Connect to the configured stores; create the schema on first use."""
        if settings.tracking_uri is None or settings.registry_uri is None:
            settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_registry_uri)
        registry = cls(
            store=MlflowStore.from_settings(settings),
            catalog=Catalog(engine),
            audit=AuditLog(engine),
            locks=ModelLocks(engine, settings.lock_timeout_s),
            engine=engine,
            settings=settings,
        )
        if initialise:
            registry.initialise()
        return registry

    def initialise(self) -> None:
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
        self._engine.dispose()

    @property
    def engine(self) -> Engine:
        """The registry database (for our own tables: proposals, audit)."""
        return self._engine

    @property
    def dialect(self) -> str:
        return "postgresql" if is_postgres(self._engine) else "sqlite"

    # ----------------------------------------------------------------- reads

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

    def get_version(self, name: str, version: int | str) -> VersionInfo:
        return self._require_version(validation.model_name(name), validation.version(version))

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
        return CardView.of(card_from_tag(info.system_tags.get(CARD_TAG)))

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

    def _require_model(self, name: str) -> ModelSummary:
        found = self._catalog.get_model(name)
        if found is None:
            raise RegistryError(
                ErrorCode.NOT_FOUND,
                f"No registered model named {name!r}; run `modelreg models list` to see names.",
            )
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
        """Register a new version of ``name`` from ``runs:/<run>/<path>`` or ``models:/m-<id>``."""
        name = validation.model_name(name)
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
            self._store.set_version_description(name, number, card.to_markdown(name, number))
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
            info.name, info.version, card.to_markdown(info.name, info.version)
        )
        view = CardView.of(card)
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

    def record_decision(
        self,
        *,
        action: AuditAction,
        decision: Decision,
        model: str,
        actor: str,
        client: str | None = None,
        version: int | None = None,
        replaced_version: int | None = None,
        from_stage: Stage | None = None,
        to_stage: Stage | None = None,
        rationale: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Audit a human decision or proposal about a stage change (nothing else moves)."""
        return self._audit.record(
            actor=validation.actor(actor),
            client=client,
            model=validation.model_name(model),
            action=action,
            decision=decision,
            from_version=replaced_version,
            to_version=version,
            from_stage=None if from_stage is None else from_stage.value,
            to_stage=None if to_stage is None else to_stage.value,
            rationale=rationale,
            reason=reason,
        )

    # ----------------------------------------------------------- transitions

    def plan_transition(self, name: str, version: int | str, stage: Stage | str) -> TransitionPlan:
        """What ``transition`` would do now, or the error it would raise; changes nothing."""
        name = validation.model_name(name)
        number = validation.version(version)
        target = validation.stage(stage)
        info = self._require_version(name, number)
        reason = refusal(number, info.stage, target)
        if reason:
            raise RegistryError(ErrorCode.INVALID_TRANSITION, reason)
        replaced, replaced_to = self._replaced(name, target, number)
        card = CardView.of(card_from_tag(info.system_tags.get(CARD_TAG)))
        return TransitionPlan(
            name=name,
            version=number,
            from_stage=info.stage,
            to_stage=target,
            replaced_version=replaced,
            replaced_to_stage=replaced_to,
            card_complete=card.complete,
            missing_card_fields=card.missing_fields,
        )

    def _replaced(self, name: str, target: Stage, version: int) -> tuple[int | None, Stage | None]:
        # A plan is a preview read from the catalog in one query; the locked operation
        # re-reads every alias through MLflow's alias API before it changes anything.
        alias = _STAGE_ALIAS.get(target)
        holder = None if alias is None else _SnapshotAliases(self._require_model(name))[alias]
        if holder is None or holder == version:
            return None, None
        return holder, Stage.ARCHIVED if target is Stage.PRODUCTION else Stage.NONE

    def transition(
        self,
        name: str,
        version: int | str,
        stage: Stage | str,
        *,
        rationale: str,
        actor: str,
        expected_current_version: ExpectedVersion | str = None,
        client: str | None = None,
    ) -> TransitionResult:
        """Move ``version`` to ``stage`` (compare-and-set on the stage's current holder)."""
        name = validation.model_name(name)
        number = validation.version(version)
        target = validation.stage(stage)
        why = validation.rationale(rationale)
        actor = validation.actor(actor)
        expected = validation.expected_version(expected_current_version)
        if expected is not None and target not in _STAGE_ALIAS:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                "expected_current_version applies only to Staging and Production, which hold "
                "one version each; leave it out for other stages.",
            )
        self._require_version(name, number)
        with self._locks.hold(name):
            live = _LiveAliases(self._store, name)
            info = self._require_version(name, number)
            current = self._live_stage(live, number, info)
            audit = _AuditDraft(
                self._audit,
                actor=actor,
                client=client,
                model=name,
                action=AuditAction.TRANSITION,
                to_version=number,
                from_stage=current.value,
                to_stage=target.value,
                rationale=why,
            )
            reason = refusal(number, current, target)
            if reason:
                raise audit.refuse(ErrorCode.INVALID_TRANSITION, reason)
            alias = _STAGE_ALIAS.get(target)
            holder = None if alias is None else live[alias]
            audit.from_version = holder
            if expected is not None and (holder or "none") != expected:
                raise audit.refuse(
                    ErrorCode.STALE_VERSION,
                    f"{target.value} of {name!r} is now {_v(holder)}, not {_v(expected)} as "
                    "expected; review the current state and retry with the new expected version.",
                )
            if target is Stage.PRODUCTION and self.settings.require_complete_card:
                missing = card_from_tag(info.system_tags.get(CARD_TAG)).missing_fields()
                if missing:
                    raise audit.refuse(
                        ErrorCode.CARD_INCOMPLETE,
                        f"v{number} cannot go to Production: its model card lacks "
                        f"{', '.join(missing)}. Complete it with `modelreg models card`.",
                    )
            with audit.applying():
                replaced_to = self._apply_transition(name, number, current, target, holder)
            audit_id = audit.done()
        return TransitionResult(
            name=name,
            version=number,
            from_stage=current,
            to_stage=target,
            replaced_version=holder if holder != number else None,
            replaced_to_stage=replaced_to,
            audit_id=audit_id,
        )

    @staticmethod
    def _live_stage(live: _LiveAliases, number: int, info: VersionInfo) -> Stage:
        """The version's stage read under the lock through MLflow's alias API."""
        aliases = [alias for alias in (PRODUCTION_ALIAS, STAGING_ALIAS) if live[alias] == number]
        return version_stage(aliases, info.system_tags.get(STAGE_TAG))

    def _apply_transition(
        self, name: str, number: int, current: Stage, target: Stage, holder: int | None
    ) -> Stage | None:
        replaced_to: Stage | None = None
        if target is Stage.PRODUCTION:
            # The alias move is the instant of truth; the rest records history around it.
            self._store.set_alias(name, PRODUCTION_ALIAS, number)
            if current is Stage.STAGING:
                self._store.delete_alias(name, STAGING_ALIAS)
            self._mark(name, number, Stage.PRODUCTION)
            self._store.set_version_tag(name, number, SERVED_TAG, _now())
            if holder is not None and holder != number:
                self._store.set_alias(name, PREVIOUS_ALIAS, holder)
                self._mark(name, holder, Stage.ARCHIVED)
                replaced_to = Stage.ARCHIVED
        elif target is Stage.STAGING:
            self._store.set_alias(name, STAGING_ALIAS, number)
            self._mark(name, number, Stage.STAGING)
            if holder is not None and holder != number:
                self._mark(name, holder, Stage.NONE)
                replaced_to = Stage.NONE
        else:
            if current is Stage.PRODUCTION:
                self._store.delete_alias(name, PRODUCTION_ALIAS)
            elif current is Stage.STAGING:
                self._store.delete_alias(name, STAGING_ALIAS)
            self._mark(name, number, target)
        return replaced_to

    def _mark(self, name: str, number: int, stage: Stage) -> None:
        self._store.set_version_tag(name, number, STAGE_TAG, stage.value)
        self._store.mirror_legacy_stage(name, number, stage.value)

    def plan_rollback(self, name: str, to_version: int | str | None = None) -> TransitionPlan:
        name = validation.model_name(name)
        snapshot = _SnapshotAliases(self._require_model(name))
        current, target = self._rollback_pair(name, to_version, snapshot)
        info = self._require_version(name, target)
        card = CardView.of(card_from_tag(info.system_tags.get(CARD_TAG)))
        return TransitionPlan(
            name=name,
            version=target,
            from_stage=info.stage,
            to_stage=Stage.PRODUCTION,
            replaced_version=current,
            replaced_to_stage=Stage.ARCHIVED,
            card_complete=card.complete,
            missing_card_fields=card.missing_fields,
        )

    def _rollback_pair(
        self, name: str, to_version: int | str | None, live: _Aliases
    ) -> tuple[int, int]:
        current = live[PRODUCTION_ALIAS]
        if current is None:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"{name!r} has no Production version to roll back; promote one instead.",
            )
        if to_version is None:
            target = live[PREVIOUS_ALIAS]
            if target is None:
                raise RegistryError(
                    ErrorCode.INVALID_TRANSITION,
                    f"{name!r} has no previous Production version recorded; name the version "
                    "to roll back to (--to V).",
                )
        else:
            target = validation.version(to_version)
        if target == current:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION, f"v{target} is already in Production; nothing to do."
            )
        info = self._require_version(name, target)
        if SERVED_TAG not in info.system_tags:
            raise RegistryError(
                ErrorCode.INVALID_TRANSITION,
                f"v{target} has never been in Production, so it is not a rollback target; "
                "promote it through Staging instead.",
            )
        return current, target

    def rollback(
        self,
        name: str,
        *,
        rationale: str,
        actor: str,
        to_version: int | str | None = None,
        expected_current_version: ExpectedVersion | str = None,
        client: str | None = None,
    ) -> TransitionResult:
        """Re-point Production to the previous (or a named former) Production version."""
        name = validation.model_name(name)
        why = validation.rationale(rationale)
        actor = validation.actor(actor)
        expected = validation.expected_version(expected_current_version)
        wanted = None if to_version is None else validation.version(to_version)
        self._require_model(name)
        with self._locks.hold(name):
            audit = _AuditDraft(
                self._audit,
                actor=actor,
                client=client,
                model=name,
                action=AuditAction.ROLLBACK,
                to_version=wanted,
                to_stage=Stage.PRODUCTION.value,
                rationale=why,
            )
            live = _LiveAliases(self._store, name)
            try:
                current, target = self._rollback_pair(name, wanted, live)
            except RegistryError as exc:
                if exc.code is ErrorCode.NOT_FOUND:
                    raise
                raise audit.refuse(exc.code, exc.message) from None
            audit.from_version, audit.to_version = current, target
            info = self._require_version(name, target)
            from_stage = self._live_stage(live, target, info)
            audit.from_stage = from_stage.value
            if expected is not None and current != expected:
                raise audit.refuse(
                    ErrorCode.STALE_VERSION,
                    f"Production of {name!r} is now {_v(current)}, not {_v(expected)} as "
                    "expected; review the current state and retry with the new expected version.",
                )
            with audit.applying():
                self._store.set_alias(name, PRODUCTION_ALIAS, target)
                if from_stage is Stage.STAGING:
                    self._store.delete_alias(name, STAGING_ALIAS)
                self._store.set_alias(name, PREVIOUS_ALIAS, current)
                self._mark(name, target, Stage.PRODUCTION)
                self._store.set_version_tag(name, target, SERVED_TAG, _now())
                self._mark(name, current, Stage.ARCHIVED)
            audit_id = audit.done()
        return TransitionResult(
            name=name,
            version=target,
            from_stage=from_stage,
            to_stage=Stage.PRODUCTION,
            replaced_version=current,
            replaced_to_stage=Stage.ARCHIVED,
            audit_id=audit_id,
        )


class _Aliases(Protocol):
    def __getitem__(self, alias: str) -> int | None: ...


class _SnapshotAliases:
    """Aliases as one catalog query saw them (for previews only)."""

    def __init__(self, summary: ModelSummary) -> None:
        self._aliases = {
            PRODUCTION_ALIAS: summary.production_version,
            STAGING_ALIAS: summary.staging_version,
            PREVIOUS_ALIAS: summary.previous_production_version,
        }

    def __getitem__(self, alias: str) -> int | None:
        return self._aliases.get(alias)


class _LiveAliases:
    """Alias reads through MLflow's alias API, each made at most once per locked operation."""

    def __init__(self, store: MlflowStore, name: str) -> None:
        self._store = store
        self._name = name
        self._seen: dict[str, int | None] = {}

    def __getitem__(self, alias: str) -> int | None:
        if alias not in self._seen:
            self._seen[alias] = self._store.alias_version(self._name, alias)
        return self._seen[alias]


class _AuditDraft:
    """One attempted change: ends as exactly one audit row (done, refused or failed)."""

    def __init__(self, log: AuditLog, **fields: object) -> None:
        self._log = log
        self._fields = fields
        self.from_version: int | None = None
        self.to_version = fields.pop("to_version", None)
        self.from_stage = fields.pop("from_stage", None)

    def _record(self, decision: Decision, reason: str | None) -> int:
        return self._log.record(
            decision=decision,
            reason=reason,
            from_version=self.from_version,
            to_version=self.to_version,  # type: ignore[arg-type]
            from_stage=self.from_stage,  # type: ignore[arg-type]
            **self._fields,  # type: ignore[arg-type]
        )

    def refuse(self, code: ErrorCode, message: str) -> RegistryError:
        self._record(Decision.REFUSED, f"{code.value}: {message}")
        return RegistryError(code, message)

    @contextmanager
    def applying(self) -> Iterator[None]:
        try:
            yield
        except RegistryError as exc:
            self._record(Decision.FAILED, f"{exc.code.value}: {exc.message}")
            raise

    def done(self) -> int:
        return self._record(Decision.DONE, None)


def _v(value: int | str | None) -> str:
    if value is None or value == "none":
        return "no version"
    return f"v{value}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
