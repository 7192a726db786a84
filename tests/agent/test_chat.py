"""The terminal chat, driven end to end through its injected input function."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from rich.console import Console

from agent.chat import chat_command, run_chat
from agent.errors import RegistryUnavailable
from agent.mcp_tools import RegistryTools, Target, open_registry
from registry_mcp.core.approvals import Approvals
from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import Decision
from tests.agent.conftest import APPROVER
from tests.conftest import Backend
from tests.helpers import snapshot

pytestmark = pytest.mark.anyio


class Typist:
    """Types scripted lines at the chat's prompts; EOF when the script ends."""

    def __init__(self, *lines: str) -> None:
        self._lines: Iterator[str] = iter(lines)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        try:
            return next(self._lines)
        except StopIteration:
            raise EOFError from None


def console() -> Console:
    return Console(file=io.StringIO(), width=110, record=True, color_system=None)


def session(target: Target) -> Callable[[], AbstractAsyncContextManager[RegistryTools]]:
    return lambda: open_registry(target)


async def chat(server: Target, tmp_path: Path, typist: Typist, thread: str = "t1") -> str:
    out = console()
    code = await run_chat(
        session(server),
        checkpoint_path=tmp_path / "agent" / "checkpoints.sqlite",
        thread_id=thread,
        console=out,
        read_line=typist,
    )
    assert code == 0
    return out.export_text()


async def test_ask_propose_approve_and_verify(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    typist = Typist(
        "What models are in production?",
        "promote digits v3 to production because it is more accurate",
        "maybe",
        "approve",
        "ship it",
        "/history",
        "/quit",
    )
    text = await chat(server, tmp_path, typist)
    assert "2 model(s) in Production" in text
    assert "Approval needed: promote digits v3" in text
    assert "Evidence: 99.0% accuracy vs 95.0% on v1 (+4.0 points, better" in text
    assert "Please answer one of: approve/deny/edit." in text
    assert "Applied: digits v3 is now Production." in text
    assert "Verified: registry Production is v3" in text
    assert "History of t1" in text
    assert "user: What models are in production?" in text
    assert "Bye." in text
    assert typist.prompts.count("Approval note (optional)> ") == 1
    assert registry.get_model("digits").model.production_version == 3
    entry = registry.audit_log(model="digits", limit=1).items[0]
    assert (entry.actor, entry.decision) == (APPROVER, Decision.DONE)
    assert entry.rationale == "it is more accurate"
    assert entry.reason is not None
    assert entry.reason.endswith(": ship it")


async def test_deny_leaves_everything_as_it_was(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    before = snapshot(registry)
    text = await chat(server, tmp_path, Typist("promote digits v3", "deny", "wait for canary"))
    assert "Understood — digits v3 was not moved." in text
    assert snapshot(registry) == before
    entry = registry.audit_log(model="digits", limit=1).items[0]
    assert entry.decision is Decision.DENIED
    assert entry.reason == "denied by human: wait for canary"


async def test_edit_rationale_and_disallowed_answers(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    text = await chat(
        server,
        tmp_path,
        Typist("promote digits v3", "e", "", "edit", "fixes 7-vs-1 confusions", "approve", ""),
    )
    assert "rationale: String should have at least 1 character" in text
    # The edited proposal is shown again before anything moves.
    assert text.count("Approval needed: promote digits v3") == 2
    assert "now Production" in text
    assert registry.audit_log(model="digits", limit=1).items[0].rationale == (
        "fixes 7-vs-1 confusions"
    )
    # A rollback allows approve or deny only.
    text = await chat(
        server, tmp_path, Typist("roll back digits", "e", "d", "fine after all"), thread="t2"
    )
    assert "Please answer one of: approve/deny." in text
    assert "was not moved" in text
    assert registry.get_model("digits").model.production_version == 3


async def test_pending_approval_resumes_by_thread_after_a_restart(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    first = await chat(server, tmp_path, Typist("promote digits v3", "/quit"), thread="conv-9")
    said = " ".join(first.split())
    assert "The approval stays pending in chat thread conv-9" in said
    assert "`modelreg approvals list` does not show it" in said
    assert "modelreg chat --thread conv-9" in said
    assert registry.get_model("digits").model.production_version == 1

    second = await chat(server, tmp_path, Typist("approve", "", "/quit"), thread="conv-9")
    assert "Thread conv-9 has an approval waiting." in second
    assert "Applied: digits v3 is now Production." in second
    assert registry.get_model("digits").model.production_version == 3


async def test_commands_help_and_end_of_input(server: MCPServer, tmp_path: Path) -> None:
    text = await chat(server, tmp_path, Typist("", "/help", "/nope", "/thread", "hmm?"))
    assert "promote digits v3 to production because" in text
    assert "Unknown command /nope; try /help." in text
    assert "Thread: t1" in text
    assert "Could you rephrase?" in text
    assert "Bye." in text


async def test_registry_down_is_said_plainly(tmp_path: Path) -> None:
    out = console()
    code = await run_chat(
        session(StdioServerParameters(command="/nonexistent/modelreg", args=["mcp"])),
        checkpoint_path=tmp_path / "cp.sqlite",
        console=out,
        read_line=Typist("list models"),
    )
    text = out.export_text()
    assert code == 1
    assert "Registry unavailable" in text
    assert "modelreg mcp" in text
    assert "Traceback" not in text


def test_chat_command_talks_to_modelreg_mcp_over_stdio(seeded: Backend) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(seeded.settings.home),
        "MODELREG_ACTOR": "someone-else",
        "MODELREG_ARTIFACT_ROOT": seeded.settings.resolved_artifact_root,
    }
    out = console()
    code = chat_command(
        seeded.settings.home,
        "stdio-1",
        actor=APPROVER,
        console=out,
        read_line=Typist(
            "show me digits v3", "promote digits v3", " APPROVE ", "via stdio", "/quit"
        ),
        env=env,
    )
    text = out.export_text()
    assert code == 0, text
    assert "intents by offline parser" in text
    assert "digits v3 — stage Staging" in text
    assert "Applied: digits v3 is now Production." in text
    registry = Registry.open(seeded.settings)
    try:
        entry = registry.audit_log(model="digits", limit=1).items[0]
    finally:
        registry.close()
    assert (entry.actor, entry.client, entry.decision) == (
        APPROVER,
        "mcp:modelreg-agent",
        Decision.DONE,
    )
    assert (seeded.settings.home / "agent" / "checkpoints.sqlite").exists()


async def test_registry_lost_mid_chat_is_said_plainly_and_keeps_the_approval(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    @asynccontextmanager
    async def flaky() -> AsyncIterator[RegistryTools]:
        async with open_registry(server) as tools:
            names = tools.list_models

            async def gone(**kwargs: object) -> Any:
                if not tools.calls:  # the first turn reads the names; then the registry goes
                    return await names(**kwargs)  # type: ignore[arg-type]
                raise RegistryUnavailable("Connection closed")

            tools.list_models = gone  # type: ignore[method-assign]
            yield tools

    out = console()
    code = await run_chat(
        flaky,
        checkpoint_path=tmp_path / "cp.sqlite",
        thread_id="t9",
        console=out,
        read_line=Typist("promote digits v3", "/quit", "list models"),
    )
    text = out.export_text()
    assert "The approval stays pending" in text
    assert code == 0
    code = await run_chat(
        flaky,
        checkpoint_path=tmp_path / "cp.sqlite",
        thread_id="t10",
        console=(out := console()),
        read_line=Typist("list models"),
    )
    text = out.export_text()
    assert code == 1
    assert "Registry unavailable" in text
    assert "Connection closed" in text
    assert registry.get_model("digits").model.production_version == 1


async def test_only_the_whole_word_approve_approves(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    typist = Typist("promote digits v3", "a", "y", "yes", "approved", "/quit")
    text = await chat(server, tmp_path, typist, thread="word-1")
    assert text.count("Please answer one of: approve/deny/edit.") == 4
    assert registry.get_model("digits").model.production_version == 1
    again = await chat(server, tmp_path, Typist("  Approve ", "", "/quit"), thread="word-1")
    assert "Applied: digits v3 is now Production." in again


async def test_what_the_chat_says_after_leaving_matches_approvals_list(
    server: MCPServer, registry: Registry, tmp_path: Path
) -> None:
    """End of input (Ctrl-D) with an approval waiting: the chat says it waits in the chat's
    thread, which `approvals list` (the registry's proposals) indeed does not show."""
    text = " ".join(
        (await chat(server, tmp_path, Typist("promote digits v3"), thread="ctrl-d")).split()
    )
    assert "pending in chat thread ctrl-d" in text
    assert "modelreg chat --thread ctrl-d" in text
    assert Approvals.for_registry(registry).proposals.pending(None) == []
    assert registry.get_model("digits").model.production_version == 1
