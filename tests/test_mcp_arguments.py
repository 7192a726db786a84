"""MCP tool arguments, attacked through real sessions on both protocol eras: an argument a
tool does not take is refused naming the ones it does, schema failures come back in plain
words, odd numbers are refused, and every stage-change attempt that reaches our code leaves
an audit row, whatever the shape of the call or of the answer to the form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp.client import ClientRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData

from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.mcp.server import build_server
from tests.conftest import Backend
from tests.helpers import snapshot
from tests.test_approval_attacks import PROMOTE_V3, Operator, audit, session, text
from tests.test_mcp import seed

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reg(sqlite_backend: Backend) -> Iterator[Registry]:
    registry = Registry.open(sqlite_backend.settings)
    seed(registry, sqlite_backend.model_uris[0])  # digits: v1 Production, v3 Staging
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def server(reg: Registry) -> MCPServer:
    return build_server(reg, approver="dana")


def _plain(message: str) -> None:
    assert "pydantic" not in message
    assert "errors.pydantic.dev" not in message
    assert "Traceback" not in message
    assert "\n" not in message.strip()


@pytest.mark.parametrize("mode", MODES)
async def test_an_argument_a_tool_does_not_take_is_refused_naming_the_allowed_ones(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    rows = len(audit(reg))
    async with session(server, mode, Operator()) as client:
        # `name` is not an argument: it used to be dropped, returning every model's entries.
        log = await client.call_tool("get_audit_log", {"name": "mnist-classifier"})
        promote = await client.call_tool("promote_model", {**PROMOTE_V3, "force": True})
    assert log.is_error
    said = text(log)
    _plain(said)
    assert "'name'" in said
    assert "model_name" in said
    assert log.structured_content == {
        "code": "INVALID_INPUT",
        "message": said.split("INVALID_INPUT: ", 1)[1],
    }
    assert promote.is_error
    assert "'force'" in text(promote)
    assert reg.get_model("digits").model.production_version == 1
    added = audit(reg)[: len(audit(reg)) - rows]
    assert [(e.action, e.decision, e.actor) for e in added] == [
        (AuditAction.TRANSITION, Decision.REFUSED, "dana")
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_schema_failures_come_back_in_plain_words_and_are_audited(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    rows = len(audit(reg))
    async with session(server, mode, Operator()) as client:
        bad = await client.call_tool("promote_model", {**PROMOTE_V3, "version": "three"})
        missing = await client.call_tool("rollback_model", {"model_name": "digits"})
    assert bad.is_error
    _plain(text(bad))
    assert "Invalid arguments for promote_model: version:" in text(bad)
    assert "'three'" in text(bad)
    assert bad.structured_content is not None
    assert bad.structured_content["code"] == "INVALID_INPUT"
    assert missing.is_error
    assert "rationale is required" in text(missing)
    added = audit(reg)[: len(audit(reg)) - rows]
    assert sorted((e.action, e.decision) for e in added) == sorted(
        [
            (AuditAction.TRANSITION, Decision.REFUSED),
            (AuditAction.ROLLBACK, Decision.REFUSED),
        ]
    )


@pytest.mark.parametrize("percent", [1e-320, 1e308, -0.0, 0.001, 100.5])
async def test_odd_canary_percents_are_refused_in_plain_words_and_audited(
    server: MCPServer, reg: Registry, percent: float
) -> None:
    before = snapshot(reg)
    rows = len(audit(reg))
    async with session(server, "auto", Operator()) as client:
        result = await client.call_tool(
            "start_canary",
            {"model_name": "digits", "version": 3, "percent": percent, "rationale": "r"},
        )
    assert result.is_error
    _plain(text(result))
    assert "not a number from 0.01 to 100" in text(result)
    assert snapshot(reg) == before
    added = audit(reg)[: len(audit(reg)) - rows]
    assert [(e.action, e.decision) for e in added] == [(AuditAction.CANARY, Decision.REFUSED)]


class Odd(Operator):
    """Answers the form with no content, an error, or by crashing."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    async def __call__(  # type: ignore[override]
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        self.asked.append(getattr(params, "message", ""))
        if self.how == "no content":
            return ElicitResult(action="accept")
        if self.how == "empty":
            return ElicitResult(action="accept", content={})
        if self.how == "error":
            return ErrorData(code=-32603, message="the client's form broke")
        raise RuntimeError("the client's callback crashed")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["no content", "empty", "error", "crash"])
async def test_every_shape_of_form_answer_is_audited(
    server: MCPServer, reg: Registry, mode: str, how: str
) -> None:
    before = snapshot(reg)
    rows = len(audit(reg))
    human = Odd(how)
    outcome: Any
    try:
        async with session(server, mode, human) as client:
            outcome = await client.call_tool("promote_model", PROMOTE_V3)
    except (MCPError, RuntimeError, ExceptionGroup) as exc:  # the client gave up: fine too
        outcome = exc
    assert human.asked, "the form was shown"
    if not isinstance(outcome, Exception):
        assert outcome.is_error
        assert "Traceback" not in text(outcome)
    assert snapshot(reg)["digits"]["model"] == before["digits"]["model"]
    added = audit(reg)[: len(audit(reg)) - rows]
    if mode == "auto" and how in ("error", "crash"):
        # On this era the question travels in the result: a client whose callback fails
        # stops there and never calls back, so no attempt reaches the server to audit.
        assert isinstance(outcome, Exception)
        assert added == []
        return
    assert len(added) == 1, [(e.action, e.decision, e.reason) for e in added]
    assert added[0].decision in (Decision.REFUSED, Decision.FAILED)
    assert added[0].actor == "dana"
    assert added[0].model == "digits"
