"""Drift between the registry's versions and the desired versions Terraform holds for the
cluster (the one owner: ``modelreg tf vars`` writes the tfvars, ``terraform apply`` the
ConfigMaps ``model-versions-<model>``), with which side is behind.

Both sides are stamped with the registry's change id per model (the audit id of its last
approved stage change; ``modelreg tf vars`` writes it as ``change_id``, Terraform puts it on
the ConfigMap as the annotation ``modelreg.io/change-id``), so a rollback in the registry is
read as "the cluster side is behind" (fix: write and apply the registry's versions), never as
a change to record in the registry (which would undo the rollback). Only a side edited after
it was written (same change id, other Production: a rollback made in Terraform first) or
written from a newer registry names the registry as the side behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry_mcp.deploy.kubernetes.desired import DesiredVersions, ModelVersions

Stage = Literal["production", "staging", "previous"]
Behind = Literal["cluster", "registry"]
Kind = Literal["tfvars", "live"]


class ClusterSide(BaseModel):
    """What is compared: the tfvars file, or the live ConfigMaps Terraform applied from it."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    where: str = Field(description="The file, or the cluster and namespace read.")
    tfvars: Path = Field(description="The tfvars file Terraform applies.")

    def fix(self) -> str:
        """The one command that writes the registry's versions and applies them."""
        return (
            f"apply the new desired versions: `modelreg tf vars --out {self.tfvars} && "
            f"terraform -chdir={self.tfvars.parent} apply`"
        )


class StageDrift(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    stage: Stage
    registry: int | None
    cluster: int | None = Field(description="What the tfvars / live ConfigMap asks for.")
    registry_change: int | None = Field(
        description="The registry's change id for the model (audit id of its last approved "
        "stage change)."
    )
    cluster_change: int | None = Field(
        description="The change id the tfvars / live ConfigMap was written from (None: none, "
        "or an older file without one)."
    )
    behind: Behind
    why: str
    fix: str


class DriftReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = Field(description="The tfvars file or live cluster compared.")
    in_sync: bool
    drift: list[StageDrift]


def _judge(
    model: str, ours: ModelVersions, theirs: ModelVersions, side: ClusterSide
) -> tuple[Behind, str, str]:
    """Which side is behind, why, and the command that fixes it, from the change ids both
    sides carry (audit ids only grow): the registry is the source of truth, so the cluster
    side is behind unless it was written from a registry change newer than this registry's."""
    mine, written = ours.change_id, theirs.change_id
    where = side.where
    if written is not None and (mine is None or written > mine):
        return (
            "registry",
            f"{where} was written from registry change {written}, newer than this registry's "
            f"({mine or 'none'}): another registry wrote it",
            "point MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI at the registry that wrote it "
            "(do not apply this registry's older versions)",
        )
    if written is not None and written == mine:
        # Written from this very registry state, then edited: a change made on the cluster
        # side first (the runbook's rollback in Terraform while the registry is down).
        why = f"{where} was edited after it was written from registry change {written}"
        wanted = theirs.production
        if wanted is not None and wanted != ours.production:
            return (
                "registry",
                why,
                f"record it: `modelreg rollback {model} --to {wanted} -r "
                f'"recorded the rollback made in {side.tfvars.name}"`',
            )
        return "cluster", why, f"{side.fix()} (a version change goes through the registry)"
    if side.kind == "live" and theirs == ModelVersions():
        return "cluster", f"{where} has no versions of {model}: not applied yet", side.fix()
    since = "an older change" if written is None else f"change {written}"
    return (
        "cluster",
        f"the registry moved (change {mine or 'none'}) after {where} was written from {since}",
        side.fix(),
    )


def compare(registry: DesiredVersions, cluster: DesiredVersions, side: ClusterSide) -> DriftReport:
    found: list[StageDrift] = []
    stages: tuple[Stage, ...] = ("production", "staging", "previous")
    for model in sorted(set(registry.models) | set(cluster.models)):
        ours, theirs = registry.of(model), cluster.of(model)
        if all(getattr(ours, s) == getattr(theirs, s) for s in stages):
            continue
        behind, why, fix = _judge(model, ours, theirs, side)
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
    return DriftReport(source=side.where, in_sync=not found, drift=found)
