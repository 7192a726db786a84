"""The routing table: which versions serve each model, and how public routes pick a model.

The control plane writes it (``PUT /admin/table``) as plain data::

    {"models": {
        "mnist-classifier": {
            "served_name": "mnist-classifier",      # serving.naming.served_name(model)
            "production": 3, "previous": 2, "staging": 4,   # registry versions; previous
                                                             # and staging are optional
            "canary": {"version": 4, "percent": 10, "mode": "split"},   # optional
            "input_schema": {"n_features": 64, "dtype": "float32"},     # optional
            "pinned_versions": "admin",   # who may call /predictions/{model}/{version}
            "upstream": {                                               # optional
                "inference_url": "http://ts-mnist-classifier:8080",
                "management_url": "http://ts-mnist-classifier-management:8081",
                "backend": "torchserve"}}},                 # or "kserve"; default torchserve
     "routes": {
        "digits": {
            "default": "mnist-classifier",
            "default_resolved_from": null,
            "rules": [
                {"kind": "header", "header": "X-Priority", "equals": "critical",
                 "model": "mnist-large"},
                {"kind": "batch_at_least", "rows": 32, "model": "mnist-large",
                 "resolved_from": {"best_of_task": "classification"}}]}}}

A canary sends ``percent`` % of the model's Production traffic (unversioned predictions and
routes) to a warm non-Production version of the entry (``mode: split``), or mirrors that share
to it and discards its answers (``mode: shadow``). A request carrying ``X-Routing-Key`` is
assigned by a hash of the model and the key, so one key always lands on the same side.

``pinned_versions`` is the model's policy for ``/predictions/{model}/{version}`` (from
``configs/models.yaml``): ``admin`` (default) lets any client name the Production version
and needs the admin token for the others, ``production`` allows only Production,
``approved`` allows every version of the entry (``serving.config`` says more).

``upstream`` is the model's own serving backend (on Kubernetes, its Services); without it the
model is served by the router's default TorchServe (``--inference-url``). URLs are http(s),
host and optional port only: no credentials, path, query or fragment. ``backend`` says what
answers there: ``torchserve`` (default; ``/predictions/{served_name}/{version}``) or
``kserve``, KServe's model server, called over the Open Inference Protocol v2
(``/v2/models/{served_name}/versions/{version}/infer``, ``serving.router.oip_upstream``). A
KServe-backed model always names its upstream: the router's default is a TorchServe.

Every route target is a model name of ``models``. A registry-driven target of
``configs/models.yaml`` (``{best_of_task: T}``) is resolved by the control plane before it
writes the table: it puts the winning model's name in ``default`` / ``model`` and may record
what it resolved in ``default_resolved_from`` / ``resolved_from`` (reported, never
evaluated here). ``routes_from_config`` does exactly that given the winners.

``compile_table`` turns a validated table into the lookup structures requests use; the app
swaps the compiled table as one reference, so a request sees one table from start to end.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, Self
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from serving.config import (
    BatchCondition,
    BestOfTask,
    FieldCondition,
    HeaderCondition,
    InputSchema,
    ModelsConfig,
    PinnedVersions,
    RouteName,
    Task,
)

Stage = Literal["production", "previous", "staging"]
STAGES: tuple[Stage, ...] = ("production", "previous", "staging")

#: What TorchServe accepts as a model name (serving.naming produces these).
ServedName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^/\x00-\x1f]+$")]
Version = Annotated[int, Field(ge=1, le=10**9)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CanaryMode = Literal["split", "shadow"]


def base_url(url: str) -> str:
    """``url`` as the base URL of a TorchServe API (``scheme://host[:port]``, lower case), or
    ValueError saying why it cannot be one."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in url:
        # First, and without the URL: an error message must not repeat a password.
        raise ValueError("the URL carries credentials (user@ or user:password@); it must not")
    if not url.isprintable() or any(ch.isspace() for ch in url):
        raise ValueError(f"{url!r} contains spaces or control characters")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"{url!r} is not an http or https URL")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host")
    try:
        _ = parts.port  # raises on a port out of range or not a number
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"{url!r} has a path, query or fragment; give scheme://host:port only "
            "(TorchServe's APIs are at the root)"
        )
    return f"{scheme}://{parts.netloc.lower()}"


BaseUrl = Annotated[str, Field(max_length=300), AfterValidator(base_url)]


Backend = Literal["torchserve", "kserve"]


class ModelUpstream(_Frozen):
    """A model's own serving backend, instead of the router's default TorchServe."""

    inference_url: BaseUrl = Field(description="Its inference API, e.g. http://ts-m:8080.")
    management_url: BaseUrl = Field(
        description="Its management API (loaded versions), e.g. http://ts-m-management:8081."
    )
    backend: Literal["torchserve", "kserve"] = "torchserve"


class Canary(_Frozen):
    """A share of a model's Production traffic for a warm candidate version."""

    version: Version
    percent: float = Field(gt=0, le=100, description="Share of Production traffic, in %.")
    mode: CanaryMode = Field(
        default="split", description="split: the candidate answers; shadow: mirrored, discarded."
    )


class ModelEntry(_Frozen):
    """One model: its TorchServe name, the versions loaded there by stage, its input."""

    served_name: ServedName
    production: Version | None = Field(
        default=None, description="Answers /predictions/{model} and routes; None: not served."
    )
    previous: Version | None = Field(default=None, description="Warm for rollback.")
    staging: Version | None = Field(default=None, description="Loaded for canary/shadow.")
    canary: Canary | None = Field(
        default=None, description="A share of Production traffic for previous or staging."
    )
    input_schema: InputSchema | None = Field(
        default=None, description="Checked before TorchServe; None: only the body's shape."
    )
    upstream: ModelUpstream | None = Field(
        default=None, description="The model's own TorchServe; None: the router's default."
    )
    pinned_versions: PinnedVersions = Field(
        default="admin",
        description="Who may call a version by path: admin (non-Production versions need the "
        "admin token), production (Production only), approved (any version of the entry).",
    )
    in_flight: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="Requests to one version out at once before the router merges the next "
        "ones (about two per TorchServe worker that can answer); None: the router's "
        "--coalesce-in-flight.",
    )

    @model_validator(mode="after")
    def _previous_is_not_production(self) -> Self:
        if self.previous is not None and self.previous == self.production:
            raise ValueError(
                f"previous ({self.previous}) equals production; previous is the version "
                "Production had before (or null)"
            )
        canary = self.canary
        if canary is not None:
            if self.production is None:
                raise ValueError("a canary needs a production version to take traffic from")
            if canary.version == self.production or canary.version not in (
                self.previous,
                self.staging,
            ):
                raise ValueError(
                    f"canary version {canary.version} must be the entry's previous or staging "
                    "version (loaded, and not production)"
                )
        return self

    def versions(self) -> dict[Stage, int]:
        found = {stage: getattr(self, stage) for stage in STAGES}
        return {stage: version for stage, version in found.items() if version is not None}


class _Target(_Frozen):
    model: ModelName
    resolved_from: BestOfTask | None = None


class HeaderRule(HeaderCondition, _Target):
    pass


class FieldRule(FieldCondition, _Target):
    pass


class BatchRule(BatchCondition, _Target):
    pass


Rule = Annotated[HeaderRule | FieldRule | BatchRule, Field(discriminator="kind")]


class TableRoute(_Frozen):
    default: ModelName
    default_resolved_from: BestOfTask | None = None
    rules: tuple[Rule, ...] = Field(default=(), max_length=100)


class RoutingTable(_Frozen):
    models: dict[ModelName, ModelEntry] = Field(default_factory=dict)
    routes: dict[RouteName, TableRoute] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _routes_reach_served_models(self) -> Self:
        problems: list[str] = []
        for name, route in self.routes.items():
            targets = [("default", route.default)]
            targets += [(f"rules[{i}].model", rule.model) for i, rule in enumerate(route.rules)]
            for where, model in targets:
                entry = self.models.get(model)
                if entry is None:
                    problems.append(f"route {name!r} {where}: model {model!r} is not in models")
                elif entry.production is None:
                    problems.append(
                        f"route {name!r} {where}: model {model!r} has no production version"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TableUpdate(_Frozen):
    """Body of ``PUT /admin/table``: compare-and-set on the generation the writer read."""

    expected_generation: int = Field(ge=0, description="The generation GET returned.")
    table: RoutingTable


class TableState(_Frozen):
    """Body of ``GET /admin/table`` and of the state file."""

    generation: int = Field(ge=0, description="0 before the first accepted table.")
    updated_at: str | None = Field(default=None, description="ISO time of the last update.")
    table: RoutingTable = Field(default_factory=RoutingTable)
    confirmed: bool | None = Field(
        default=None,
        description="In replies only (never stored): false while a restarted router waits for "
        "the control plane to confirm or replace the table it read from its state file.",
    )


class Confirmation(_Frozen):
    """Body of ``POST /admin/confirm``: the table on file at this generation is right."""

    generation: int = Field(
        ge=0, le=2**63 - 1, description="The generation GET /admin/table returned."
    )


# --------------------------------------------------------------------- compiled form


@dataclass(frozen=True, slots=True)
class Target:
    """One (model, version) a request can be sent to, with everything the hot path needs."""

    model: str
    version: str
    stage: Stage
    path: str  # /predictions/{served_name}/{version} (kserve: /v2/models/.../infer), quoted
    schema: InputSchema | None
    model_header: bytes  # X-Model-Name value: the name, percent-encoded if not plain ASCII
    upstream: str | None = None  # the model's inference base URL; None: the router's default
    pinned: PinnedVersions = "admin"  # who may name this version by path (see ModelEntry)
    backend: Backend = "torchserve"  # what answers at ``upstream`` (kserve: path is OIP v2)
    in_flight: int | None = None  # requests out at once before merging; None: the router's
    #: X-Model-Name and X-Model-Version of every reply of this target, encoded once.
    reply_headers: tuple[tuple[bytes, bytes], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        headers = (
            (b"x-model-name", self.model_header),
            (b"x-model-version", self.version.encode()),
        )
        object.__setattr__(self, "reply_headers", headers)  # frozen: set once, here


@dataclass(frozen=True, slots=True)
class CompiledCanary:
    target: Target
    threshold: int  # of BUCKETS: a request whose bucket is below it goes to the canary
    shadow: bool


BUCKETS = 10_000
"""Canary assignment resolution: 0.01 %."""


@dataclass(frozen=True, slots=True)
class CompiledTable:
    state: TableState
    production: Mapping[str, Target]  # model -> its production target
    versions: Mapping[tuple[str, str], Target]  # (model, version) -> target
    routes: Mapping[str, TableRoute]
    known_models: frozenset[str]
    canaries: Mapping[str, CompiledCanary]  # model -> its canary

    @property
    def generation(self) -> int:
        return self.state.generation


def compile_table(state: TableState) -> CompiledTable:
    production: dict[str, Target] = {}
    versions: dict[tuple[str, str], Target] = {}
    for model, entry in state.table.models.items():
        # Later stages never shadow production when two stages share a version.
        backend: Backend = entry.upstream.backend if entry.upstream is not None else "torchserve"
        served = quote(entry.served_name, safe="")
        for stage, version in reversed(entry.versions().items()):
            path = (
                f"/v2/models/{served}/versions/{version}/infer"
                if backend == "kserve"
                else f"/predictions/{served}/{version}"
            )
            target = Target(
                model=model,
                version=str(version),
                stage=stage,
                path=path,
                schema=entry.input_schema,
                model_header=header_value(model),
                upstream=entry.upstream.inference_url if entry.upstream is not None else None,
                pinned=entry.pinned_versions,
                backend=backend,
                in_flight=entry.in_flight,
            )
            versions[(model, str(version))] = target
            if stage == "production":
                production[model] = target
    canaries = {
        model: CompiledCanary(
            target=versions[(model, str(entry.canary.version))],
            threshold=round(entry.canary.percent * BUCKETS / 100),
            shadow=entry.canary.mode == "shadow",
        )
        for model, entry in state.table.models.items()
        if entry.canary is not None
    }
    return CompiledTable(
        state=state,
        production=production,
        versions=versions,
        routes=dict(state.table.routes),
        known_models=frozenset(state.table.models),
        canaries=canaries,
    )


def header_value(text: str) -> bytes:
    """``text`` as an HTTP header value: as is when printable ASCII, else percent-encoded."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return quote(text, safe="").encode("ascii")


def canary_bucket(model: str, key: str | None) -> int:
    """A request's bucket in [0, BUCKETS): from the model and ``key`` when one is given (the
    same key always gets the same bucket), else random."""
    if key is None:
        return random.randrange(BUCKETS)  # traffic split, not a secret
    digest = hashlib.blake2b(f"{model}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def changed_stages(old: RoutingTable, new: RoutingTable) -> list[tuple[str, Stage]]:
    """(model, stage) pairs whose version differs between two tables (for the metric)."""
    changed: list[tuple[str, Stage]] = []
    for model in sorted(set(old.models) | set(new.models)):
        before = old.models[model].versions() if model in old.models else {}
        after = new.models[model].versions() if model in new.models else {}
        changed += [(model, s) for s in STAGES if before.get(s) != after.get(s)]
    return changed


def routes_from_config(
    config: ModelsConfig, best_of_task: Mapping[Task, str]
) -> dict[str, TableRoute]:
    """The table's routes for ``config.routes``; ``best_of_task`` holds the registry's winners.

    Raises ``KeyError`` naming the task when a route needs a winner that was not given.
    """

    def resolve(target: str | BestOfTask) -> tuple[str, BestOfTask | None]:
        if isinstance(target, str):
            return target, None
        if target.best_of_task not in best_of_task:
            raise KeyError(f"no Production model of task {target.best_of_task!r} was given")
        return best_of_task[target.best_of_task], target

    routes: dict[str, TableRoute] = {}
    for name, route in config.routes.items():
        default, default_from = resolve(route.default)
        rules: list[HeaderRule | FieldRule | BatchRule] = []
        for rule in route.rules:
            model, source = resolve(rule.model)
            fields = rule.model_dump(exclude={"model"})
            if isinstance(rule, HeaderCondition):
                rules.append(HeaderRule(**fields, model=model, resolved_from=source))
            elif isinstance(rule, FieldCondition):
                rules.append(FieldRule(**fields, model=model, resolved_from=source))
            else:
                rules.append(BatchRule(**fields, model=model, resolved_from=source))
        routes[name] = TableRoute(
            default=default, default_resolved_from=default_from, rules=tuple(rules)
        )
    return routes
