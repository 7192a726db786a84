"""The MCP server through real client sessions (in-memory, both protocol eras)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import Implementation

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AuditAction, Decision, Stage
from registry_mcp.mcp.server import build_server
from registry_mcp.mcp.tool_models import ToolErrorData
from registry_mcp.store.settings import Settings
from tests.conftest import Backend
from tests.helpers import add_versions, snapshot
from tests.mcp_support import Human, check_snapshot, structured, tool_error, tool_table

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def seed(registry: Registry, uri: str) -> None:
    add_versions(registry, uri, "digits", 3, tags={"task": "classification"})
    registry.set_card(
        "digits",
        3,
        registry.get_card("digits", 3).card.model_copy(
            update={"baseline_metrics": {"accuracy": 0.99, "p50_latency_ms": 0.04}}
        ),
        actor="seed",
    )
    registry.stages.transition("digits", 1, "staging", rationale="seed", actor="seed")
    registry.stages.transition("digits", 1, "production", rationale="seed", actor="seed")
    registry.stages.transition("digits", 3, "staging", rationale="seed", actor="seed")


@pytest.fixture
def reg(sqlite_backend: Backend) -> Iterator[Registry]:
    registry = Registry.open(sqlite_backend.settings)
    seed(registry, sqlite_backend.model_uris[0])
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture
def server(reg: Registry) -> MCPServer:
    return build_server(reg, approver="dana")


def client(server: MCPServer, mode: str = "auto", human: Human | None = None) -> Client:
    return Client(
        server,
        mode=mode,  # type: ignore[arg-type]
        elicitation_callback=human,
        client_info=Implementation(name="test-client", version="1"),
    )


async def test_tool_list_matches_snapshot(server: MCPServer) -> None:
    async with client(server) as session:
        table = await tool_table(session)
    check_snapshot(table)
    by_name = {t["name"]: t for t in table}
    for name in ("promote_model", "rollback_model"):
        assert by_name[name]["annotations"]["destructiveHint"] is True
        assert by_name[name]["annotations"]["readOnlyHint"] is False
    for name in (
        "list_models",
        "get_model_info",
        "get_serving_version",
        "get_audit_log",
        "compare_versions",
        "list_pending_approvals",
    ):
        assert by_name[name]["annotations"]["readOnlyHint"] is True
    # The approval decision is injected by the server, never an argument a client can send.
    assert "decision" not in by_name["promote_model"]["input_schema"]["properties"]


@pytest.mark.parametrize("mode", MODES)
async def test_read_tools_happy_paths(server: MCPServer, mode: str) -> None:
    async with client(server, mode) as session:
        listed = await structured(session, "list_models", {"stage": "Production"})
        assert [m["name"] for m in listed["items"]] == ["digits"]
        entry = listed["items"][0]
        assert (entry["production_version"], entry["staging_version"]) == (1, 3)
        assert entry["primary_metric"] == {
            "name": "accuracy",
            "value": 0.95,
            "version": 1,
            "lower_is_better": False,
        }
        assert (await structured(session, "list_models", {"task": "regression"}))["items"] == []

        info = await structured(session, "get_model_info", {"model_name": "digits"})
        assert info["version"]["version"] == 1
        assert info["version"]["stage"] == "Production"
        assert info["card"]["complete"] is True
        assert info["run_id"]
        assert [v["version"] for v in info["versions"]] == [3, 2, 1]
        assert info["recent_audit"][0]["action"] == "transition"
        v2 = await structured(session, "get_model_info", {"model_name": "digits", "version": 2})
        assert v2["version"]["stage"] == "None"

        diff = await structured(session, "compare_versions", {"model_name": "digits", "version": 3})
        assert diff["baseline"]["version"] == 1
        assert diff["primary_delta"] == pytest.approx(0.04)
        assert diff["verdict"] == "better"

        serving = await structured(session, "get_serving_version", {"model_name": "digits"})
        assert serving["registry_production_version"] == 1
        assert serving["rollback_target"] is None
        assert serving["serving"]["configured"] is False
        assert "not configured" in serving["serving"]["detail"]

        audit = await structured(session, "get_audit_log", {"model_name": "digits", "limit": 2})
        assert len(audit["items"]) == 2
        assert audit["next_cursor"]

        pending = await structured(session, "list_pending_approvals", {})
        assert pending["items"] == []

        card = await session.read_resource("modelcard://digits/3")
        assert '"complete":true' in card.contents[0].text.replace(" ", "")  # type: ignore[union-attr]
        prompt = await session.get_prompt(
            "review_promotion", {"model_name": "digits", "version": "3"}
        )
        assert "compare_versions" in prompt.messages[0].content.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tool", "args", "fragment"),
    [
        ("get_model_info", {"model_name": "nope"}, "NOT_FOUND"),
        ("get_model_info", {"model_name": "digits", "version": 9}, "has no version 9"),
        ("get_model_info", {"model_name": "a/b"}, "cannot contain"),
        ("get_model_info", {"model_name": "digits", "version": -1}, "greater than or equal"),
        ("list_models", {"stage": "Prod"}, "Production"),
        ("list_models", {"cursor": "zzz"}, "cursor"),
        ("get_audit_log", {"limit": 0}, "greater than or equal"),
        ("compare_versions", {"model_name": "digits", "version": 2, "against": 7}, "NOT_FOUND"),
        (
            "promote_model",
            {"model_name": "digits", "version": 2, "stage": "Production", "rationale": "x"},
            "Staging first",
        ),
        (
            "promote_model",
            {
                "model_name": "digits",
                "version": 3,
                "stage": "Production",
                "rationale": "x",
                "expected_current_version": 2,
            },
            "STALE_VERSION",
        ),
        (
            "promote_model",
            {"model_name": "nope", "version": 1, "stage": "Staging", "rationale": "x"},
            "NOT_FOUND",
        ),
        (
            "promote_model",
            {"model_name": "digits", "version": 1, "stage": "Staging", "rationale": "   "},
            "rationale",
        ),
        ("rollback_model", {"model_name": "digits", "rationale": "x"}, "no previous Production"),
        (
            "rollback_model",
            {"model_name": "digits", "rationale": "x", "to_version": 2},
            "never been in Production",
        ),
    ],
)
async def test_tool_errors_say_what_to_do_and_change_nothing(
    server: MCPServer, reg: Registry, tool: str, args: dict[str, Any], fragment: str
) -> None:
    before = snapshot(reg)
    human = Human()
    async with client(server, human=human) as session:
        message = await tool_error(session, tool, args)
    assert fragment in message
    assert "Traceback" not in message
    assert human.asked == []  # refused requests never reach the human
    assert snapshot(reg) == before


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("get_model_info", {"model_name": "nope"}, ErrorCode.NOT_FOUND),
        ("preview_change", {"model_name": "digits", "change": "promote"}, ErrorCode.INVALID_INPUT),
        (
            "promote_model",
            {"model_name": "nope", "version": 1, "stage": "Staging", "rationale": "x"},
            ErrorCode.NOT_FOUND,
        ),
        (
            "promote_model",
            {
                "model_name": "digits",
                "version": 3,
                "stage": "Production",
                "rationale": "x",
                "expected_current_version": 2,
            },
            ErrorCode.STALE_VERSION,
        ),
    ],
)
async def test_registry_errors_carry_their_code_as_structured_content(
    server: MCPServer, mode: str, tool: str, args: dict[str, Any], code: ErrorCode
) -> None:
    async with client(server, mode, Human()) as session:
        result = await session.call_tool(tool, args)
    assert result.is_error
    data = ToolErrorData.model_validate(result.structured_content)
    assert data.code is code
    # The same words go out as text for a human or an LLM to read.
    text = " ".join(getattr(part, "text", "") for part in result.content)
    assert text == f"Error executing tool {tool}: {code.value}: {data.message}"


async def test_the_sdks_own_errors_stay_text_only(server: MCPServer) -> None:
    async with client(server) as session:
        result = await session.call_tool("no_such_tool", {})
    assert result.is_error
    assert result.structured_content is None


async def test_arguments_that_fail_the_schema_are_an_invalid_input_in_plain_words(
    server: MCPServer,
) -> None:
    async with client(server) as session:
        result = await session.call_tool("get_model_info", {"model_name": "digits", "version": -1})
    assert result.is_error
    data = ToolErrorData.model_validate(result.structured_content)
    assert data.code is ErrorCode.INVALID_INPUT
    assert data.message.startswith("Invalid arguments for get_model_info: version: ")
    assert "(got -1)" in data.message
    assert "pydantic" not in data.message


@pytest.mark.parametrize("mode", MODES)
async def test_accepted_promotion_applies_with_approver_in_audit(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    human = Human(note="metrics are better")
    async with client(server, mode, human) as session:
        out = await structured(
            session,
            "promote_model",
            {
                "model_name": "digits",
                "version": 3,
                "stage": "Production",
                "rationale": "v3 is more accurate",
            },
        )
    assert out["status"] == "applied"
    assert out["transition"]["replaced_version"] == 1
    assert len(human.asked) == 1
    assert "digits v3: Staging -> Production" in human.asked[0]
    assert "accuracy +0.0400 vs Production" in human.asked[0]
    assert reg.get_model("digits").model.production_version == 3
    entry = reg.audit_log(model="digits", limit=1).items[0]
    assert (entry.actor, entry.client, entry.decision) == ("dana", "mcp:test-client", Decision.DONE)
    assert entry.rationale == "v3 is more accurate"
    assert entry.reason is not None
    assert entry.reason.startswith("approved via form #")
    assert entry.reason.endswith(": metrics are better")
    assert entry.plan_digest is not None
    assert entry.plan_digest[:12] in human.asked[0]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("human", "status"),
    [
        (Human("accept", approve=False, note="not yet"), "denied"),
        (Human("decline"), "denied"),
        (Human("cancel"), "cancelled"),
    ],
)
async def test_denied_declined_cancelled_move_nothing(
    server: MCPServer, reg: Registry, mode: str, human: Human, status: str
) -> None:
    human.asked.clear()
    before = snapshot(reg)
    args = {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "try"}
    async with client(server, mode, human) as session:
        out = await structured(session, "promote_model", args)
    assert out["status"] == status
    assert len(human.asked) == 1
    assert snapshot(reg) == before
    entry = reg.audit_log(model="digits", limit=1).items[0]
    assert entry.decision is Decision.DENIED
    assert entry.actor == "dana"
    assert (entry.to_version, entry.to_stage) == (3, "Production")


@pytest.mark.parametrize("mode", MODES)
async def test_rollback_asks_and_applies_or_denies(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    reg.stages.transition("digits", 3, "production", rationale="release", actor="seed")
    before = snapshot(reg)
    async with client(server, mode, Human("decline")) as session:
        out = await structured(
            session, "rollback_model", {"model_name": "digits", "rationale": "errors up"}
        )
    assert out["status"] == "denied"
    assert snapshot(reg) == before
    human = Human(note="confirmed regression")
    async with client(server, mode, human) as session:
        out = await structured(
            session, "rollback_model", {"model_name": "digits", "rationale": "errors up"}
        )
    assert out["status"] == "applied"
    assert "Roll back digits v1: Archived -> Production" in human.asked[0]
    model = reg.get_model("digits").model
    assert (model.production_version, model.previous_production_version) == (1, 3)
    entry = reg.audit_log(model="digits", limit=1).items[0]
    assert (entry.action, entry.actor, entry.decision) == (
        AuditAction.ROLLBACK,
        "dana",
        Decision.DONE,
    )


async def test_client_without_elicitation_gets_a_pending_proposal(
    server: MCPServer, reg: Registry
) -> None:
    before = snapshot(reg)
    async with client(server, human=None) as session:
        out = await structured(
            session,
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "batch"},
        )
        assert out["status"] == "pending"
        assert out["approve_command"] == (
            f"modelreg approvals approve {out['proposal_id']} --rationale 'why you approve'"
        )
        assert out["deny_command"] == (
            f"modelreg approvals deny {out['proposal_id']} --rationale 'why you deny'"
        )
        pending = await structured(session, "list_pending_approvals", {"model_name": "digits"})
    assert snapshot(reg) == before
    (proposal,) = pending["items"]
    assert proposal["summary"].startswith("Move digits v3: Staging -> Production")
    assert proposal["expected_current"] == "1"
    assert reg.audit_log(model="digits", limit=1).items[0].decision is Decision.PROPOSED

    outcome = Approvals.for_registry(reg).proposals.resolve(
        out["proposal_id"], approve=True, approver="erin", note="reviewed"
    )
    assert outcome.status == "applied"
    assert reg.get_model("digits").model.production_version == 3
    entry = reg.audit_log(model="digits", limit=1).items[0]
    # Who approved, through what; who asked (the MCP session's human).
    assert (entry.actor, entry.client, entry.requested_by, entry.action) == (
        "erin",
        "modelreg-cli",
        "dana",
        AuditAction.TRANSITION,
    )
    assert entry.reason == f"approved via proposal #{out['proposal_id']}: reviewed"
    with pytest.raises(RegistryError) as info:
        Approvals.for_registry(reg).proposals.resolve(
            out["proposal_id"], approve=True, approver="x", note=None
        )
    assert info.value.code is ErrorCode.NOT_APPROVED  # single-use


async def test_denied_and_stale_and_expired_proposals(
    server: MCPServer, reg: Registry, sqlite_backend: Backend
) -> None:
    approvals = Approvals.for_registry(reg)
    async with client(server) as session:
        first = await structured(
            session,
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "a"},
        )
        second = await structured(
            session,
            "promote_model",
            {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "b"},
        )
    before = snapshot(reg)
    denied = approvals.proposals.resolve(
        first["proposal_id"], approve=False, approver="erin", note="no"
    )
    assert denied.status == "denied"
    assert snapshot(reg) == before
    # The state moves behind the proposal's back: approval is refused as stale.
    reg.stages.transition("digits", 2, "staging", rationale="other", actor="x")
    with pytest.raises(RegistryError) as info:
        approvals.proposals.resolve(second["proposal_id"], approve=True, approver="erin", note=None)
    assert info.value.code is ErrorCode.STALE_PLAN  # v3 left Staging
    assert "nothing moved" in info.value.message
    assert approvals.proposals.get(second["proposal_id"]).status.value == "failed"

    short = Registry.open(
        Settings(**{**sqlite_backend.settings.model_dump(), "proposal_ttl_s": 0.01})
    )
    expiring = Approvals.for_registry(short)
    reg.stages.transition("digits", 3, "staging", rationale="back", actor="x")
    req = expiring.request(
        _kind("promote"),
        "digits",
        version=3,
        stage=Stage.PRODUCTION,
        rationale="late",
        requested_by="bot",
        client=None,
    )
    proposal_id = expiring.propose(req, expiring.plan(req)).proposal_id
    assert proposal_id is not None
    import time

    time.sleep(0.05)
    with pytest.raises(RegistryError, match="expired"):
        expiring.proposals.resolve(proposal_id, approve=True, approver="erin", note=None)
    assert expiring.proposals.get(proposal_id).status.value == "expired"
    assert reg.get_model("digits").model.production_version == 1
    short.close()


def _kind(value: str) -> Any:
    from registry_mcp.domain.plans import ChangeKind

    return ChangeKind(value)
