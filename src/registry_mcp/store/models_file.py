"""Which ``models.yaml`` is in effect, found the same way from a checkout or an install.

In order: ``MODELREG_MODELS_CONFIG`` (must exist), ``$MODELREG_HOME/models.yaml`` (if there
is one), else the default that ships inside the package (``registry_mcp/defaults``). The
result names its file, so commands can say which one they used; nothing falls back silently
to built-in defaults.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import Settings
from serving.config import ModelsConfig, load_models_config
from serving.errors import ServingError

Origin = Literal["MODELREG_MODELS_CONFIG", "data home", "packaged default"]


class ModelsFile(BaseModel):
    """A loaded ``models.yaml`` and where it came from."""

    model_config = ConfigDict(frozen=True)

    path: Path
    origin: Origin
    config: ModelsConfig

    def describe(self) -> str:
        return f"models config {self.path} ({self.origin})"


def packaged_default() -> Path:
    resource = importlib.resources.files("registry_mcp.defaults").joinpath("models.yaml")
    return Path(str(resource))


def load_models_file(settings: Settings) -> ModelsFile:
    """The models file in effect for ``settings``; INVALID_INPUT names a bad file and field."""
    origin: Origin
    if settings.models_config is not None:
        path, origin = settings.models_config.expanduser(), "MODELREG_MODELS_CONFIG"
        if not path.is_file():
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"MODELREG_MODELS_CONFIG points to {path}, which is not a file; fix the path "
                "or unset it to use the data home's models.yaml or the packaged default.",
            )
    elif (settings.home / "models.yaml").is_file():
        path, origin = settings.home / "models.yaml", "data home"
    else:
        path, origin = packaged_default(), "packaged default"
    try:
        config = load_models_config(path)
    except ServingError as exc:
        raise RegistryError(ErrorCode.INVALID_INPUT, str(exc)) from None
    return ModelsFile(path=path, origin=origin, config=config)
