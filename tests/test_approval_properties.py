"""Property: for any interleaving of two operators' requests and answers, what moves is a
plan some human approved (with a real ``true``, on the form that showed it), and every
attempt leaves exactly one audit row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import ElicitRequestFormParams, ElicitRequestParams, ElicitResult, Implementation

from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.mcp.server import build_server
from tests.conftest import Template, _settings, copy_sqlite
from tests.helpers import add_versions

PLAN = re.compile(r"\[plan ([0-9a-f]{12})\]")
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("promote_model", {"version": 2, "stage": "Staging"}),
    ("promote_model", {"version": 3, "stage": "Staging"}),
    ("promote_model", {"version": 2, "stage": "Production"}),
    ("promote_model", {"version": 3, "stage": "Production"}),
    ("rollback_model", {}),
    ("rollback_model", {"to_version": 1}),
]
ANSWERS: list[dict[str, Any] | str] = [
    {"approve": True, "rationale": "yes"},
    {"approve": False, "rationale": "no"},
    {"approve": "yes", "rationale": ""},
    "cancel",
]


@dataclass(frozen=True)
class Step:
    operator: int
    request: int
    answer: int
    meanwhile: Step | None = None


# Mostly real approvals, so that changes happen and race each other.
answers = st.sampled_from([0, 0, 0, 1, 2, 3])
steps = st.recursive(
    st.builds(
        Step,
        operator=st.integers(0, 1),
        request=st.integers(0, len(REQUESTS) - 1),
        answer=answers,
    ),
    lambda inner: st.builds(
        Step,
        operator=st.integers(0, 1),
        request=st.integers(0, len(REQUESTS) - 1),
        answer=answers,
        meanwhile=inner,
    ),
    max_leaves=3,
)
# The reproduced attack: ann's form says "roll back to v1"; bob promotes v2 meanwhile.
APPROVE_A_GET_B = [
    Step(0, 1, 0),  # v3 -> Staging
    Step(0, 3, 0),  # v3 -> Production (v1 becomes the rollback target)
    Step(0, 0, 0),  # v2 -> Staging
    Step(0, 4, 0, meanwhile=Step(1, 2, 0)),  # rollback, while bob promotes v2
]


@dataclass
class World:
    """What the humans were shown and answered: (operator, plan digest, approved)."""

    shown: list[tuple[str, str, bool]] = field(default_factory=list)
    attempts: int = 0


class Human:
    def __init__(self, name: str, world: World) -> None:
        self.name = name
        self.world = world
        self.next: tuple[dict[str, Any] | str, Any] | None = None

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        assert self.next is not None
        answer, meanwhile = self.next
        found = PLAN.search(params.message)
        assert found is not None, params.message
        approved = isinstance(answer, dict) and answer.get("approve") is True
        self.world.shown.append((self.name, found.group(1), approved))
        if meanwhile is not None:
            self.next = (answer, None)
            await meanwhile()
        if answer == "cancel":
            return ElicitResult(action="cancel")
        assert isinstance(answer, dict)
        return ElicitResult(action="accept", content=answer)


def _fresh_registry(template: Template, home: Path) -> Registry:
    copy_sqlite(template.settings.home, home)
    registry = Registry.open(
        _settings(home, artifact_root=template.settings.resolved_artifact_root)
    )
    add_versions(registry, template.model_uris[0], "digits", 3)
    registry.stages.transition("digits", 1, "staging", rationale="seed", actor="seed")
    registry.stages.transition("digits", 1, "production", rationale="seed", actor="seed")
    return registry


async def _run(registry: Registry, plan: list[Step], mode: str, world: World) -> None:
    names = ["ann", "bob"]
    humans = [Human(name, world) for name in names]
    servers = [build_server(registry, approver=name) for name in names]
    clients = [
        Client(
            servers[i],
            mode=mode,  # type: ignore[arg-type]
            elicitation_callback=humans[i],
            client_info=Implementation(name=names[i], version="1"),
        )
        for i in range(2)
    ]
    async with clients[0] as first, clients[1] as second:
        sessions = [first, second]

        async def perform(step: Step) -> None:
            tool, args = REQUESTS[step.request]
            meanwhile = None
            if step.meanwhile is not None:
                inner = step.meanwhile

                async def meanwhile() -> None:
                    await perform(inner)

            humans[step.operator].next = (ANSWERS[step.answer], meanwhile)
            world.attempts += 1
            await sessions[step.operator].call_tool(
                tool,
                {"model_name": "digits", "rationale": f"step by {names[step.operator]}", **args},
            )

        for step in plan:
            await perform(step)


@pytest.mark.slow
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(steps, min_size=1, max_size=5), mode=st.sampled_from(["legacy", "auto"]))
@example(plan=APPROVE_A_GET_B, mode="legacy")
@example(plan=APPROVE_A_GET_B, mode="auto")
def test_what_moves_is_always_a_plan_a_human_approved(
    sqlite_template: Template, tmp_path_factory: pytest.TempPathFactory, plan: list[Step], mode: str
) -> None:
    registry = _fresh_registry(sqlite_template, tmp_path_factory.mktemp("prop"))
    try:
        before = len(registry.audit_log(model="digits", limit=500).items)
        world = World()
        anyio.run(_run, registry, plan, mode, world)
        rows = registry.audit_log(model="digits", limit=500).items[: -before or None]
        changes = [e for e in rows if e.action in (AuditAction.TRANSITION, AuditAction.ROLLBACK)]
        # One row per attempt: done, refused, denied — never none, never two.
        assert len(changes) == world.attempts
        approved = {(who, digest) for who, digest, yes in world.shown if yes}
        for entry in changes:
            if entry.decision is Decision.DONE:
                assert entry.plan_digest is not None
                assert (entry.actor, entry.plan_digest[:12]) in approved
        summary = registry.get_model("digits").model
        assert summary.unapproved_change is None
        production = [
            v.version for v in registry.list_versions("digits").items if v.stage == "Production"
        ]
        assert len(production) <= 1
    finally:
        registry.close()
