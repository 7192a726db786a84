"""Test helpers: registering versions quickly and snapshotting registry state."""

from __future__ import annotations

from typing import Any

from registry_mcp.core.registry import Registry
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.schemas import VersionInfo

COMPLETE_CARD = ModelCard(
    description="Digits classifier used in tests.",
    owner="tests",
    baseline_metrics={"accuracy": 0.95, "p50_latency_ms": 0.05},
    training_dataset="sklearn load_digits",
    preprocessing=["scale to [0, 1]"],
    intended_use="tests",
    limitations="tests only",
)


def add_versions(
    registry: Registry,
    uri: str,
    name: str = "digits",
    count: int = 3,
    *,
    card: ModelCard | None = COMPLETE_CARD,
    tags: dict[str, str] | None = None,
) -> list[VersionInfo]:
    return [
        registry.register(name, uri, actor="tester", card=card, tags=tags) for _ in range(count)
    ]


def snapshot(registry: Registry) -> dict[str, Any]:
    """Everything observable about the registry's models, versions, stages and tags."""
    state: dict[str, Any] = {}
    cursor = None
    while True:
        page = registry.list_models(limit=1000, cursor=cursor)
        for model in page.items:
            detail = registry.get_model(model.name, limit=1000)
            state[model.name] = {
                "model": model.model_dump(exclude={"updated_at"}),
                "versions": [
                    v.model_dump(exclude={"created_at"}) | {"system": v.system_tags}
                    for v in detail.versions.items
                ],
            }
        cursor = page.next_cursor
        if cursor is None:
            return state
