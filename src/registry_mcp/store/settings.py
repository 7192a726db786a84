"""One Settings object, built once at the edge (CLI or server start) and passed down."""

from __future__ import annotations

import getpass
import os
import pwd
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_mcp.store import files


def _default_home() -> Path:
    """~/.modelreg, found without a login shell (MCP clients start servers with a bare env)."""
    home = os.environ.get("HOME", "")
    if not home:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir
        except KeyError:
            home = ""
    if not home or not os.path.isabs(home):
        raise ValueError(
            f"cannot determine the data home (HOME={home!r}); set MODELREG_HOME to an "
            "absolute path or pass --home"
        )
    return Path(home) / ".modelreg"


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


class Settings(BaseSettings):
    """Where the registry lives and how it behaves.

    With nothing configured the registry is embedded: SQLite and local artifacts under
    ``MODELREG_HOME``. ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` point it elsewhere,
    e.g. ``postgresql+psycopg://user:pw@host/db``.
    """

    model_config = SettingsConfigDict(env_prefix="MODELREG_", extra="ignore", populate_by_name=True)

    home: Path = Field(
        default_factory=_default_home,
        description="Data home: SQLite database, artifacts, lock files.",
    )
    tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "MODELREG_TRACKING_URI"),
        description="MLflow tracking store; default sqlite:///<home>/mlflow.db.",
    )
    registry_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_REGISTRY_URI", "MODELREG_REGISTRY_URI"),
        description="MLflow registry store; default: the tracking store.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Artifact location for new experiments; default file://<home>/artifacts.",
    )
    experiment: str = Field(default="modelreg", description="Experiment that training logs to.")
    actor: str = Field(
        default_factory=_default_actor, description="Who is acting, recorded in the audit trail."
    )
    lock_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    require_complete_card: bool = Field(
        default=True, description="Refuse Production for versions whose model card is incomplete."
    )
    four_eyes: bool = Field(
        default=False,
        description="A Production change needs an approver other than the person who asked "
        "(the request is filed as a proposal for someone else to approve).",
    )
    page_size: int = Field(default=50, ge=1, le=1000, description="Default page size of lists.")
    proposal_ttl_s: float = Field(
        default=24 * 3600,
        gt=0,
        le=30 * 24 * 3600,
        description="How long a pending proposal waits for a human before it expires.",
    )
    serving_dir: Path | None = Field(
        default=None, description="Local TorchServe's working directory; default <home>/serving."
    )
    serving_inference_port: int = Field(default=8080, ge=1, le=65535)
    serving_management_port: int = Field(default=8081, ge=1, le=65535)
    serving_metrics_port: int = Field(default=8082, ge=1, le=65535)
    serving_grpc_inference_port: int = Field(default=7070, ge=1, le=65535)
    serving_grpc_management_port: int = Field(default=7071, ge=1, le=65535)
    serving_kserve_port: int = Field(
        default=8085,
        ge=1,
        le=65535,
        description="Local KServe model server's port (only started for backend: kserve models).",
    )
    kserve_python: Path | None = Field(
        default=None,
        description="A Python with the kserve package, which runs the local KServe model "
        "server; default: .venv-kserve/bin/python beside this Python's venv (`make kserve-venv`).",
    )
    models_config: Path | None = Field(
        default=None,
        description="models.yaml (per-model serving settings); default: <home>/models.yaml "
        "if present, else the one shipped in the package (registry_mcp/defaults).",
    )
    guard_stats_from: Literal["router", "prometheus"] = Field(
        default="router",
        description="Where guards read a version's requests: the router's own window (one "
        "router) or Prometheus (every router replica summed; a cluster).",
    )
    prometheus_url: str | None = Field(
        default=None,
        description="Prometheus' HTTP API for guard_stats_from=prometheus, e.g. "
        "http://prometheus.monitoring:9090.",
    )
    prometheus_scrape_interval_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Prometheus' scrape interval (a guard's window is widened by one).",
    )
    mcp_token: SecretStr | None = Field(
        default=None,
        description="Bearer token required by the streamable-HTTP MCP server (always, once set).",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def ensure_home(self) -> Path:
        """Create the data home, private to this user (0700) whatever the umask."""
        files.private_dir(self.home)
        return self.home

    @property
    def resolved_serving_dir(self) -> Path:
        return (self.serving_dir or self.home / "serving").expanduser().resolve()

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def resolved_registry_uri(self) -> str:
        return self.registry_uri or self.resolved_tracking_uri

    @property
    def registry_uri_setting(self) -> str:
        """The variable that chose the registry store (what an error tells the user to fix)."""
        return "MLFLOW_REGISTRY_URI" if self.registry_uri else "MLFLOW_TRACKING_URI"

    @property
    def resolved_artifact_root(self) -> str:
        return self.artifact_root or (self.home / "artifacts").as_uri()


def controller_heartbeat(home: Path) -> Path:
    """The file the serving controller of ``home`` touches at each tick (read by
    ``serve status`` and the registry exporter)."""
    return home / "controller" / "heartbeat"
