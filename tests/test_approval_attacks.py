"""The approval promise, attacked through real MCP sessions on both protocol eras.

Each test is one attack class: approve A get B, an unpinned proposal, lax answers, replayed
answers, concurrent attempts with missing audit rows, aliases moved around modelreg. What a
human approves is exactly the plan that moves, once, and every attempt leaves one audit row.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.types import (
    CallToolResult,
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    Implementation,
    InputRequiredResult,
)
from mlflow import MlflowClient

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.registry import Registry
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AuditAction, AuditEntry, Decision
from registry_mcp.mcp.server import build_server
from tests.conftest import Backend
from tests.helpers import snapshot
from tests.mcp_support import structured
from tests.test_mcp import seed

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]
PLAN = re.compile(r"\[plan ([0-9a-f]{12})\]")


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


class Operator:
    """A human at an MCP client: answers each form with ``content`` (or an action), after
    running ``meanwhile`` (another operator acting while this one reads the form)."""

    def __init__(
        self,
        content: dict[str, Any] | None = None,
        *,
        action: str = "accept",
        meanwhile: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.content = {"approve": True, "rationale": "ok"} if content is None else content
        self.action = action
        self.meanwhile = meanwhile
        self.asked: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        self.asked.append(params.message)
        if self.meanwhile is not None:
            pending, self.meanwhile = self.meanwhile, None
            result = pending()
            if result is not None:
                await result
        if self.action != "accept":
            return ElicitResult(action=self.action)  # type: ignore[arg-type]
        return ElicitResult(action="accept", content=self.content)

    def plans_shown(self) -> list[str]:
        return [m.group(1) for text in self.asked if (m := PLAN.search(text))]


def session(server: MCPServer, mode: str, human: Operator | None, name: str = "c") -> Client:
    return Client(
        server,
        mode=mode,  # type: ignore[arg-type]
        elicitation_callback=human,
        client_info=Implementation(name=name, version="1"),
    )


def audit(reg: Registry) -> list[AuditEntry]:
    return reg.audit_log(model="digits", limit=500).items


def text(result: CallToolResult) -> str:
    return " ".join(getattr(part, "text", "") for part in result.content)


PROMOTE_V3 = {"model_name": "digits", "version": 3, "stage": "Production", "rationale": "r"}


# ------------------------------------------------------------ 1. approve A, get B


@pytest.mark.parametrize("mode", MODES)
async def test_a_change_made_while_the_form_is_open_is_never_applied_unseen(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    """The form says "roll back to v1"; meanwhile another operator promotes v2. The
    approval of the shown plan must not apply a different one."""
    reg.stages.transition("digits", 3, "production", rationale="release", actor="seed")
    reg.stages.transition("digits", 2, "staging", rationale="next", actor="seed")

    def other_operator() -> None:
        reg.stages.transition("digits", 2, "production", rationale="hotfix", actor="erin")

    human = Operator(meanwhile=other_operator)
    async with session(server, mode, human) as client:
        result = await client.call_tool(
            "rollback_model", {"model_name": "digits", "rationale": "r"}
        )
    assert "Roll back digits v1" in human.asked[0]
    entry = audit(reg)[0]
    if mode == "legacy":
        # The form was answered for a plan that no longer exists: refused, nothing moved.
        assert result.is_error
        assert "STALE_PLAN" in text(result)
        assert "nothing moved" in text(result)
        assert reg.get_model("digits").model.production_version == 2
        assert (entry.decision, entry.plan_digest) == (Decision.REFUSED, entry.plan_digest)
        assert entry.reason is not None
        assert entry.reason.startswith("STALE_PLAN")
    else:
        # The 2026-07-28 era asks again with the new plan; what moves is that second plan.
        assert len(human.asked) == 2
        assert "Roll back digits v3" in human.asked[1]
        assert not result.is_error
        assert reg.get_model("digits").model.production_version == 3
        assert entry.decision is Decision.DONE
    if entry.decision is Decision.DONE:
        assert entry.plan_digest is not None
        assert entry.plan_digest[:12] == human.plans_shown()[-1]


# --------------------------------------------------- 2. pending proposals are pinned


async def test_a_pending_rollback_applies_exactly_its_pinned_target(
    server: MCPServer, reg: Registry
) -> None:
    reg.stages.transition("digits", 3, "production", rationale="release", actor="seed")  # prev = v1
    async with session(server, "auto", None) as client:
        out = await structured(client, "rollback_model", {"model_name": "digits", "rationale": "r"})
    assert out["status"] == "pending"
    assert out["plan"]["version"] == 1
    # Production goes v3 -> v2 -> v3: the previous-Production alias now points at v2.
    reg.stages.transition("digits", 2, "staging", rationale="x", actor="erin")
    reg.stages.transition("digits", 2, "production", rationale="x", actor="erin")
    reg.stages.rollback("digits", to_version=3, rationale="x", actor="erin")
    assert reg.get_model("digits").model.previous_production_version == 2
    outcome = Approvals.for_registry(reg).proposals.resolve(
        out["proposal_id"], approve=True, approver="frank", note="ok"
    )
    assert outcome.transition is not None
    assert reg.get_model("digits").model.production_version == 1  # what the summary said
    assert "Roll back digits v1" in (outcome.plan.describe() if outcome.plan else "")
    # Single use: a second approval of the same proposal moves nothing.
    with pytest.raises(RegistryError) as info:
        Approvals.for_registry(reg).proposals.resolve(
            out["proposal_id"], approve=True, approver="frank", note=None
        )
    assert info.value.code is ErrorCode.NOT_APPROVED


async def test_a_pending_proposal_is_refused_when_its_plan_changed(
    server: MCPServer, reg: Registry
) -> None:
    async with session(server, "auto", None) as client:
        out = await structured(client, "promote_model", PROMOTE_V3)
    # The card the approver would judge changes after the proposal was filed.
    card = reg.get_card("digits", 3).card
    reg.set_card(
        "digits",
        3,
        card.model_copy(update={"limitations": "now fails on 7s"}),
        actor="mallory",
    )
    before = snapshot(reg)
    with pytest.raises(RegistryError) as info:
        Approvals.for_registry(reg).proposals.resolve(
            out["proposal_id"], approve=True, approver="frank", note=None
        )
    assert info.value.code is ErrorCode.STALE_PLAN
    assert snapshot(reg) == before


# --------------------------------------------------------------- 3. lax answers


LAX = [
    {"approve": "yes", "rationale": ""},
    {"approve": "true", "rationale": ""},
    {"approve": 1, "rationale": ""},
    {"approve": None, "rationale": ""},
    {"rationale": "no approve field"},
    {"approve": True, "rationale": 5},
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("content", LAX, ids=lambda c: repr(c))
async def test_anything_but_a_real_true_is_not_an_approval(
    server: MCPServer, reg: Registry, mode: str, content: dict[str, Any]
) -> None:
    before, rows = snapshot(reg), len(audit(reg))
    human = Operator(content)
    async with session(server, mode, human) as client:
        result = await client.call_tool("promote_model", PROMOTE_V3)
    assert result.is_error
    assert "NOT_APPROVED" in text(result)
    assert snapshot(reg) == before
    added = audit(reg)[: len(audit(reg)) - rows]
    assert [(e.decision, e.actor) for e in added] == [(Decision.REFUSED, "dana")]
    assert added[0].reason is not None
    assert "not the boolean" in added[0].reason or "rationale" in added[0].reason


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_the_protocol_cannot_carry_moves_nothing(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    """A list where a boolean belongs is refused by the MCP SDK's own validation (on the
    client or the server side) before any tool code runs, so it cannot be audited by us;
    nothing moves."""
    before = snapshot(reg)
    with pytest.raises(BaseException) as info:  # noqa: PT011 (a task group wraps it)
        async with session(server, mode, Operator({"approve": [True], "rationale": ""})) as c:
            await c.call_tool("promote_model", PROMOTE_V3)
    found = " ".join(str(e) for e in _leaves(info.value))
    assert "Invalid request parameters" in found or "validation errors for ElicitResult" in found
    assert snapshot(reg) == before


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


# --------------------------------------------------------------- 4. replayed answers


async def approve_then_replay(client: Client, reg: Registry) -> object:
    """Approve PROMOTE_V3 by driving the 2026-07-28 rounds by hand, bring the registry back to
    exactly the state the approval was given in, then re-send the same answer and state."""
    first = await client.session.call_tool("promote_model", PROMOTE_V3, allow_input_required=True)
    assert isinstance(first, InputRequiredResult)
    assert first.input_requests is not None
    answers = {
        key: ElicitResult(action="accept", content={"approve": True, "rationale": "ok"})
        for key in first.input_requests
    }
    applied = await client.session.call_tool(
        "promote_model",
        PROMOTE_V3,
        input_responses=answers,
        request_state=first.request_state,
        allow_input_required=True,
    )
    assert isinstance(applied, CallToolResult)
    assert not applied.is_error
    assert reg.get_model("digits").model.production_version == 3
    reg.stages.rollback("digits", rationale="undo", actor="erin")
    reg.stages.transition("digits", 3, "staging", rationale="again", actor="erin")
    assert (
        reg.stages.plan_transition("digits", 3, "production").digest
        == (applied.structured_content or {})["plan"]["digest"]
    )
    return await client.session.call_tool(
        "promote_model",
        PROMOTE_V3,
        input_responses=answers,
        request_state=first.request_state,
        allow_input_required=True,
    )


async def test_a_replayed_answer_applies_nothing(server: MCPServer, reg: Registry) -> None:
    async with session(server, "auto", Operator()) as client:
        rows = len(audit(reg))
        replay = await approve_then_replay(client, reg)
    # The old answer is for a used form: the server asks a new question instead.
    assert isinstance(replay, InputRequiredResult)
    assert reg.get_model("digits").model.production_version == 1
    moved = [e for e in audit(reg)[: len(audit(reg)) - rows] if e.client == "mcp:c"]
    assert [e.decision for e in moved] == [Decision.DONE]  # the approval, not the replay


# --------------------------------------------- 8. every concurrent attempt is audited


@pytest.mark.parametrize("mode", MODES)
async def test_thirty_concurrent_attempts_leave_thirty_audit_rows(
    server: MCPServer, reg: Registry, mode: str
) -> None:
    rows = len(audit(reg))
    calls: list[dict[str, Any]] = []
    for i in range(30):
        if i % 3 == 0:
            calls.append({**PROMOTE_V3, "rationale": f"attempt {i}"})
        elif i % 3 == 1:
            calls.append({**PROMOTE_V3, "version": 2, "rationale": f"attempt {i}"})
        else:
            calls.append({**PROMOTE_V3, "version": 99, "rationale": f"attempt {i}"})
    async with session(server, mode, Operator()) as client:
        results = await asyncio.gather(*(client.call_tool("promote_model", c) for c in calls))
    applied = [r for r in results if not r.is_error]
    assert len(applied) == 1
    assert reg.get_model("digits").model.production_version == 3
    added = [e for e in audit(reg)[: len(audit(reg)) - rows] if e.action is AuditAction.TRANSITION]
    assert len(added) == 30
    assert sorted(e.decision for e in added) == sorted([Decision.DONE] + [Decision.REFUSED] * 29)


async def test_invalid_requests_are_audited_too(server: MCPServer, reg: Registry) -> None:
    rows = len(audit(reg))
    async with session(server, "auto", Operator()) as client:
        bad = await client.call_tool("promote_model", {**PROMOTE_V3, "model_name": "no such model"})
        stale = await client.call_tool(
            "promote_model", {**PROMOTE_V3, "expected_current_version": 2}
        )
    assert bad.is_error
    assert stale.is_error
    assert "STALE_VERSION" in text(stale)
    everything = reg.audit_log(limit=500).items
    assert any(e.model == "no such model" and e.decision is Decision.REFUSED for e in everything)
    assert len(audit(reg)) == rows + 1  # the stale one, on digits


# ----------------------------------------------- 10. aliases moved around modelreg


async def test_an_alias_moved_in_mlflow_is_caught_and_never_followed(
    server: MCPServer, reg: Registry, sqlite_backend: Backend
) -> None:
    settings = sqlite_backend.settings
    other = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    other.set_registered_model_alias("digits", "production", "2")  # the MLflow UI's editor
    rows = len(audit(reg))
    async with session(server, "auto", Operator()) as client:
        serving = await structured(client, "get_serving_version", {"model_name": "digits"})
        listed = await structured(client, "list_models", {})
        info = await structured(client, "get_model_info", {"model_name": "digits"})
        again = await structured(client, "get_serving_version", {"model_name": "digits"})
        refused = await client.call_tool("promote_model", PROMOTE_V3)
    assert serving["registry_production_version"] == 1  # the approved version
    assert "UNAPPROVED CHANGE" in serving["unapproved_change"]
    assert "Production v1 -> v2" in serving["unapproved_change"]
    assert again["unapproved_change"] == serving["unapproved_change"]
    assert listed["items"][0]["unapproved_change"] == serving["unapproved_change"]
    # Every read path shows the approved stages; the pending change is a separate field.
    entry = listed["items"][0]
    assert (entry["production_version"], entry["staging_version"]) == (1, 3)
    assert entry["unapproved_aliases"] == {"production": 2, "staging": 3}
    assert info["model"]["production_version"] == 1
    assert info["model"]["unapproved_aliases"]["production"] == 2
    assert refused.is_error
    assert "UNAPPROVED_CHANGE" in text(refused)
    detected = [e for e in audit(reg) if e.action is AuditAction.UNAPPROVED_CHANGE]
    assert [(e.decision, e.actor, e.to_version) for e in detected] == [
        (Decision.DETECTED, "outside-modelreg", 2)
    ]
    assert len(audit(reg)) == rows + 2  # the detection (once) and the refused promotion
    # Serving's desired state stays on the approved versions.
    summary = reg.get_model("digits").model
    assert (summary.approved.production, summary.production_version) == (1, 1)
    assert summary.aliases.production == 2

    seen = summary.aliases
    reg.stages.revert_unapproved("digits", actor="erin", rationale="r", seen=seen)
    restored = reg.get_model("digits").model
    assert restored.production_version == 1
    assert restored.unapproved_change is None
    last = audit(reg)[0]
    assert (last.action, last.actor) == (AuditAction.RESOLVE_UNAPPROVED, "erin")


# ------------------------------------------------------------ over streamable HTTP


async def test_the_attacks_fail_over_http_too(reg: Registry, sqlite_backend: Backend) -> None:
    """The same server over HTTP (a real `modelreg mcp` process with a token): a lax answer,
    an approval of a plan that changed while the form was open, and a replayed answer."""
    from tests.test_mcp_transports import running_http_server

    headers = {"Authorization": "Bearer tok-erin-Gk3mP9xT5rLw2nB7vC4zQa8"}
    with running_http_server(
        sqlite_backend, MODELREG_MCP_TOKEN="tok-erin-Gk3mP9xT5rLw2nB7vC4zQa8"
    ) as url:
        async with httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30, read=120)
        ) as http:

            def over_http(human: Operator | None, mode: str) -> Client:
                return Client(
                    streamable_http_client(url, http_client=http),  # type: ignore[arg-type]
                    mode=mode,  # type: ignore[arg-type]
                    elicitation_callback=human,
                    client_info=Implementation(name="http", version="1"),
                )

            before = snapshot(reg)
            for mode in MODES:
                async with over_http(Operator({"approve": "yes", "rationale": ""}), mode) as c:
                    lax = await c.call_tool("promote_model", PROMOTE_V3)
                assert "NOT_APPROVED" in text(lax)
            assert snapshot(reg) == before

            def other_operator() -> None:
                reg.stages.transition("digits", 2, "staging", rationale="other", actor="frank")

            async with over_http(Operator(meanwhile=other_operator), "legacy") as c:
                stale = await c.call_tool(
                    "promote_model", {**PROMOTE_V3, "version": 3, "stage": "Archived"}
                )
            # Archiving v3 was planned while v3 was Staging; v2 took Staging meanwhile, so
            # the plan (v3 Staging -> Archived) no longer holds.
            assert "STALE_PLAN" in text(stale)
            assert reg.get_version("digits", 3).stage.value == "None"

            async with over_http(Operator(), "auto") as c:
                reg.stages.transition("digits", 3, "staging", rationale="back", actor="frank")
                replay = await approve_then_replay(c, reg)
            assert isinstance(replay, InputRequiredResult)
            assert reg.get_model("digits").model.production_version == 1
    (applied,) = [e for e in audit(reg) if e.client == "mcp:http" and e.decision is Decision.DONE]
    assert applied.actor == "dana"  # the token's human (the server's MODELREG_ACTOR)
    refused = [e for e in audit(reg) if e.client == "mcp:http" and e.decision is Decision.REFUSED]
    assert len(refused) == 3  # two lax answers, one stale plan
