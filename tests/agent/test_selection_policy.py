"""Model selection ranks by the registry's per-model policy: the agent never guesses which
way a metric is better (a lower rmse wins; a declared-higher metric wins when higher)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.selection import Candidate, rank
from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from tests.agent.conftest import APPROVER, open_agent
from tests.conftest import Backend
from tests.helpers import COMPLETE_CARD, add_versions

pytestmark = pytest.mark.anyio

MODELS_YAML = """
models:
  prices-small: {task: regression, primary_metric: rmse, latency_sla_ms: 50}
  prices-large: {task: regression, primary_metric: rmse, latency_sla_ms: 50}
  uplift-a:
    task: regression
    primary_metric: error_reduction
    metric_direction: higher
    latency_sla_ms: 50
  uplift-b:
    task: regression
    primary_metric: error_reduction
    metric_direction: higher
    latency_sla_ms: 50
"""


def test_rank_follows_each_candidates_direction() -> None:
    def c(model: str, value: float, lower: bool) -> Candidate:
        return Candidate(model=model, version=1, metric="m", value=value, lower_is_better=lower)

    assert [x.model for x in rank("t", [c("a", 0.5, True), c("b", 0.3, True)], None).ranked] == [
        "b",
        "a",
    ]
    assert [x.model for x in rank("t", [c("a", 0.5, False), c("b", 0.3, False)], None).ranked] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize(
    ("question", "best", "other"),
    [
        ("Which model should I use for regression?", "prices-small v1 (rmse 0.3", "prices-large"),
        ("Which model should I use for uplift?", "uplift-b v1 (error_reduction 0.2", "uplift-a"),
    ],
)
async def test_selection_uses_the_registry_policy_direction(
    seeded: Backend, tmp_path: Path, question: str, best: str, other: str
) -> None:
    (seeded.settings.home / "models.yaml").write_text(MODELS_YAML)
    registry = Registry.open(seeded.settings)
    try:
        uri = seeded.model_uris[0]
        # The agent asks list_models by the `task` tag; uplift models are tagged apart.
        for name, task, metrics in (
            ("prices-small", "regression", {"rmse": 0.30}),
            ("prices-large", "regression", {"rmse": 0.50}),
            ("uplift-a", "uplift", {"error_reduction": 0.10}),
            ("uplift-b", "uplift", {"error_reduction": 0.20}),
        ):
            card = COMPLETE_CARD.model_copy(
                update={"baseline_metrics": {**metrics, "p50_latency_ms": 1.0}}
            )
            add_versions(registry, uri, name, 1, card=card, tags={"task": task})
        server = build_server(registry, approver=APPROVER)
        async with open_agent(server, tmp_path / "cp.sqlite") as agent:
            result = await agent.conversation.ask(question)
    finally:
        registry.close()
    assert result.answer is not None
    text = result.answer.text
    assert f"I recommend {best}" in text, text
    assert f"then {other} v1" in text, text
