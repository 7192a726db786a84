"""Every fenced ``bash`` command of the README, run as written in a fresh shell that reaches
`modelreg` the way the README says (``source .venv/bin/activate``), with the data home and the
ports of this test. Commands that need a cluster, a running TorchServe stack, a human at a
terminal or that start a long-running server are listed in ``SKIPPED`` with the reason (for
those, the program they start must still resolve in that shell)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry_mcp.core.registry import Registry
from serving.local import LocalPorts
from serving.router.server import free_port
from tests.conftest import Backend

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV = Path(sys.prefix)

SKIPPED: tuple[tuple[str, str], ...] = (
    (
        r"^make (demo|test)\b",
        "the demo and the whole suite take minutes (test_simulation runs the demo)",
    ),
    (r"^mlflow ui\b", "starts a long-running web server"),
    (r"^modelreg mcp --transport http\b", "starts a long-running MCP server"),
    (r"^modelreg metrics &", "starts a long-running exporter"),
    (r"^prometheus\b", "starts a long-running Prometheus"),
    (r"^modelreg chat\b", "interactive: needs a human at a terminal (tests/agent drive it)"),
    (
        r"^make bench-llm(-setup)?$",
        "compiles llama.cpp (10-20 minutes) and runs the local-LLM benchmark (minutes)",
    ),
    (r"^\.venv-llm/bin/python bench/llm_server\.py$", "starts a long-running llama.cpp server"),
    (
        r"^OPENAI_BASE_URL=\S+ MODELREG_AGENT_MODEL=\S+ \.venv/bin/modelreg chat$",
        "interactive, with a local LLM server running (bench/chat_llm.py measures it)",
    ),
    (
        r"^modelreg approvals (approve|deny) 7\b",
        "needs pending proposal #7 (its number comes from `approvals list`)",
    ),
    (
        r"^modelreg serve (up|reconcile)\b",
        "needs TorchServe (Java) started: tests/serving run these",
    ),
    (r"^modelreg predict\b", "needs a running TorchServe and router: tests/serving run these"),
    (r"^modelreg canary (start|stop)\b", "needs a running router and a warm Staging version"),
    (r"^curl .*127\.0\.0\.1:8090", "needs a running router on the default port"),
    (r"^modelreg k8s archives .*/srv/", "the init container's command, with the pod's paths"),
    (r"^(kubectl (create|apply|-n)|docker|kind)\b", "needs a Kubernetes cluster"),
    (
        r"^terraform -chdir=terraform (init|apply)\b",
        "the root module needs the kubernetes provider (a download) and a cluster",
    ),
    (
        r"^modelreg k8s diff --kubeconfig\b",
        "reads a live cluster: tests/k8s/test_cluster_side.py runs it against a fake API server",
    ),
)
EXIT_CODES: tuple[tuple[str, frozenset[int]], ...] = (
    (r"^modelreg k8s diff\b", frozenset({0, 3})),  # "drift; exit 3 when found"
)


@dataclass(frozen=True)
class Command:
    line: int
    text: str


def _strip_comment(text: str) -> str:
    """The command without a trailing ``# comment`` (outside quotes)."""
    quote = ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip()
    return text.rstrip()


def readme_commands() -> list[Command]:
    commands: list[Command] = []
    in_block = False
    pending = ""
    start = 0
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("```"):
            in_block = raw.strip() == "```bash" and not in_block
            continue
        if not in_block:
            continue
        text = _strip_comment(raw)
        if not text:
            continue
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        commands.append(Command(start, (pending + text.strip()).strip()))
        pending = ""
    return commands


def _skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPPED if re.search(pattern, command)), None)


def _allowed_codes(command: str) -> frozenset[int]:
    return next((c for p, c in EXIT_CODES if re.search(p, command)), frozenset({0}))


def test_the_readme_has_shell_commands_and_every_skip_is_used() -> None:
    commands = [c.text for c in readme_commands()]
    assert len(commands) > 30
    assert "modelreg mcp config" in commands
    for pattern, _ in SKIPPED:
        assert any(re.search(pattern, c) for c in commands), f"no README command {pattern}"


@pytest.fixture
def shell_home(sqlite_backend: Backend, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the checkout's files the commands read and write, and a fresh environment:
    a registry with mnist-classifier v1 and v2, free ports, nothing else of this shell."""
    registry = Registry.open(sqlite_backend.settings)
    for uri in sqlite_backend.model_uris[:2]:
        registry.register("mnist-classifier", uri, actor="readme")
    registry.close()
    work = tmp_path / "checkout"
    for folder in ("k8s", "terraform", "monitoring", "configs"):
        shutil.copytree(
            ROOT / folder,
            work / folder,
            symlinks=True,
            ignore=shutil.ignore_patterns(".terraform*", "terraform.tfstate*"),
        )
    ports = LocalPorts.free()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "user"),
        "MODELREG_HOME": str(sqlite_backend.settings.home),
        "MODELREG_ARTIFACT_ROOT": sqlite_backend.settings.resolved_artifact_root,
        "MODELREG_ACTOR": "readme-reader",
        "MODELREG_SERVING_INFERENCE_PORT": str(ports.inference),
        "MODELREG_SERVING_MANAGEMENT_PORT": str(ports.management),
        "MODELREG_SERVING_METRICS_PORT": str(ports.metrics),
        "MODELREG_SERVING_GRPC_INFERENCE_PORT": str(ports.grpc_inference),
        "MODELREG_SERVING_GRPC_MANAGEMENT_PORT": str(ports.grpc_management),
        "MODELREG_ROUTER_PORT": str(free_port()),
        "TF_IN_AUTOMATION": "1",
    }
    # A source tree run without installing it (PYTHONPATH=src) runs its own code.
    import os

    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    (tmp_path / "user").mkdir()
    (tmp_path / "tmp").mkdir()
    return work, env


def _substituted(command: str, tmp: Path) -> str:
    """Paths under /tmp go to this test's directory (nothing outside it is written)."""
    return re.sub(r"(?<![\w/])/tmp/", f"{tmp}/", command)


def test_every_readme_command_works_as_written(
    shell_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    work, env = shell_home
    failures: list[str] = []
    ran = 0
    for command in readme_commands():
        reason = _skip_reason(command.text)
        text = _substituted(command.text, tmp_path / "tmp")
        program = text.split()[0]
        if reason is not None:
            # Not run; but it must not be "command not found" in the README's shell.
            check = f"source {VENV}/bin/activate && command -v {program}"
            found = subprocess.run(
                ["bash", "-c", check], env=env, capture_output=True, text=True, timeout=60
            )
            if found.returncode != 0 and program in ("modelreg", "mlflow", "python", "make"):
                failures.append(f"README:{command.line}: {program} not found for {command.text}")
            continue
        tool = shutil.which(program, path=f"{VENV}/bin:{env['PATH']}")
        if tool is None:
            continue  # an optional tool (kubectl, terraform, promtool): its tests skip too
        done = subprocess.run(
            ["bash", "-c", f"source {VENV}/bin/activate && {text}"],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        ran += 1
        if done.returncode not in _allowed_codes(command.text) or "Traceback" in done.stderr:
            failures.append(
                f"README:{command.line}: `{command.text}` exited {done.returncode}: "
                f"{(done.stderr or done.stdout)[-600:]}"
            )
    assert not failures, "\n".join(failures)
    assert ran >= 15
