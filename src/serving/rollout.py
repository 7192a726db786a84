"""Make a serving backend serve the registry's desired versions: plan, reconcile, switch, drift.

The registry hands over plain data (``DesiredModel``): which version is Production, which was
Production before (kept warm for an instant rollback) and which is Staging (loaded for shadow
or canary), plus the archive of each in the model store. The model's backend (TorchServe or
KServe's model server, a ``ServingBackend``) then holds exactly those versions, with
Production as the default version. Scaling workers and batching are TorchServe's only: a
KServe-backed model has no ``scale`` step.

``plan`` compares the desired state with ``ServingBackend.describe`` and lists the steps;
``serving_status`` reports those steps as drift; ``reconcile`` runs them (idempotent: a
second run does nothing). ``switch_default`` is the promotion/rollback path: one set-default
call, then a read-back that proves the switch.
"""

from __future__ import annotations

import time
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.backend import ServingBackend, TorchServeBackend
from serving.config import Backend, TorchServeSettings
from serving.errors import ServingError, ServingErrorCode
from serving.naming import is_archive_file_name, registry_version, served_name, ts_version
from serving.schemas import ModelDescription
from serving.torchserve import TorchServeClient

Role = Literal["production", "previous", "staging"]
ActionKind = Literal["register", "set_default", "scale", "replace", "unregister"]


class DesiredModel(BaseModel):
    """What the registry wants served for one model."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, description="Registered model name.")
    production: int | None = Field(default=None, ge=1)
    previous: int | None = Field(default=None, ge=1, description="Rollback target, kept warm.")
    staging: int | None = Field(default=None, ge=1)
    archives: dict[int, str] = Field(
        default_factory=dict,
        description="version -> archive file name in the model store; needed to load a version",
    )
    backend: Backend = Field(default="torchserve", description="The model's model server.")
    serving: TorchServeSettings = Field(default_factory=TorchServeSettings)
    standby_workers: int = Field(
        default=1, ge=0, le=64, description="Workers of the previous and Staging versions."
    )

    @model_validator(mode="after")
    def _bare_archive_names(self) -> Self:
        # A status probe may leave archives out; reconcile reports a version it cannot load.
        for version, name in self.archives.items():
            if not is_archive_file_name(name):
                raise ValueError(f"archive {name!r} of version {version} is not a bare .mar name")
        return self

    def roles(self) -> dict[int, Role]:
        """Desired versions and their role (Production wins if a version has two)."""
        roles: dict[int, Role] = {}
        for role in ("staging", "previous", "production"):
            version = getattr(self, role)
            if version is not None:
                roles[version] = role
        return roles

    def workers(self, version: int) -> tuple[int, int]:
        """(min, max) workers the version should run with."""
        if self.roles().get(version) == "production":
            return self.serving.workers.min, self.serving.workers.max
        return self.standby_workers, self.standby_workers


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    version: int | None = Field(description="Registry version; None for unmanaged versions.")
    ts_version: str
    reason: str


class Action(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    ts_version: str
    reason: str
    ok: bool
    elapsed_ms: float
    error_code: ServingErrorCode | None = None
    error: str | None = None


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    served_name: str
    actions: list[Action]
    in_sync: bool = Field(description="No drift is left after the actions.")
    remaining: list[str] = Field(description="Drift still present after reconciling.")

    @property
    def ok(self) -> bool:
        return all(action.ok for action in self.actions)


class SwitchResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    previous_default: str | None
    call_ms: float = Field(description="The set-default call.")
    verify_ms: float = Field(description="Reading the default back.")
    verified: bool


class ModelServingStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    served_name: str
    registry_production: int | None
    serving_default: int | None
    serving_default_raw: str | None = Field(description="TorchServe's default version string.")
    loaded_versions: list[int]
    in_sync: bool
    drift_reasons: list[str]


Client = ServingBackend | TorchServeClient
"""A backend, or a bare ``TorchServeClient`` (taken as ``TorchServeBackend``)."""


def as_backend(client: Client) -> ServingBackend:
    return TorchServeBackend(client) if isinstance(client, TorchServeClient) else client


def describe_or_empty(client: Client, model: str) -> ModelDescription:
    """``describe``, with a model the backend does not know reported as having no versions."""
    try:
        return as_backend(client).describe(model)
    except ServingError as exc:
        if exc.code is ServingErrorCode.NOT_FOUND:
            return ModelDescription(name=model, default_version=None, versions=())
        raise


def plan(desired: DesiredModel, current: ModelDescription) -> list[Step]:
    """The steps that turn ``current`` into ``desired``, in the order they must run."""
    roles = desired.roles()
    loaded = {v.version: v for v in current.versions}
    steps: list[Step] = []
    # Register Production first: the first version of a new model becomes its default.
    order = sorted(roles, key=lambda v: ("production", "previous", "staging").index(roles[v]))
    for version in order:
        served = loaded.get(ts_version(version))
        archive = desired.archives.get(version)
        if served is None:
            steps.append(_step("register", version, f"{roles[version]} v{version} is not loaded"))
        elif archive is not None and served.archive != archive and not served.is_default:
            steps.append(
                _step(
                    "replace",
                    version,
                    f"v{version} serves archive {served.archive}, desired {archive}",
                )
            )
    target = _default_target(desired, current)
    if target is not None and current.default_version != ts_version(target):
        now = current.default_version or "none"
        steps.append(_step("set_default", target, f"default is {now}, desired v{target}"))
    for version in order if desired.backend == "torchserve" else ():
        served = loaded.get(ts_version(version))
        want = desired.workers(version)
        if served is not None and (served.min_workers, served.max_workers) != want:
            steps.append(
                _step(
                    "scale",
                    version,
                    f"v{version} runs {served.min_workers}-{served.max_workers} workers, "
                    f"desired {want[0]}-{want[1]}",
                )
            )
    wanted = {ts_version(v) for v in roles}
    for served in current.versions:
        # The default is never removed: with a desired version it has been moved by now;
        # without one the model stays up (see drift) rather than go dark on a bad input.
        if served.version not in wanted and not (served.is_default and target is None):
            label = f"v{served.version}" if served.registry_version else repr(served.version)
            steps.append(
                Step(
                    kind="unregister",
                    version=served.registry_version,
                    ts_version=served.version,
                    reason=f"{label} is loaded but not desired",
                )
            )
    return steps


def drift(desired: DesiredModel, current: ModelDescription) -> list[str]:
    """Every difference between desired and served, including what ``plan`` cannot fix."""
    reasons = [step.reason for step in plan(desired, current)]
    if not current.versions and desired.roles():
        server = "TorchServe" if desired.backend == "torchserve" else "the KServe server"
        reasons.insert(0, f"{server} has no model {current.name!r}")
    for served in current.versions:
        version = served.registry_version
        if served.is_default and not desired.roles():
            reasons.append(
                f"default {served.version!r} is not desired, but no version is: it is kept "
                "serving; unregister it explicitly to take the model down"
            )
        if served.is_default and version in desired.roles():
            archive = desired.archives.get(version or 0)
            if archive is not None and served.archive != archive:
                reasons.append(
                    f"default v{version} serves archive {served.archive}, desired {archive}: "
                    "make another version the default to replace it"
                )
    return reasons


LOAD_STEPS: frozenset[ActionKind] = frozenset({"register", "replace", "scale"})
"""Steps that only add capacity (slow: a load takes seconds); what serves is unchanged."""
SWITCH_STEPS: frozenset[ActionKind] = frozenset({"set_default", "unregister"})
"""Steps that change what serves (fast): run them on a fresh reading of the registry."""


def reconcile(
    client: Client,
    desired: DesiredModel,
    *,
    only: frozenset[ActionKind] | None = None,
) -> ReconcileReport:
    """Run ``plan`` (only the steps of the kinds in ``only``, if given); per-version failures
    are reported, system failures (UNAVAILABLE...) raise. The drift left is read from the
    backend again after any step ran; when none ran, the reading the plan came from is it."""
    backend = as_backend(client)
    name = served_name(desired.name)
    actions: list[Action] = []
    current = describe_or_empty(backend, name)
    for step in plan(desired, current):
        if only is not None and step.kind not in only:
            continue
        started = time.perf_counter()
        try:
            _apply(backend, desired, name, step)
        except ServingError as exc:
            if exc.is_system_error:
                raise
            actions.append(_action(step, started, exc))
            continue
        actions.append(_action(step, started, None))
    remaining = drift(desired, describe_or_empty(backend, name) if actions else current)
    return ReconcileReport(
        model=desired.name,
        served_name=name,
        actions=actions,
        in_sync=not remaining,
        remaining=remaining,
    )


def switch_default(
    client: Client, model: str, version: int, *, strict: bool = True
) -> SwitchResult:
    """Make ``version`` the default and read it back; BACKEND error if the read-back differs."""
    backend = as_backend(client)
    name = served_name(model)
    previous = backend.default_version(name)
    started = time.perf_counter()
    backend.set_default(name, ts_version(version))
    switched = time.perf_counter()
    now = backend.default_version(name)
    done = time.perf_counter()
    result = SwitchResult(
        model=model,
        version=version,
        previous_default=previous,
        call_ms=round((switched - started) * 1000, 3),
        verify_ms=round((done - switched) * 1000, 3),
        verified=now == ts_version(version),
    )
    if strict and not result.verified:
        raise ServingError(
            ServingErrorCode.BACKEND,
            f"set-default of {model} to v{version} was accepted, but {backend.kind} reports "
            f"default {now}; run reconcile and check the server's logs",
        )
    return result


def serving_status(client: Client, desired: DesiredModel) -> ModelServingStatus:
    """What the backend serves for ``desired.name`` and how it differs from the registry."""
    name = served_name(desired.name)
    current = describe_or_empty(client, name)
    default_raw = current.default_version
    loaded = sorted(v.registry_version for v in current.versions if v.registry_version)
    reasons = drift(desired, current)
    return ModelServingStatus(
        model=desired.name,
        served_name=name,
        registry_production=desired.production,
        serving_default=_registry_version_or_none(default_raw),
        serving_default_raw=default_raw,
        loaded_versions=loaded,
        in_sync=not reasons,
        drift_reasons=reasons,
    )


# --------------------------------------------------------------------- internals


def _step(kind: ActionKind, version: int, reason: str) -> Step:
    return Step(kind=kind, version=version, ts_version=ts_version(version), reason=reason)


def _default_target(desired: DesiredModel, current: ModelDescription) -> int | None:
    if desired.production is not None:
        return desired.production
    roles = desired.roles()
    current_default = _registry_version_or_none(current.default_version)
    if current_default in roles:
        return current_default
    for version in (desired.previous, desired.staging):
        if version is not None:
            return version
    return None


def _registry_version_or_none(version: str | None) -> int | None:
    return registry_version(version) if version is not None else None


def _apply(backend: ServingBackend, desired: DesiredModel, name: str, step: Step) -> None:
    version = step.version
    if step.kind == "unregister":
        backend.unload(name, step.ts_version)
        return
    assert version is not None
    low, high = desired.workers(version)
    torchserve = backend.client if isinstance(backend, TorchServeBackend) else None
    if step.kind == "set_default":
        backend.set_default(name, step.ts_version)
    elif step.kind == "scale":
        if torchserve is None:
            raise ServingError(
                ServingErrorCode.INVALID_REQUEST,
                f"v{version} of {desired.name}: only TorchServe scales workers",
            )
        torchserve.scale(name, step.ts_version, low, high)
    elif step.kind in ("register", "replace"):
        archive = desired.archives.get(version)
        if archive is None:
            raise ServingError(
                ServingErrorCode.INVALID_REQUEST,
                f"v{version} of {desired.name} should be served but no archive was given; "
                "build one with serving.archive.build_archive and pass it in `archives`",
            )
        if step.kind == "replace":
            backend.unload(name, step.ts_version)
        if torchserve is None:
            backend.load(archive, name, step.ts_version)
            return
        torchserve.register(
            archive,
            name,
            step.ts_version,
            initial_workers=low,
            batch_size=desired.serving.batch_size,
            max_batch_delay_ms=desired.serving.max_batch_delay_ms,
        )
        if high != low:
            torchserve.scale(name, step.ts_version, low, high)
    else:  # pragma: no cover - ActionKind is closed
        raise AssertionError(step.kind)


def _action(step: Step, started: float, error: ServingError | None) -> Action:
    return Action(
        kind=step.kind,
        ts_version=step.ts_version,
        reason=step.reason,
        ok=error is None,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        error_code=error.code if error else None,
        error=error.message if error else None,
    )
