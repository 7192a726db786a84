"""Recommendations per use case ("fast", "most accurate", "for critical requests", "for a batch
job", "under 10 ms") from the registry's per-model policy, with the evidence, the trade-off,
where each number comes from, and ties and missing data said."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer

from registry_mcp.core.registry import Registry
from tests.agent.conftest import open_agent
from tests.conftest import Backend
from tests.helpers import COMPLETE_CARD, add_versions

pytestmark = pytest.mark.anyio
SERVED = "latency served through TorchServe is not reported by the registry's tools yet"


async def _ask(server: MCPServer, tmp_path: Path, question: str) -> str:
    async with open_agent(server, tmp_path / "cp.sqlite") as agent:
        result = await agent.conversation.ask(question)
    assert result.approval is None
    assert result.answer is not None
    assert result.answer.kind == "recommendation"
    return result.answer.text


@pytest.mark.parametrize(
    ("question", "fragments"),
    [
        (
            "which model is fastest?",
            [
                "For classification tasks (fastest), I recommend digits v1 (95.0% accuracy, "
                "p50 0.050 ms).",
                "ranked by the card's p50 latency, then by the primary metric",
                "Trade-off: mnist-classifier v1 is 4.2 points better on accuracy and slower "
                "(12 ms vs 0.050 ms).",
                SERVED,
            ],
        ),
        (
            "the most accurate classifier",
            [
                "For classification tasks (most accurate), I recommend mnist-classifier v1 "
                "(99.2% accuracy, p50 12 ms).",
                "Evidence: accuracy from the model card's baseline metrics, higher is better",
            ],
        ),
        (
            "what should I use for critical requests under 10 ms",
            [
                "For classification tasks (for critical requests), I recommend digits v1",
                "excluded mnist-classifier v1: p50 12 ms > limit 10 ms",
                "an unmeasured version is not recommended for critical traffic",
            ],
        ),
        (
            "which model for a batch job",
            [
                "For classification tasks (for a batch job), I recommend mnist-classifier v1",
                "throughput is not measured",
            ],
        ),
    ],
    ids=["fast", "accurate", "critical-under-10ms", "batch"],
)
async def test_each_use_case_maps_to_the_policy_and_shows_its_evidence(
    server: MCPServer, tmp_path: Path, question: str, fragments: list[str]
) -> None:
    text = await _ask(server, tmp_path, question)
    for fragment in fragments:
        assert fragment in text, text


async def test_a_batch_job_ignores_the_default_latency_limit_but_not_a_named_one(
    server: MCPServer, tmp_path: Path
) -> None:
    async with open_agent(server, tmp_path / "cp.sqlite", latency_sla_ms=1.0) as agent:
        batch = await agent.conversation.ask("which model for a batch job")
        strict = await agent.conversation.ask("which model for a batch job under 1 ms")
    assert batch.answer is not None
    assert "I recommend mnist-classifier v1" in batch.answer.text
    assert strict.answer is not None
    assert "I recommend digits v1" in strict.answer.text


async def test_ties_and_missing_data_are_said(
    seeded: Backend, registry: Registry, server: MCPServer, tmp_path: Path
) -> None:
    uri = seeded.model_uris[0]
    twin = COMPLETE_CARD.model_copy(update={"baseline_metrics": {"accuracy": 0.992}})
    add_versions(registry, uri, "mnist-twin", 1, card=twin, tags={"task": "classification"})
    accurate = await _ask(server, tmp_path, "Which model should I use for classification?")
    assert "I recommend mnist-classifier v1 (99.2% accuracy, p50 12 ms)" in accurate
    assert (
        "Tie: mnist-twin v1 has the same 99.2% accuracy; mnist-classifier v1 comes first by "
        "name only." in accurate
    )
    fastest = await _ask(server, tmp_path, "fastest classifier")
    assert "I recommend digits v1" in fastest
    assert "not ranked mnist-twin v1: no latency on its card" in fastest


async def test_without_a_task_each_task_gets_its_own_recommendation(
    seeded: Backend, registry: Registry, server: MCPServer, tmp_path: Path
) -> None:
    card = COMPLETE_CARD.model_copy(update={"baseline_metrics": {"rmse": 0.3}})
    add_versions(registry, seeded.model_uris[0], "prices", 1, card=card, tags={"task": "pricing"})
    text = await _ask(server, tmp_path, "whats the best model")
    assert "For classification tasks (most accurate), I recommend mnist-classifier v1" in text
    # No policy names rmse for it: the default primary metric (accuracy) is not on its card.
    assert "Models for pricing have no accuracy yet: prices v1." in text


async def test_critical_requests_use_each_models_own_latency_sla(
    seeded: Backend, registry: Registry, server: MCPServer, tmp_path: Path
) -> None:
    """No limit named: a model slower than its own SLA (models.yaml) is not recommended for
    critical traffic, however accurate, and the answer names that SLA."""
    card = COMPLETE_CARD.model_copy(
        update={"baseline_metrics": {"accuracy": 0.999, "p50_latency_ms": 150.0}}
    )
    add_versions(
        registry, seeded.model_uris[0], "slowpoke", 1, card=card, tags={"task": "classification"}
    )
    sla = registry.policy("slowpoke").latency_sla_ms
    assert sla < 150.0
    text = await _ask(server, tmp_path, "which model for critical requests")
    assert "For classification tasks (for critical requests), I recommend mnist-classifier v1" in (
        text
    )
    assert f"excluded slowpoke v1: p50 150 ms > its latency SLA {sla:.0f} ms (models.yaml)" in text
    accurate = await _ask(server, tmp_path, "the most accurate classifier")
    assert "I recommend slowpoke v1" in accurate  # no latency rule without a latency use case
