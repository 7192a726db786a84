"""Refuse desired versions a cluster's pods could not fetch: artifacts under ``file://``.

A pod's init container downloads each version it loads from MLflow (``modelreg k8s
archives``). A version whose download URI is ``file://...`` (the default artifact root,
``$MODELREG_HOME/artifacts``) lives on the disk of the machine that trained it; MLflow's
server refuses to hand it out and no pod sees that disk, so the pods would crash-loop. For a
cluster, artifacts must be stored remotely: MLflow's artifact proxy (``mlflow-artifacts:/``,
an MLflow server started with ``--serve-artifacts``) or S3-compatible storage, chosen with
``MODELREG_ARTIFACT_ROOT`` before the training run logs the model.
"""

from __future__ import annotations

from urllib.parse import urlparse

from registry_mcp.core.registry import Registry
from registry_mcp.deploy.kubernetes.desired import DesiredVersions
from registry_mcp.domain.errors import ErrorCode, RegistryError

ALLOW_FLAG = "--allow-local-artifacts"


def is_local(uri: str) -> bool:
    """True for ``file://`` URIs and bare paths (what only the writing machine can read)."""
    scheme = urlparse(uri).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and uri[1:3] in (":\\", ":/"))


def local_versions(
    registry: Registry, desired: DesiredVersions, models: list[str]
) -> list[tuple[str, int, str]]:
    """(model, version, download URI) of every loaded version stored locally."""
    found = []
    for model in models:
        for version in desired.of(model).loaded():
            uri = registry.download_uri(model, version)
            if is_local(uri):
                found.append((model, version, uri))
    return found


def require_fetchable(registry: Registry, desired: DesiredVersions, models: list[str]) -> None:
    """Raise one INVALID_INPUT error naming every version a pod could not fetch, and the
    setting that stores new versions where pods can."""
    local = local_versions(registry, desired, models)
    if not local:
        return
    names = ", ".join(f"{m} v{v}" for m, v, _ in local)
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        f"pods cannot fetch {names}: stored under {local[0][2]} on this machine. Set "
        "MODELREG_ARTIFACT_ROOT to a remote artifact store (mlflow-artifacts:/modelreg with "
        "MLFLOW_TRACKING_URI an MLflow server started with --serve-artifacts, or "
        "s3://<bucket>/modelreg) and MODELREG_EXPERIMENT to a new experiment (an existing one "
        "keeps its artifact location), then retrain, register and promote those versions; "
        f"or pass {ALLOW_FLAG} for output that is only validated offline",
    )
