"""Across real processes: a pending approval outlives the process that proposed it; the
chat in a pseudo-terminal; the LangGraph Studio graph factory over `modelreg mcp`."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from mcp.server.mcpserver import MCPServer

from agent.state import State
from agent.studio import make_graph
from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import Decision
from tests.agent.conftest import APPROVER, open_agent
from tests.conftest import Backend

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _env(backend: Backend, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(backend.settings.home),
        "MODELREG_HOME": str(backend.settings.home),
        "MODELREG_ACTOR": APPROVER,
        "MODELREG_ARTIFACT_ROOT": backend.settings.resolved_artifact_root,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **extra,
    }


async def test_pending_approval_is_resumed_by_a_new_process(
    seeded: Backend, server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoints.sqlite"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.agent.restart_child",
            str(seeded.settings.home),
            seeded.settings.resolved_artifact_root,
            str(checkpoint),
            "proc-1",
        ],
        cwd=ROOT,
        env=_env(seeded),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert "PENDING Promote digits v3: Staging -> Production" in child.stdout
    assert registry.get_model("digits").model.production_version == 1

    async with open_agent(server, checkpoint, thread="proc-1") as agent:
        waiting = await agent.conversation.pending()
        assert waiting is not None
        done = await agent.conversation.decide({"kind": "approve", "rationale": "next process"})
        assert agent.tools.calls == ["promote_model", "get_serving_version"]
    assert done.answer is not None
    assert "Applied: digits v3 is now Production." in done.answer.text
    assert registry.get_model("digits").model.production_version == 3


class Terminal:
    """A child process on a pseudo-terminal, read until expected text appears."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            close_fds=True,
            start_new_session=True,
            # Make the pty the controlling terminal, so ^C sends SIGINT as in a real shell.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.master = master
        self.seen = ""

    def expect(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {text!r}; saw:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child exited and closed the terminal
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    assert text in self.seen, f"child exited; saw:\n{self.seen}"
                self.seen += ANSI.sub("", chunk.decode(errors="replace"))

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


def test_chat_in_a_pseudo_terminal_with_ctrl_c_and_resume(seeded: Backend) -> None:
    code = (
        "import sys; from pathlib import Path; from agent.chat import chat_command; "
        "sys.exit(chat_command(Path(sys.argv[1]), 'pty-1'))"
    )
    args = [sys.executable, "-c", code, str(seeded.settings.home)]
    env = _env(seeded, TERM="dumb", COLUMNS="100")
    first = Terminal(args, env)
    try:
        first.expect("you> ")
        first.type("promote digits v3 because it is more accurate")
        first.expect("Decision (approve/deny/edit")
        os.write(first.master, b"\x03")  # Ctrl-C: leave; the approval stays pending
        first.expect("Interrupted; a pending approval stays pending.")
    finally:
        assert first.close() == 130
    registry = Registry.open(seeded.settings)
    try:
        assert registry.get_model("digits").model.production_version == 1

        second = Terminal(args, env)
        try:
            second.expect("Thread pty-1 has an approval waiting.")
            second.expect("Decision (approve/deny/edit")
            second.type("approve")
            second.expect("Approval note (optional)> ")
            second.type("from a terminal")
            second.expect("Applied: digits v3 is now Production.")
            second.expect("you> ")
            second.type("/quit")
            second.expect("Bye.")
        finally:
            assert second.close() == 0
        entry = registry.audit_log(model="digits", limit=1).items[0]
    finally:
        registry.close()
    assert (entry.decision, entry.to_version, entry.actor) == (Decision.DONE, 3, APPROVER)
    assert entry.rationale == "it is more accurate"
    assert entry.reason is not None
    assert entry.reason.endswith(": from a terminal")


async def test_studio_graph_factory_serves_queries_and_json_resumes(
    seeded: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _env(seeded).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    async with make_graph({}) as graph:
        graph.checkpointer = InMemorySaver()  # what the LangGraph server provides
        config = {"configurable": {"thread_id": "studio-1"}}
        out = await graph.ainvoke(State(request="What models are in production?"), config)
        assert "2 model(s) in Production" in out["answer"].text
        out = await graph.ainvoke(State(request="promote digits v3"), config)
        (pending,) = out["__interrupt__"]
        assert pending.value["proposal"]["summary"].startswith("Promote digits v3")
        out = await graph.ainvoke(
            Command(resume={"kind": "approve", "rationale": "studio"}), config
        )
        assert "Applied: digits v3 is now Production." in out["answer"].text
