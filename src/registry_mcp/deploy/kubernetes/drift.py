"""Drift between the registry's versions and the desired versions written for the cluster
(Terraform's tfvars or the rendered ConfigMaps), with which side is behind.

Both sides are stamped with the registry's change id per model (the audit id of its last
approved stage change; ``modelreg tf vars`` writes it as ``change_id``, ``modelreg k8s
render`` as the ConfigMap annotation ``modelreg.io/change-id``), so a rollback in the registry
is read as "the cluster side is behind" (fix: write it again), never as a change to record in
the registry (which would undo the rollback). Only a file edited after it was written (same
change id, other Production: a rollback made in Terraform first) or written from a newer
registry names the registry as the side behind."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml  # type: ignore[import-untyped]  # no stubs installed
from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.deploy.kubernetes.desired import (
    CHANGE_ID_ANNOTATION,
    DesiredVersions,
    ModelVersions,
    k8s_name,
)
from registry_mcp.deploy.kubernetes.workloads import versions_configmap
from registry_mcp.domain.errors import ErrorCode, RegistryError

Stage = Literal["production", "staging", "previous"]
Behind = Literal["cluster", "registry"]
Source = Literal["tfvars", "rendered"]


class StageDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    stage: Stage
    registry: int | None
    cluster: int | None = Field(description="What the tfvars / rendered ConfigMap asks for.")
    registry_change: int | None = Field(
        description="The registry's change id for the model (audit id of its last approved "
        "stage change)."
    )
    cluster_change: int | None = Field(
        description="The change id the tfvars / rendered tree was written from (None: an "
        "older file without one)."
    )
    behind: Behind
    why: str
    fix: str


class DriftReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The tfvars file or rendered tree compared.")
    in_sync: bool
    drift: list[StageDrift]


def rewrite_command(kind: Source, path: Path) -> str:
    """The one command that writes the registry's versions to ``path`` and applies them."""
    if kind == "tfvars":
        return f"`modelreg tf vars --out {path}` then `terraform -chdir={path.parent} apply`"
    return (
        f"`modelreg k8s render --out {path}` then `kubectl apply -k {path}/overlays/cpu` "
        "(or overlays/gpu)"
    )


def _judge(
    model: str, ours: ModelVersions, theirs: ModelVersions, kind: Source, path: Path
) -> tuple[Behind, str, str]:
    """Which side is behind, why, and the command that fixes it, from the change ids both
    sides carry (audit ids only grow): the registry is the source of truth, so the cluster
    side is behind unless it was written from a registry change newer than this registry's."""
    mine, written = ours.change_id, theirs.change_id
    rewrite = rewrite_command(kind, path)
    if written is not None and (mine is None or written > mine):
        return (
            "registry",
            f"{path} was written from registry change {written}, newer than this registry's "
            f"({mine or 'none'}): another registry wrote it",
            "point MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI at the registry that wrote it, "
            f"or run {rewrite} to serve this registry's versions",
        )
    if written is not None and written == mine:
        # Written from this very registry state, then edited: a change made on the cluster
        # side first (the runbook's rollback in Terraform while the registry is down).
        why = f"{path} was edited after it was written from registry change {written}"
        wanted = theirs.production
        if wanted is not None and wanted != ours.production:
            return (
                "registry",
                why,
                f"record it: `modelreg rollback {model} --to {wanted} -r "
                f'"recorded the rollback made in {path.name}"` (or run {rewrite} to '
                "discard the edit)",
            )
        return "cluster", why, f"run {rewrite} (a version change goes through the registry)"
    since = "an older change" if written is None else f"change {written}"
    return (
        "cluster",
        f"the registry moved (change {mine or 'none'}) after {path} was written from {since}",
        f"run {rewrite}",
    )


def compare(
    registry: DesiredVersions, cluster: DesiredVersions, kind: Source, path: Path
) -> DriftReport:
    found: list[StageDrift] = []
    stages: tuple[Stage, ...] = ("production", "staging", "previous")
    for model in sorted(set(registry.models) | set(cluster.models)):
        ours, theirs = registry.of(model), cluster.of(model)
        if all(getattr(ours, s) == getattr(theirs, s) for s in stages):
            continue
        behind, why, fix = _judge(model, ours, theirs, kind, path)
        for stage in stages:
            want, have = getattr(ours, stage), getattr(theirs, stage)
            if want == have:
                continue
            found.append(
                StageDrift(
                    model=model,
                    stage=stage,
                    registry=want,
                    cluster=have,
                    registry_change=ours.change_id,
                    cluster_change=theirs.change_id,
                    behind=behind,
                    why=why,
                    fix=fix,
                )
            )
    return DriftReport(source=str(path), in_sync=not found, drift=found)


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

        stamp = str(
            (generator.get("options") or {}).get("annotations", {}).get(CHANGE_ID_ANNOTATION, "")
        )
        found[model] = ModelVersions(
            production=num("PRODUCTION"),
            staging=num("STAGING"),
            previous=num("PREVIOUS"),
            change_id=int(stamp) if stamp.isdigit() and int(stamp) >= 1 else None,
        )
    return DesiredVersions(models=found)
