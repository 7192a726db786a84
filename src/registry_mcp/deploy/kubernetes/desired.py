"""The desired versions per model (Production, Staging, previous) and their checksum.

The data lands in Terraform's ``model_versions.auto.tfvars.json`` and from there in each
model's ConfigMap ``model-versions-<model>`` (Terraform's; the kustomize tree holds no
version data); the checksum is ``sha256`` of the compact JSON of the ConfigMap data with
sorted keys, which is what Terraform's ``sha256(jsonencode(data))`` computes for the pod
template's ``checksum/model-versions``.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.core.registry import Registry
from registry_mcp.domain import validation
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.config import ModelsConfig

CHECKSUM_ANNOTATION = "checksum/model-versions"
CHANGE_ID_ANNOTATION = "modelreg.io/change-id"


class ModelVersions(BaseModel):
    """Which versions of one model serving should hold (None = no such stage)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    production: int | None = Field(default=None, ge=1)
    staging: int | None = Field(default=None, ge=1)
    previous: int | None = Field(default=None, ge=1, description="Kept warm for rollback.")
    change_id: int | None = Field(
        default=None,
        ge=1,
        description="The registry's change these versions come from (the audit id of the "
        "model's last approved stage change; None: unknown). Not part of the ConfigMap data.",
    )

    def loaded(self) -> list[int]:
        """The versions a TorchServe pod loads, ascending."""
        found = {self.production, self.staging, self.previous}
        return sorted(v for v in found if v is not None)

    def configmap_data(self) -> dict[str, str]:
        """The ConfigMap data (also Terraform's ``model_configmaps[name]``)."""

        def text(value: int | None) -> str:
            return "" if value is None else str(value)

        return {
            "PRODUCTION": text(self.production),
            "STAGING": text(self.staging),
            "PREVIOUS": text(self.previous),
            "VERSIONS": ",".join(str(v) for v in self.loaded()),
        }

    def checksum(self) -> str:
        canonical = json.dumps(self.configmap_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class DesiredVersions(BaseModel):
    """Model name -> desired versions, for every model the platform runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, ModelVersions] = Field(default_factory=dict)

    def of(self, model: str) -> ModelVersions:
        return self.models.get(model, ModelVersions())


def k8s_name(model: str) -> str:
    """A DNS-1123 label for a model name (lower case, ``-`` for anything else)."""
    name = validation.kubernetes_name(model)
    if not name:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"model name {model!r} has no letter or digit to name its Kubernetes objects by",
        )
    return name


def platform_models(config: ModelsConfig, registry: Registry | None) -> list[str]:
    """The models of models.yaml plus the registry's models with a Production/Staging."""
    names = set(config.models)
    if registry is not None:
        cursor = None
        while True:
            page = registry.list_models(limit=1000, cursor=cursor)
            names.update(
                m.name
                for m in page.items
                if m.approved.production is not None or m.approved.staging is not None
            )
            cursor = page.next_cursor
            if cursor is None:
                break
    result = sorted(names)
    seen: dict[str, str] = {}
    for name in result:
        other = seen.setdefault(k8s_name(name), name)
        if other != name:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"models {other!r} and {name!r} map to the same Kubernetes name "
                f"{k8s_name(name)!r}; rename one",
            )
    return result


def desired_from_registry(registry: Registry, models: list[str]) -> DesiredVersions:
    """The versions a human last approved through modelreg (what serving follows)."""
    found: dict[str, ModelVersions] = {}
    for name in models:
        try:
            approved = registry.get_model(name, limit=1).model.approved
        except RegistryError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
            found[name] = ModelVersions()  # declared in models.yaml, not registered yet
            continue
        found[name] = ModelVersions(
            production=approved.production,
            staging=approved.staging,
            previous=approved.previous,
            change_id=registry.change_id(name),
        )
    return DesiredVersions(models=found)
