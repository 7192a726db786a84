"""Where the local prediction router listens and keeps its files (env ``MODELREG_ROUTER_*``).

    MODELREG_ROUTER_PORT         its port (default 8090; TorchServe's defaults are 8080-8082,
                                 7070-7071, and the router may not take one of the ports
                                 TorchServe is configured with)
    MODELREG_ROUTER_HOST         its address (default 127.0.0.1; off loopback the router
                                 refuses to start without client API keys)
    MODELREG_ROUTER_DIR          its files (default <serving dir>/router): admin token,
                                 state file, pid file, log
    MODELREG_ROUTER_CLIENT_KEYS  the client key file ({"keys": {sha256: client}}), optional

The admin token is not a setting: ``serve up`` generates it once into ``<router dir>/
admin_token`` (0600) and the router process receives it in its environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import Settings

DEFAULT_PORT = 8090


class LocalRouterSettings(BaseSettings):
    """The router next to the local TorchServe."""

    model_config = SettingsConfigDict(env_prefix="MODELREG_ROUTER_", extra="ignore", frozen=True)

    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, description="The router's port.")
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9.:_-]+$",
        description="The router's address; off loopback it needs client keys.",
    )
    dir: Path | None = Field(
        default=None, description="The router's files; default <serving dir>/router."
    )
    client_keys: Path | None = Field(
        default=None, description="Client API key file; required off loopback."
    )


class RouterPlace(BaseModel):
    """Router settings resolved against the registry's settings (paths absolute, ports checked)."""

    model_config = ConfigDict(frozen=True)

    port: int
    host: str
    directory: Path
    client_keys: Path | None = None

    @classmethod
    def resolve(cls, settings: Settings, router: LocalRouterSettings | None = None) -> RouterPlace:
        """INVALID_INPUT names a bad ``MODELREG_ROUTER_*`` value or a port TorchServe uses."""
        if router is None:
            try:
                router = LocalRouterSettings()
            except ValidationError as exc:
                problems = "; ".join(
                    f"MODELREG_ROUTER_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                    for e in exc.errors()
                )
                raise RegistryError(ErrorCode.INVALID_INPUT, problems) from None
        taken = {
            "inference": settings.serving_inference_port,
            "management": settings.serving_management_port,
            "metrics": settings.serving_metrics_port,
            "gRPC inference": settings.serving_grpc_inference_port,
            "gRPC management": settings.serving_grpc_management_port,
        }
        for what, port in taken.items():
            if router.port == port:
                raise RegistryError(
                    ErrorCode.INVALID_INPUT,
                    f"MODELREG_ROUTER_PORT is {port}, which TorchServe uses for its {what} API "
                    f"(MODELREG_SERVING_*_PORT); choose another port (default {DEFAULT_PORT}).",
                )
        directory = router.dir or settings.resolved_serving_dir / "router"
        return cls(
            port=router.port,
            host=router.host,
            directory=directory.expanduser().resolve(),
            client_keys=None if router.client_keys is None else router.client_keys.expanduser(),
        )

    @property
    def token_file(self) -> Path:
        return self.directory / "admin_token"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def pid_file(self) -> Path:
        return self.directory / "router.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "router.log"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"
