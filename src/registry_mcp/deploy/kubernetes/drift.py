"""Drift between the registry's versions and the desired versions written for the cluster
(Terraform's tfvars or the rendered ConfigMaps), with which side is behind."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml  # type: ignore[import-untyped]  # no stubs installed
from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions, k8s_name
from registry_mcp.deploy.kubernetes.workloads import versions_configmap
from registry_mcp.domain.errors import ErrorCode, RegistryError

Stage = Literal["production", "staging", "previous"]
Behind = Literal["cluster", "registry"]


class StageDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    stage: Stage
    registry: int | None
    cluster: int | None = Field(description="What the tfvars / rendered ConfigMap asks for.")
    behind: Behind
    fix: str


class DriftReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The tfvars file or rendered tree compared.")
    in_sync: bool
    drift: list[StageDrift]


def _behind(registry: ModelVersions, cluster: ModelVersions) -> Behind:
    # A Production the cluster asks for that the registry now holds as previous was changed
    # on the cluster side first (a rollback through Terraform): the registry must record it.
    if (
        cluster.production is not None
        and cluster.production != registry.production
        and cluster.previous == registry.production
    ):
        return "registry"
    return "cluster"  # the registry is the source of truth: it moved, the cluster follows


def compare(registry: DesiredVersions, cluster: DesiredVersions, source: str) -> DriftReport:
    found: list[StageDrift] = []
    stages: tuple[Stage, ...] = ("production", "staging", "previous")
    for model in sorted(set(registry.models) | set(cluster.models)):
        ours, theirs = registry.of(model), cluster.of(model)
        behind = _behind(ours, theirs)
        for stage in stages:
            want, have = getattr(ours, stage), getattr(theirs, stage)
            if want == have:
                continue
            if behind == "cluster":
                fix = (
                    "run `modelreg tf vars` then `terraform -chdir=terraform apply` (or "
                    "`modelreg k8s render` then `kubectl apply -k k8s/overlays/<overlay>`)"
                )
            else:
                fix = (
                    "record the change in the registry (`modelreg rollback` / `modelreg "
                    "promote`), or revert the tfvars with `modelreg tf vars`"
                )
            found.append(
                StageDrift(
                    model=model, stage=stage, registry=want, cluster=have, behind=behind, fix=fix
                )
            )
    return DriftReport(source=source, in_sync=not found, drift=found)


def read_rendered(tree: Path, models: list[str]) -> DesiredVersions:
    """The versions in ``tree/base/kustomization.yaml``'s ConfigMap generators."""
    path = tree / "base" / "kustomization.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"{path} does not exist; render it with `modelreg k8s render --out {tree}`",
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(ErrorCode.INVALID_INPUT, f"cannot read {path}: {exc}") from None
    generators = {g.get("name"): g for g in (doc or {}).get("configMapGenerator", [])}
    found: dict[str, ModelVersions] = {}
    for model in models:
        generator = generators.get(versions_configmap(k8s_name(model)))
        if generator is None:
            continue
        data = dict(str(item).split("=", 1) for item in generator.get("literals", []))

        def num(key: str, data: dict[str, str] = data) -> int | None:
            value = data.get(key, "")
            return int(value) if value.isdigit() else None

        found[model] = ModelVersions(
            production=num("PRODUCTION"), staging=num("STAGING"), previous=num("PREVIOUS")
        )
    return DesiredVersions(models=found)
