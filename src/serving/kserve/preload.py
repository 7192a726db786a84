"""What a KServe model server loads when it starts (``--load FILE``): one model, its
versions by archive file name in the model store, and its default version.

On Kubernetes the predictor's init container writes the file (``modelreg k8s archives
--kserve-load-out``) from the versions of its pod, and the server loads them before it
answers; locally ``serve up`` loads through the management API instead.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from serving.naming import is_archive_file_name, registry_version, served_name

PLAN_NAME = "load.json"


class LoadPlan(BaseModel):
    """A model's versions (registry version -> archive file name) and its default version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, description="The served name (serving.naming.served_name).")
    default: str | None = Field(default=None, description="Answers unversioned requests.")
    versions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LoadPlan:
        if served_name(self.model) != self.model:
            raise ValueError(f"model {self.model!r} is not a served name")
        for version, archive in self.versions.items():
            if registry_version(version) is None:
                raise ValueError(f"version {version!r} is not a registry version (1, 2, ...)")
            if not is_archive_file_name(archive):
                raise ValueError(f"{archive!r} is not a bare .mar file name")
        if self.default is not None and self.default not in self.versions:
            raise ValueError(f"default {self.default} is not among the versions to load")
        return self

    def order(self) -> list[str]:
        """The default first (the first version loaded), then the others ascending."""
        rest = sorted((v for v in self.versions if v != self.default), key=int)
        return ([self.default] if self.default is not None else []) + rest


class LoadPlanError(Exception):
    """The file is missing or is not a load plan; the message says which and why."""


def read_plan(path: Path) -> LoadPlan:
    try:
        return LoadPlan.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadPlanError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise LoadPlanError(f"{path} is not a load plan: {problems}") from None
