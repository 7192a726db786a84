"""The per-model policy: one direction per primary metric, read by comparisons, the approval
form and list_models (a lower rmse is better; a name never decides)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.types import Implementation

from registry_mcp.core import comparison
from registry_mcp.core.registry import Registry
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.mcp.server import build_server
from registry_mcp.mcp.tool_models import ToolErrorData
from tests.conftest import Backend
from tests.helpers import COMPLETE_CARD, add_versions
from tests.mcp_support import Human, structured

pytestmark = pytest.mark.anyio
MODES = ["auto", "legacy"]

MODELS_YAML = """
models:
  house-prices:
    task: regression
    primary_metric: rmse          # well known: lower is better
    latency_sla_ms: 50
  churn-uplift:
    task: regression
    primary_metric: error_reduction
    metric_direction: higher      # a name containing "error", declared higher
    latency_sla_ms: 50
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def card(**metrics: float) -> ModelCard:
    return COMPLETE_CARD.model_copy(update={"baseline_metrics": {**metrics, "p50_latency_ms": 1.0}})


@pytest.fixture
def reg(sqlite_backend: Backend) -> Iterator[Registry]:
    """house-prices v1 Production (rmse 0.50), v2 Staging (rmse 0.40); churn-uplift v1
    Production (0.10), v2 Staging (0.20). Their cards carry no accuracy: a complete card
    states the model's own primary metric, so Production (complete cards required) works."""
    settings = sqlite_backend.settings
    assert settings.require_complete_card
    (settings.home / "models.yaml").write_text(MODELS_YAML)
    registry = Registry.open(settings)
    uri = sqlite_backend.model_uris[0]
    for name, metric, first, second in (
        ("house-prices", "rmse", 0.50, 0.40),
        ("churn-uplift", "error_reduction", 0.10, 0.20),
    ):
        add_versions(registry, uri, name, 1, card=card(**{metric: first}))
        add_versions(registry, uri, name, 1, card=card(**{metric: second}))
        registry.stages.transition(name, 1, "staging", rationale="seed", actor="seed")
        registry.stages.transition(name, 1, "production", rationale="seed", actor="seed")
        registry.stages.transition(name, 2, "staging", rationale="seed", actor="seed")
    try:
        yield registry
    finally:
        registry.close()


def client(server: MCPServer, mode: str = "auto", human: Human | None = None) -> Client:
    return Client(
        server,
        mode=mode,
        elicitation_callback=human,
        client_info=Implementation(name="test-client", version="1"),
    )


def test_policy_comes_from_the_models_file_with_defaults_for_unlisted_models(
    reg: Registry,
) -> None:
    rmse = reg.policy("house-prices")
    assert (rmse.task, rmse.primary_metric, rmse.lower_is_better) == ("regression", "rmse", True)
    assert (rmse.latency_sla_ms, rmse.declared) == (50, True)
    assert reg.policy("churn-uplift").lower_is_better is False
    other = reg.policy("never-declared")
    assert (other.primary_metric, other.lower_is_better, other.declared) == (
        "accuracy",
        False,
        False,
    )


def test_a_complete_card_states_the_models_own_primary_metric(reg: Registry) -> None:
    assert reg.get_card("house-prices", 2).complete
    assert reg.get_version("house-prices", 2).card_complete
    # accuracy instead of rmse: incomplete for this model, and Production refuses it.
    reg.set_card("house-prices", 2, card(accuracy=0.9), actor="ann")
    view = reg.get_card("house-prices", 2)
    assert view.missing_fields == ["baseline_metrics.rmse"]
    assert not reg.get_version("house-prices", 2).card_complete
    with pytest.raises(RegistryError) as info:
        reg.stages.transition("house-prices", 2, "production", rationale="r", actor="ann")
    assert info.value.code is ErrorCode.CARD_INCOMPLETE
    assert "baseline_metrics.rmse" in info.value.message


def test_a_lower_rmse_is_better_in_the_registry_comparison(reg: Registry) -> None:
    diff = comparison.compare(reg, "house-prices", 2)
    assert (diff.primary_metric, diff.lower_is_better) == ("rmse", True)
    assert diff.primary_delta == pytest.approx(-0.10)
    assert diff.verdict == "better"
    assert comparison.compare(reg, "house-prices", 1, against=2).verdict == "worse"
    assert comparison.compare(reg, "house-prices", 2, against=2).verdict == "same"
    # The declared direction wins over anything the name suggests.
    uplift = comparison.compare(reg, "churn-uplift", 2)
    assert (uplift.lower_is_better, uplift.verdict) == (False, "better")


@pytest.mark.parametrize("mode", MODES)
async def test_the_approval_form_calls_a_lower_rmse_better(reg: Registry, mode: str) -> None:
    human = Human(approve=False, note="just looking")
    async with client(build_server(reg, approver="dana"), mode, human) as session:
        listed = await structured(session, "list_models", {})
        metrics = {m["name"]: m["primary_metric"] for m in listed["items"]}
        assert metrics["house-prices"] == {
            "name": "rmse",
            "value": 0.50,
            "version": 1,
            "lower_is_better": True,
        }
        assert metrics["churn-uplift"]["lower_is_better"] is False
        diff = await structured(
            session, "compare_versions", {"model_name": "house-prices", "version": 2}
        )
        assert (diff["verdict"], diff["lower_is_better"]) == ("better", True)
        outcome = await structured(
            session,
            "promote_model",
            {
                "model_name": "house-prices",
                "version": 2,
                "stage": "Production",
                "rationale": "lower rmse",
            },
        )
    assert outcome["status"] == "denied"
    (asked,) = human.asked
    assert "rmse -0.1000 vs Production v1: better (lower is better)." in asked


async def test_an_unknown_metric_without_a_direction_is_refused_not_guessed(
    reg: Registry,
) -> None:
    bad = MODELS_YAML.replace("    metric_direction: higher      # a name", "    # a name")
    (reg.settings.home / "models.yaml").write_text(bad)
    fresh = Registry.open(reg.settings)
    try:
        with pytest.raises(RegistryError) as caught:
            fresh.policy("house-prices")
        assert caught.value.code is ErrorCode.INVALID_INPUT
        message = caught.value.message
        assert str(reg.settings.home / "models.yaml") in message
        assert "model 'churn-uplift', field 'metric_direction'" in message
        assert "set metric_direction: higher or lower" in message
        async with client(build_server(fresh, approver="dana")) as session:
            result = await session.call_tool(
                "compare_versions", {"model_name": "house-prices", "version": 2}
            )
        assert result.is_error
        data = ToolErrorData.model_validate(result.structured_content)
        assert data.code is ErrorCode.INVALID_INPUT
        assert "metric_direction" in data.message
    finally:
        fresh.close()
