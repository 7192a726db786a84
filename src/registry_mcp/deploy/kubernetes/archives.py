"""Build the ``.mar`` archives of chosen versions into a directory (a pod's model store),
with the same archive code ``modelreg serve up`` uses (serving.archive.build_archive)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.deployment import serving_error
from registry_mcp.domain.errors import ErrorCode, RegistryError
from serving.archive import build_archive
from serving.config import ModelsConfig
from serving.errors import ServingError


class BuiltArchive(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    file_name: str
    cached: bool


def parse_versions(text: str) -> list[int]:
    """``"1,3"`` -> [1, 3]; ``""`` -> [] (a model with nothing to serve yet)."""
    found: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"--versions: {part!r} is not a version number (give e.g. --versions 1,3)",
            )
        found.add(int(part))
    return sorted(found)


def parse_production(text: str) -> int | None:
    """``"2"`` -> 2; ``""`` -> None (no Production: the ConfigMap's empty PRODUCTION)."""
    found = parse_versions(text)
    if len(found) > 1:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"--production: give one version, not {text!r}"
        )
    return found[0] if found else None


def build_archives(
    registry: Registry, models: ModelsConfig, model: str, versions: list[int], out: Path
) -> list[BuiltArchive]:
    for version in versions:  # every version must exist before anything is built
        registry.get_version(model, version)
    task = models.get(model).task
    built = []
    for version in versions:
        trusted = registry.trust.is_trusted(model, version)
        with tempfile.TemporaryDirectory(prefix="modelreg-archive-") as tmp:
            model_dir = registry.download_version(model, version, Path(tmp))
            try:
                result = build_archive(
                    model_dir, model, version, out, allow_code_on_load=trusted, task=task
                )
            except ServingError as exc:
                raise serving_error(exc) from None
        built.append(
            BuiltArchive(
                model=model, version=version, file_name=result.file_name, cached=result.cached
            )
        )
    return built
