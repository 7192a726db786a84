"""Schema and loader of ``configs/models.yaml``: per-model task, inputs, SLA and resources.

Layout::

    defaults:            # optional; applies to models not listed under `models`
      backend: torchserve  # or kserve (KServe's model server, Open Inference Protocol v2)
      torchserve: {workers: {min: 1, max: 1}, batch_size: 1, max_batch_delay_ms: 50}
    models:
      mnist-classifier:  # the registered model name
        task: classification
        primary_metric: accuracy
        metric_direction: higher   # optional for the well-known metrics (METRIC_DIRECTIONS)
        latency_sla_ms: 50
        error_budget: 0.01         # share of requests that may fail (alerts); default 0.01
        input_schema: {n_features: 64, dtype: float32}   # row_shape: [8, 8] for nested rows
        n_classes: 10
        pinned_versions: admin     # who may call /predictions/{model}/{version}; see below
        backend: torchserve        # torchserve (default) or kserve
        torchserve: {workers: {min: 1, max: 2}, batch_size: 8, max_batch_delay_ms: 10}
        kubernetes:
          replicas: 2
          requests: {cpu: 500m, memory: 1Gi}   # or the short form `cpu:` / `memory:`
          limits: {cpu: "2", memory: 2Gi}      # optional; never below the requests
          gpu: 0
    cluster: {gpu_nodes: true}  # optional; false refuses any model asking for a GPU
    routes:              # optional; public route name -> default model + ordered rules
      digits:
        default: mnist-classifier            # or {best_of_task: classification}
        rules:                               # first match wins; else the default
          - {kind: header, header: X-Priority, equals: critical, model: mnist-large}
          - {kind: field, field: tier, equals: gold, model: mnist-large}
          - {kind: batch_at_least, rows: 32, model: {best_of_task: classification}}
          - {kind: batch_at_most, rows: 1, model: mnist-classifier}

``pinned_versions`` (the router enforces it on ``/predictions/{model}/{version}``; unversioned
predictions and routes always reach Production or the canary):

- ``admin`` (default): any client may name the Production version; Staging and the warm
  previous version need the router's admin token (``X-Admin-Token``), for operators
  checking a candidate before promoting it.
- ``production``: only the Production version may be named; nobody calls another by path.
- ``approved``: any client may name Production, Staging or the previous version.

Archived versions are never in the router's table, so no policy reaches them.

``backend`` picks the model server of a model: ``torchserve`` (default) or ``kserve``
(KServe's Python model server; ``modelreg serve up`` starts one when a model needs it).
``torchserve:`` (workers, batching) only applies to TorchServe: a ``kserve`` model that
sets it is refused rather than silently ignored (KServe runs one process per server, with
no worker pool or server-side batching of ours to configure).

A route target is a model of ``models`` by name, or ``{best_of_task: T}``: "the Production
model of task T with the best primary metric", which only the registry can answer; the
control plane resolves it to a model name when it writes the router's table.

Every error names the file, the model (or route) and the field
(``ServingErrorCode.CONFIG_INVALID``).

One module, longer than most: it is the schema of one file, and the cross-field checks
(route targets, GPUs and GPU nodes, limits against requests) and the error wording that
names the spot need every part of it in view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self

import yaml  # type: ignore[import-untyped]  # no stubs installed
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from serving.errors import ServingError, ServingErrorCode

#: ``feature-extraction``: an encoder answering with a vector per row (no classes).
Task = Literal["classification", "regression", "feature-extraction"]
DType = Literal["float32", "float64", "int32", "int64"]
PinnedVersions = Literal["admin", "production", "approved"]
_PINNED_DOC = (
    "Who may call a version by path (/predictions/{model}/{version}): admin (default; "
    "non-Production versions need the router's admin token), production (only Production), "
    "approved (Production, Staging and the previous version, for any client)."
)
MetricDirection = Literal["higher", "lower"]
#: The model server of a model (``serving.backend.BackendKind`` names the same two).
Backend = Literal["torchserve", "kserve"]
_BACKEND_DOC = (
    "Model server: torchserve (default) or kserve (KServe's model server, Open Inference "
    "Protocol v2)."
)

_HIGHER: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "top_5_accuracy",
    "precision",
    "recall",
    "f1",
    "f1_macro",
    "f1_micro",
    "f1_weighted",
    "auc",
    "roc_auc",
    "pr_auc",
    "average_precision",
    "r2",
    "explained_variance",
    "map",
    "ndcg",
)
_LOWER: tuple[str, ...] = (
    "rmse",
    "mse",
    "mae",
    "mape",
    "loss",
    "log_loss",
    "cross_entropy",
    "error",
    "error_rate",
    "perplexity",
    "latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
)
METRIC_DIRECTIONS: Mapping[str, MetricDirection] = MappingProxyType(
    {**dict.fromkeys(_HIGHER, "higher"), **dict.fromkeys(_LOWER, "lower")}
)
"""Which way is better for well-known metric names (exact names, never substrings). A
primary metric not listed here needs an explicit ``metric_direction`` in models.yaml."""


class _Strict(BaseModel):
    # Unknown keys are typos until the schema says otherwise.
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSchema(_Strict):
    n_features: int = Field(ge=1, le=1_000_000, description="Values per input row.")
    dtype: DType = Field(default="float32", description="Element type the model expects.")
    row_shape: tuple[Annotated[int, Field(ge=1)], ...] | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="A nested row's shape (e.g. [8, 8]); None: rows are flat lists of "
        "n_features numbers. A flat row is always accepted.",
    )

    @model_validator(mode="after")
    def _shape_holds_n_features(self) -> Self:
        if self.row_shape is not None and math.prod(self.row_shape) != self.n_features:
            raise ValueError(
                f"row_shape {list(self.row_shape)} holds {math.prod(self.row_shape)} values, "
                f"n_features is {self.n_features}; they must agree"
            )
        return self


class WorkerRange(_Strict):
    min: int = Field(default=1, ge=0, le=64, description="Workers kept alive.")
    max: int = Field(default=1, ge=0, le=64, description="Workers TorchServe may scale up to.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class TorchServeSettings(_Strict):
    """How a local TorchServe runs one model version."""

    workers: WorkerRange = Field(default_factory=WorkerRange)
    batch_size: int = Field(default=1, ge=1, le=1024, description="Requests per batch.")
    max_batch_delay_ms: int = Field(
        default=50, ge=0, le=10_000, description="How long TorchServe waits to fill a batch."
    )


CpuQuantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?m?$")]
MemoryQuantity = Annotated[str, Field(pattern=r"^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$")]

_MEMORY_UNITS = {
    "": 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def cpu_millicores(quantity: str) -> float:
    """``"500m"`` -> 500, ``"1.5"`` -> 1500 (a quantity the schema accepted)."""
    if quantity.endswith("m"):
        return float(quantity[:-1])
    return float(quantity) * 1000


def memory_bytes(quantity: str) -> int:
    """``"1Gi"`` -> 1073741824, ``"500M"`` -> 500000000 (a quantity the schema accepted)."""
    digits = quantity.rstrip("KMGTi")
    return int(digits) * _MEMORY_UNITS[quantity[len(digits) :]]


def _cpu_number_as_text(value: Any) -> Any:
    """``cpu: 2`` / ``cpu: 0.5`` in YAML are numbers; Kubernetes reads them as quantities."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class ResourceAmounts(_Strict):
    cpu: CpuQuantity | None = Field(default=None, description='Kubernetes CPU: "1", "500m".')
    memory: MemoryQuantity | None = Field(
        default=None, description='Kubernetes memory: "1Gi", "512Mi".'
    )

    _cpu_text = field_validator("cpu", mode="before")(_cpu_number_as_text)


class KubernetesResources(_Strict):
    """Resources of the model's pods on Kubernetes (consumed by serving/k8s.py).

    ``cpu`` / ``memory`` are the requests (default 1 CPU, 1Gi); ``requests: {cpu, memory}``
    is accepted as the long form of the same two fields. ``limits`` are optional; a limit
    below its request is refused. ``gpu`` is a whole-device count (a limit on Kubernetes).
    """

    replicas: int = Field(default=1, ge=0, le=100, description="Pods; 0 parks the model.")
    cpu: CpuQuantity = Field(default="1", description="CPU request.")
    memory: MemoryQuantity = Field(default="1Gi", description="Memory request.")
    limits: ResourceAmounts = Field(default_factory=ResourceAmounts)
    gpu: int = Field(default=0, ge=0, le=16, description="GPUs per pod.")

    _cpu_text = field_validator("cpu", mode="before")(_cpu_number_as_text)

    @model_validator(mode="before")
    @classmethod
    def _long_form(cls, data: Any) -> Any:
        """Fold ``requests: {cpu, memory}`` into ``cpu`` / ``memory``."""
        if not isinstance(data, dict) or "requests" not in data:
            return data
        data = dict(data)
        requests = data.pop("requests")
        if requests is None:
            return data
        if not isinstance(requests, dict):
            raise ValueError("requests must be a mapping {cpu: ..., memory: ...}")
        for key, value in requests.items():
            if key not in ("cpu", "memory"):
                raise ValueError(f"requests.{key}: unknown field (requests take cpu and memory)")
            if data.get(key, value) != value:
                raise ValueError(
                    f"{key} is given twice ({data[key]!r} and requests.{key} {value!r}); keep "
                    f"one (`{key}:` is the short form of `requests.{key}:`)"
                )
            data[key] = value
        return data

    @model_validator(mode="after")
    def _limits_not_below_requests(self) -> Self:
        limit_cpu, limit_memory = self.limits.cpu, self.limits.memory
        if limit_cpu is not None and cpu_millicores(limit_cpu) < cpu_millicores(self.cpu):
            raise ValueError(f"limits.cpu ({limit_cpu}) is below the cpu request ({self.cpu})")
        if limit_memory is not None and memory_bytes(limit_memory) < memory_bytes(self.memory):
            raise ValueError(
                f"limits.memory ({limit_memory}) is below the memory request ({self.memory})"
            )
        return self

    @property
    def requests(self) -> ResourceAmounts:
        return ResourceAmounts(cpu=self.cpu, memory=self.memory)


def _resolve_direction(value: MetricDirection | None, info: ValidationInfo) -> MetricDirection:
    """The declared direction, else the well-known one of the primary metric; never a guess."""
    if value is not None:
        return value
    metric = info.data.get("primary_metric")
    if metric is None:
        return "higher"  # primary_metric itself is invalid; that error is reported instead
    known = METRIC_DIRECTIONS.get(metric)
    if known is None:
        raise ValueError(
            f"primary metric {metric!r} is not a well-known metric, so its direction is "
            "unknown; set metric_direction: higher or lower"
        )
    return known


_DIRECTION_DOC = (
    "Which way the primary metric is better: higher or lower. Default: the well-known "
    "direction of the metric's name (METRIC_DIRECTIONS); required for any other metric."
)


_BUDGET_DOC = (
    "Share of a model's requests that may fail before its error-ratio alert fires (0.01 = 1%)."
)


class GuardSettings(_Strict):
    """How a guarded promotion is judged (``modelreg promote --guard``).

    Over ``window_s`` after the promotion, the new Production version is rolled back
    automatically if, once it has answered ``min_requests`` requests, its error ratio exceeds
    the model's ``error_budget`` or its p99 latency exceeds ``latency_sla_ms``; or if, once
    ``min_feedback_rows`` labelled *requests* came back (each counts once, whatever its
    rows), the mean of their accuracies is below ``min_accuracy``.
    """

    window_s: float = Field(default=120, ge=5, le=86_400, description="Bake window, seconds.")
    min_requests: int = Field(
        default=50, ge=1, le=1_000_000, description="Requests before errors/latency are judged."
    )
    min_accuracy: float | None = Field(
        default=None, gt=0, le=1, description="Production accuracy floor; None: not judged."
    )
    min_feedback_rows: int = Field(
        default=100, ge=1, le=1_000_000, description="Labelled requests before accuracy is judged."
    )


def _torchserve_settings_apply(model: _Strict, backend: Backend) -> None:
    """``torchserve:`` set on a kserve model would be silently ignored: refuse it."""
    if backend == "kserve" and "torchserve" in model.model_fields_set:
        raise ValueError(
            "torchserve settings (workers, batching) do not apply to backend: kserve; remove "
            "the `torchserve:` block, or set backend: torchserve"
        )


class ModelDefaults(_Strict):
    """Settings for a model that ``models`` does not list."""

    backend: Backend = Field(default="torchserve", description=_BACKEND_DOC)
    task: Task = "classification"
    primary_metric: str = Field(default="accuracy", min_length=1, max_length=100)
    # None only before validation: the validator always resolves it.
    metric_direction: MetricDirection | None = Field(
        default=None, validate_default=True, description=_DIRECTION_DOC
    )
    latency_sla_ms: float = Field(default=100.0, gt=0, le=600_000)
    error_budget: float = Field(default=0.01, gt=0, le=1, description=_BUDGET_DOC)
    torchserve: TorchServeSettings = Field(default_factory=TorchServeSettings)
    kubernetes: KubernetesResources = Field(default_factory=KubernetesResources)
    pinned_versions: PinnedVersions = Field(default="admin", description=_PINNED_DOC)

    _direction = field_validator("metric_direction")(_resolve_direction)

    @model_validator(mode="after")
    def _backend_settings(self) -> Self:
        _torchserve_settings_apply(self, self.backend)
        return self


IN_FLIGHT_PER_WORKER = 2
"""Measured with one worker (``bench/coalescing.py``): two requests out at once answered more
per second at concurrency 16 than one (TorchServe idle between answers) or four (smaller
merged requests), at the same one-client latency."""


class ModelConfig(_Strict):
    name: str = Field(min_length=1, max_length=200)
    backend: Backend = Field(default="torchserve", description=_BACKEND_DOC)
    task: Task
    primary_metric: str = Field(min_length=1, max_length=100)
    # None only before validation: the validator always resolves it.
    metric_direction: MetricDirection | None = Field(
        default=None, validate_default=True, description=_DIRECTION_DOC
    )
    latency_sla_ms: float = Field(gt=0, le=600_000)
    error_budget: float = Field(default=0.01, gt=0, le=1, description=_BUDGET_DOC)
    input_schema: InputSchema | None = Field(
        default=None, description="Expected input; None means: trust the MLflow signature."
    )
    n_classes: int | None = Field(default=None, ge=2, le=100_000)
    torchserve: TorchServeSettings = Field(default_factory=TorchServeSettings)
    kubernetes: KubernetesResources = Field(default_factory=KubernetesResources)
    guard: GuardSettings | None = Field(
        default=None, description="Guarded promotions; None: `promote --guard` is refused."
    )
    pinned_versions: PinnedVersions = Field(default="admin", description=_PINNED_DOC)

    _direction = field_validator("metric_direction")(_resolve_direction)

    @property
    def lower_is_better(self) -> bool:
        """True when a smaller primary metric is better (rmse, loss, ...)."""
        return self.metric_direction == "lower"

    def router_in_flight(self, pods: int = 1) -> int | None:
        """Requests the router keeps out at once to one version of this model before it
        merges the next ones (``serving.router.coalesce``): ``IN_FLIGHT_PER_WORKER`` per
        TorchServe worker of ``pods`` pods; None for a KServe model (never merged)."""
        if self.backend != "torchserve":
            return None
        return IN_FLIGHT_PER_WORKER * max(1, self.torchserve.workers.max) * max(1, pods)

    @model_validator(mode="after")
    def _classes_for_classifiers(self) -> Self:
        if self.n_classes is not None and self.task != "classification":
            raise ValueError("n_classes is only meaningful for task: classification")
        return self

    @model_validator(mode="after")
    def _backend_settings(self) -> Self:
        _torchserve_settings_apply(self, self.backend)
        return self


#: Route names are one URL path segment: ``POST /routes/{route}``.
RouteName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
#: An HTTP header name (RFC 9110 token); matched case-insensitively.
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")]
#: A JSON field of the request body: ``tier`` or a dotted path ``meta.tier``.
FieldPath = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,100}(\.[A-Za-z0-9_-]{1,100}){0,7}$")]
#: A JSON scalar; ``true`` never equals ``1`` (compared with its JSON type).
#: (pydantic's smart union keeps each JSON type: 1 stays int, true stays bool.)
JsonScalar = bool | int | float | str
RuleKind = Literal["header", "field", "batch_at_least", "batch_at_most"]
RULE_KINDS: tuple[RuleKind, ...] = ("header", "field", "batch_at_least", "batch_at_most")


class BestOfTask(_Strict):
    """The Production model of ``best_of_task`` with the best primary metric (registry-side)."""

    best_of_task: Task


ModelTarget = Annotated[str, Field(min_length=1, max_length=200)] | BestOfTask


class HeaderCondition(_Strict):
    """Request header ``header`` equals ``equals`` (surrounding spaces ignored)."""

    kind: Literal["header"]
    header: HeaderName
    equals: str = Field(max_length=1000)


class FieldCondition(_Strict):
    """The JSON body is an object whose ``field`` (dotted path) equals ``equals``."""

    kind: Literal["field"]
    field: FieldPath
    equals: JsonScalar


class BatchCondition(_Strict):
    """The request holds at least / at most ``rows`` input rows."""

    kind: Literal["batch_at_least", "batch_at_most"]
    rows: int = Field(ge=1, le=1_000_000)


class HeaderRule(HeaderCondition):
    model: ModelTarget


class FieldRule(FieldCondition):
    model: ModelTarget


class BatchRule(BatchCondition):
    model: ModelTarget


RouteRule = Annotated[HeaderRule | FieldRule | BatchRule, Field(discriminator="kind")]


class RouteConfig(_Strict):
    """A public route: the first rule that matches picks the model, else ``default``."""

    default: ModelTarget
    rules: tuple[RouteRule, ...] = Field(default=(), max_length=100)

    def targets(self) -> list[tuple[str, ModelTarget]]:
        """(field path, target) of the default and of every rule."""
        found: list[tuple[str, ModelTarget]] = [("default", self.default)]
        found += [(f"rules.{i}.model", rule.model) for i, rule in enumerate(self.rules)]
        return found


class ClusterConfig(_Strict):
    """What the Kubernetes cluster offers (the kubernetes issue's overlays build on it)."""

    gpu_nodes: bool = Field(
        default=True,
        description="The cluster has nodes with nvidia.com/gpu; false: no model may ask for a GPU.",
    )


class ModelsConfig(_Strict):
    defaults: ModelDefaults = Field(default_factory=ModelDefaults)
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    routes: dict[RouteName, RouteConfig] = Field(default_factory=dict)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _gpus_need_gpu_nodes(self) -> Self:
        if self.cluster.gpu_nodes:
            return self
        asking = [(name, m.kubernetes.gpu) for name, m in self.models.items() if m.kubernetes.gpu]
        if self.defaults.kubernetes.gpu:
            asking.insert(0, ("defaults", self.defaults.kubernetes.gpu))
        if asking:
            problems = [
                f"model {name!r}, field 'kubernetes.gpu': asks for {gpus} GPU(s) but "
                "`cluster.gpu_nodes` is false (set gpu: 0, or declare GPU nodes)"
                for name, gpus in asking
            ]
            raise PydanticCustomError("gpu_nodes", "\n  ".join(problems))
        return self

    @field_validator("routes")
    @classmethod
    def _targets_are_declared(
        cls, routes: dict[str, RouteConfig], info: ValidationInfo
    ) -> dict[str, RouteConfig]:
        models = info.data.get("models")
        if models is None:
            return routes  # `models` itself is invalid; that error is reported instead
        problems = [
            f"route {name!r}, field {where!r}: model {target!r} is not declared under "
            "`models` (declare it there, or target {best_of_task: <task>})"
            for name, route in routes.items()
            for where, target in route.targets()
            if isinstance(target, str) and target not in models
        ]
        if problems:
            raise PydanticCustomError("route_target", "\n  ".join(problems))
        return routes

    def get(self, name: str) -> ModelConfig:
        """The configured model, or one built from ``defaults`` for a model not listed."""
        found = self.models.get(name)
        if found is not None:
            return found
        data = self.defaults.model_dump()
        if self.defaults.backend == "kserve":
            del data["torchserve"]  # does not apply (and would be refused)
        return ModelConfig(name=name, **data)


def load_models_config(path: Path) -> ModelsConfig:
    """Read and validate ``path``; every problem raises ``CONFIG_INVALID`` naming the spot."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _invalid(path, "file not found; create it (see configs/models.yaml)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _invalid(path, f"cannot read the file: {exc}") from None
    return parse_models_config(text, source=str(path))


def parse_models_config(text: str, *, source: str = "<models.yaml>") -> ModelsConfig:
    """Validate YAML text (``source`` is used in error messages)."""
    try:
        _check_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(source, f"invalid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _invalid(
            source, "the top level must be a mapping with `models:` (and `defaults:`, `routes:`)"
        )
    models = raw.get("models")
    if isinstance(models, dict):
        # The mapping key is the name; a `name:` inside the entry must agree with it.
        filled: dict[Any, Any] = {}
        for key, entry in models.items():
            if isinstance(entry, dict):
                entry = {"name": key, **entry}
            filled[key] = entry
        raw = {**raw, "models": filled}
    try:
        config = ModelsConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        raise _invalid(source, "\n  ".join(["invalid configuration:", *lines])) from None
    for key, model in config.models.items():
        if model.name != key:
            raise _invalid(
                source,
                f"model {key!r}: field 'name' is {model.name!r}; it must equal the key "
                "(or be left out)",
            )
    return config


def _describe(error: Any) -> str:
    loc = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        message = "unknown field (check the spelling; see the schema in serving/config.py)"
    if error.get("type") == "route_target":
        return message  # every line names its route and field already
    if len(loc) >= 2 and loc[0] in ("models", "routes"):
        field = ".".join(str(part) for part in loc[2:]) or "<entry>"
        what = "model" if loc[0] == "models" else "route"
        if loc[2:] == ("[key]",):
            return f"{what} {loc[1]!r}: invalid name: {message}"
        return f"{what} {loc[1]!r}, field {field!r}: {message}"
    field = ".".join(str(part) for part in loc) or "<top level>"
    return f"field {field!r}: {message}"


def _invalid(source: Path | str, detail: str) -> ServingError:
    return ServingError(ServingErrorCode.CONFIG_INVALID, f"{source}: {detail}")


def _check_duplicate_keys(node: Any) -> None:
    """Refuse a mapping that repeats a key: plain PyYAML silently keeps the last one."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
            _check_duplicate_keys(value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(item)
