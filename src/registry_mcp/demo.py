"""The registry part of the simulation run: train v1 and v2, promote, approve, roll back."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from registry_mcp import render
from registry_mcp.registry import Registry
from registry_mcp.schemas import Stage, TransitionPlan
from registry_mcp.training import TrainConfig
from registry_mcp.training_job import DEFAULT_MODEL_NAME, train_and_register

V1 = TrainConfig(hidden=8, epochs=5, lr=5e-3, seed=1)
V2 = TrainConfig(hidden=64, epochs=30, lr=1e-2, seed=2)


def run_demo(
    registry: Registry,
    console: Console,
    *,
    actor: str,
    approve: Callable[[TransitionPlan], bool],
    name: str = DEFAULT_MODEL_NAME,
) -> bool:
    """Run the story; return False if the human denied the promotion (nothing moved then)."""
    console.rule("1. Train and register two versions")
    outcomes = []
    for config in (V1, V2):
        outcome = train_and_register(registry, config, name=name, actor=actor)
        outcomes.append(outcome)
        console.print(
            f"  {name} v{outcome.version.version}: hidden={config.hidden} epochs={config.epochs}"
            f" -> accuracy {outcome.accuracy:.2%}, p50 {outcome.p50_latency_ms:.3f} ms"
        )
    v1, v2 = (o.version.version for o in outcomes)

    console.rule(f"2. v{v1} through Staging to Production")
    current = registry.get_model(name).model.production_version
    registry.transition(name, v1, Stage.STAGING, rationale="demo: candidate", actor=actor)
    result = registry.transition(
        name,
        v1,
        Stage.PRODUCTION,
        rationale="demo: first release",
        actor=actor,
        expected_current_version=current or "none",
    )
    console.print("  " + render.transition_line(result))
    registry.transition(name, v2, Stage.STAGING, rationale="demo: better accuracy", actor=actor)
    console.print(f"  v{v2} -> Staging")

    console.rule(f"3. Propose v{v2} for Production (a human approves)")
    plan = registry.plan_transition(name, v2, Stage.PRODUCTION)
    delta = outcomes[1].accuracy - outcomes[0].accuracy
    console.print(render.plan_panel(plan))
    console.print(
        f"  Evidence: accuracy {delta:+.2%} vs v{v1}; card complete: {plan.card_complete}"
    )
    if not approve(plan):
        console.print("  Denied: nothing moved.")
        return False
    result = registry.transition(
        name,
        v2,
        Stage.PRODUCTION,
        rationale="demo: approved promotion",
        actor=actor,
        expected_current_version=v1,
    )
    console.print("  " + render.transition_line(result))

    console.rule(f"4. Roll back to v{v1}")
    result = registry.rollback(name, rationale="demo: rollback drill", actor=actor)
    console.print("  " + render.transition_line(result))

    console.rule("Summary")
    console.print(render.models_table(registry.list_models(limit=20)))
    console.print(render.audit_table(registry.audit_log(model=name, limit=8)))
    console.print(
        f"MLflow UI: mlflow ui --backend-store-uri {registry.settings.resolved_tracking_uri}\n"
        f"Audit:     modelreg audit {name}"
    )
    return True
