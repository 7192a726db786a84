"""The local KServe model server of a deployment: where it runs, on which Python, its client.

KServe's model server needs the ``kserve`` package, which lives in a venv of its own
(``make kserve-venv``: it pins older libraries than the project's venv). The interpreter is
``MODELREG_KSERVE_PYTHON`` if set, else this Python when it has kserve, else
``.venv-kserve/bin/python`` beside this Python's venv. Without one, everything but starting
the server works (status, stop); starting it names ``make kserve-venv``.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.store.settings import Settings
from serving.kserve.backend import KServeBackend
from serving.kserve.local import LocalKServe

_HOW = (
    "build it with `make kserve-venv` (in the project's checkout), or set "
    "MODELREG_KSERVE_PYTHON to a Python that has the kserve package"
)


def find_kserve_python(settings: Settings) -> tuple[str | None, str | None]:
    """(the interpreter, None) or (None, why there is none)."""
    if settings.kserve_python is not None:
        chosen = settings.kserve_python.expanduser()
        if not chosen.is_file():
            return None, f"MODELREG_KSERVE_PYTHON is {chosen}, which is not a file; {_HOW}"
        return str(chosen), None
    if importlib.util.find_spec("kserve") is not None:
        return sys.executable, None
    beside = Path(sys.prefix).parent / ".venv-kserve" / "bin" / "python"
    if beside.is_file():
        return str(beside), None
    return None, f"no Python with the kserve package was found (looked for {beside}); {_HOW}"


@dataclass
class KServeSide:
    """The local KServe server and the client the control plane drives it with."""

    server: LocalKServe
    backend: KServeBackend
    problem: str | None = None  # why the server cannot be started (no interpreter)

    def up(self) -> None:
        if self.problem is not None and self.server.pid is None:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"a model in models.yaml has backend: kserve, but {self.problem}.",
            )
        self.server.up()

    def running(self) -> bool:
        return self.server.healthy()

    def close(self) -> None:
        self.backend.close()


def open_kserve(settings: Settings, model_store: Path) -> KServeSide:
    """The KServe side of the local stack, loading archives from ``model_store`` (TorchServe's:
    one archive per version serves both); nothing is started here."""
    python, problem = find_kserve_python(settings)
    server = LocalKServe(
        settings.resolved_serving_dir / "kserve",
        port=settings.serving_kserve_port,
        python=python or sys.executable,
        model_store=model_store,
    )
    http = httpx.Client(timeout=httpx.Timeout(120.0, connect=2.0), trust_env=False)
    return KServeSide(server, KServeBackend(server.url, server.token, http=http), problem)
