"""Terraform's desired versions (Terraform is their one owner on a cluster):
``model_versions.auto.tfvars.json`` written from the registry and models.yaml, and read back
(for drift). The variable it fills is ``models`` of
``terraform/`` (and of ``terraform/modules/model-versions``)::

    {"models": {"<name>": {"version": 3, "previous": 2, "staging": 4,
                           "replicas": 2, "cpu": "500m", "memory": "1Gi", "gpu": 0,
                           "change_id": 41}},
     "router_table": "<the router's table.json, as text>"}

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
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions
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
) -> TfVars:
    """``cards`` resolve ``best_of_task`` routes of the router's table, as for the render."""
    found = {}
    for name in models:
        versions, res = desired.of(name), config.get(name).kubernetes
        found[name] = TfModel(
            version=versions.production,
            previous=versions.previous,
            staging=versions.staging,
            replicas=res.replicas,
            cpu=res.cpu,
            memory=res.memory,
            gpu=res.gpu,
            change_id=versions.change_id,
        )
    table = router_table(config, desired, models, cards).text()
    return TfVars(models=found, router_table=table)


def tfvars_text(tfvars: TfVars) -> str:
    return json.dumps(tfvars.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


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
