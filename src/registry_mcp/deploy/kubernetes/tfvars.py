"""Terraform's desired versions (Terraform is their one owner on a cluster):
``model_versions.auto.tfvars.json`` written from the registry and models.yaml, and read back
(for drift). The variable it fills is ``models`` of
``terraform/`` (and of ``terraform/modules/model-versions``)::

    {"models": {"<name>": {"version": 3, "previous": 2, "staging": 4,
                           "replicas": 2, "cpu": "500m", "memory": "1Gi", "gpu": 0,
                           "change_id": 41}},
     "router_table": "<the router's table.json, as text>"}

A kserve-backed model also has ``"backend": "kserve"`` and, during a rollout with KServe's
canary, ``"canary_percent": 10`` (``modelreg tf vars --kserve-canary MODEL=10``); both are
left out where they are the defaults (torchserve, no canary), so files of TorchServe-only
platforms read as before.

``version`` is the Production version; null where the registry has none. ``change_id`` is
the audit id of the model's last approved stage change these versions come from (null:
none), so ``modelreg k8s diff`` knows whether the file or the registry is newer; Terraform
puts it on ConfigMap ``model-versions-<model>`` as annotation ``modelreg.io/change-id``.
``router_table`` is the router's table for the same versions (``routertable.router_table``),
which Terraform writes to ConfigMap ``router-table``; the module refuses a table whose
versions disagree with ``models``. Older files without it still read (None).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions
from registry_mcp.deploy.kubernetes.inferenceservice import Backend, backend_of
from registry_mcp.deploy.kubernetes.routertable import Cards, router_table
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.config import ModelsConfig

TFVARS_NAME = "model_versions.auto.tfvars.json"


class TfModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int | None = Field(default=None, ge=1, description="Production.")
    previous: int | None = Field(default=None, ge=1)
    staging: int | None = Field(default=None, ge=1)
    replicas: int = Field(ge=0)
    cpu: str
    memory: str
    gpu: int = Field(ge=0)
    change_id: int | None = Field(
        default=None, ge=1, description="The registry change these versions come from."
    )
    backend: Backend = "torchserve"
    canary_percent: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="kserve only: KServe's canaryTrafficPercent for the newest revision.",
    )

    def versions(self) -> ModelVersions:
        return ModelVersions(
            production=self.version,
            staging=self.staging,
            previous=self.previous,
            change_id=self.change_id,
        )


class TfVars(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, TfModel]
    router_table: str | None = Field(
        default=None, description="The router's table.json for these versions (None: older file)."
    )

    def desired(self) -> DesiredVersions:
        return DesiredVersions(models={n: m.versions() for n, m in self.models.items()})


def build_tfvars(
    config: ModelsConfig,
    desired: DesiredVersions,
    models: list[str],
    cards: Cards | None = None,
    canaries: Mapping[str, int] | None = None,
) -> TfVars:
    """``cards`` resolve ``best_of_task`` routes of the router's table, as for the render;
    ``canaries`` are KServe canary percents of kserve-backed models (``kserve_canaries``)."""
    found = {}
    for name in models:
        versions, res = desired.of(name), config.get(name).kubernetes
        canary = (canaries or {}).get(name)
        found[name] = TfModel(
            version=versions.production,
            previous=versions.previous,
            staging=versions.staging,
            replicas=res.replicas,
            cpu=res.cpu,
            memory=res.memory,
            gpu=res.gpu,
            change_id=versions.change_id,
            backend=backend_of(config.get(name)),
            canary_percent=canary,
        )
    table = router_table(config, desired, models, cards).text()
    return TfVars(models=found, router_table=table)


_DEFAULTS_LEFT_OUT = {"backend": "torchserve", "canary_percent": None}


def tfvars_text(tfvars: TfVars) -> str:
    data = tfvars.model_dump(mode="json")
    for model in data["models"].values():
        for key, default in _DEFAULTS_LEFT_OUT.items():
            if model[key] == default:
                del model[key]
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_canary(text: str) -> tuple[str, int]:
    """``"mnist-classifier=10"`` -> ("mnist-classifier", 10)."""
    model, sep, percent = text.rpartition("=")
    if not sep or not model or not percent.isdigit():
        raise _invalid(
            f"--kserve-canary {text!r}: give MODEL=PERCENT, "
            "e.g. --kserve-canary mnist-classifier=10"
        )
    return model, int(percent)


def kserve_canaries(
    config: ModelsConfig,
    desired: DesiredVersions,
    models: list[str],
    written: TfVars | None,
    asked: Mapping[str, int],
) -> dict[str, int]:
    """Check ``--kserve-canary`` percents against the platform; the percents to write.

    A canary splits the requests between the predictor's newest revision (this file's
    versions) and the one before it (the versions of ``written``, the file Terraform last
    had). The router names a version in every request, so the Production version of this
    file must be loaded by both: it must be among ``written``'s versions (a promotion of the
    Staging version, or a rollback to the warm previous one)."""
    for model, percent in asked.items():
        if model not in models:
            raise _invalid(f"--kserve-canary {model}={percent}: no model {model!r} to serve")
        if backend_of(config.get(model)) != "kserve":
            raise _invalid(
                f"--kserve-canary {model}={percent}: {model} is torchserve-backed; a canary "
                "of KServe is only for models with backend: kserve in models.yaml"
            )
        if not 0 <= percent <= 100:
            raise _invalid(f"--kserve-canary {model}={percent}: give a percent from 0 to 100")
        production = desired.of(model).production
        before = written.desired().of(model).loaded() if written is not None else []
        if percent > 0 and (production is None or production not in before):
            raise _invalid(
                f"--kserve-canary {model}={percent}: the revision it would split with does "
                f"not load v{production} (Terraform's file loads "
                f"{','.join(map(str, before)) or 'nothing'}), so the router's requests for "
                f"v{production} would reach pods without it; promote v{production} to Staging "
                "and apply that first, or apply without --kserve-canary"
            )
    return dict(asked)


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_INPUT, message)


def write_tfvars(tfvars: TfVars, out: Path) -> None:
    """Write atomically (a temporary file renamed over ``out``)."""
    if not out.parent.is_dir():
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"cannot write {out}: directory {out.parent} does not exist (run from the "
            "repository root, or pass --out)",
        )
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(tfvars_text(tfvars), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"cannot write {out}: {exc.strerror or exc}"
        ) from None


def read_tfvars(path: Path) -> TfVars:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"{path} does not exist; write it with `modelreg tf vars --out {path}`",
        ) from None
    except (OSError, ValueError) as exc:
        raise RegistryError(ErrorCode.INVALID_INPUT, f"cannot read {path}: {exc}") from None
    try:
        return TfVars.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RegistryError(ErrorCode.INVALID_INPUT, f"{path}: {problems}") from None
