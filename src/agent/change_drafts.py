"""Change proposals built from read-only evidence; they run before the interrupt and
never call a stage-changing tool."""

from __future__ import annotations

from agent import answers
from agent import formatting as fmt
from agent.decisions import DecisionKind
from agent.intents import Promote, Rollback, StartCanary, StopCanary
from agent.mcp_tools import RegistryTools
from agent.state import Answer, Evidence, Proposal
from agent.tool_results import ChangePlan, Comparison, ModelInfo, ServingVersion


async def promotion(
    tools: RegistryTools, intent: Promote, allowed: list[DecisionKind]
) -> Proposal | Answer:
    """A promotion proposal with evidence, or an answer when there is nothing to propose."""
    info = await tools.get_model_info(intent.model, intent.version)
    serving = await tools.get_serving_version(intent.model)
    diff = await tools.compare_versions(intent.model, intent.version)
    if info.version.stage == intent.stage:
        text = f"{intent.model} v{intent.version} is already in {intent.stage}; nothing to do."
        return Answer(kind="info", title="No change needed", text=text)
    holder = {
        "Production": serving.registry_production_version,
        "Staging": serving.registry_staging_version,
    }.get(intent.stage)
    guarded = intent.stage in ("Production", "Staging")
    evidence = evidence_from(diff, info, serving)
    warnings = []
    if intent.stage == "Production" and not info.card.complete:
        warnings.append("The model card is incomplete; the registry refuses Production by default.")
    if diff.verdict == "worse":
        warnings.append(f"{diff.primary_metric} is worse than the current Production version.")
    if serving.canary is not None and intent.stage == "Production":
        warnings.append(f"This ends the running canary (v{serving.canary.version}).")
    # The registry's own plan (and its digest) is what the human approves and what moves.
    plan = await tools.preview_change(
        intent.model, "promote", version=intent.version, stage=intent.stage, guard=intent.guard
    )
    proposal = Proposal(
        kind="promote",
        model=intent.model,
        version=intent.version,
        from_stage=info.version.stage,
        stage=intent.stage,
        current_version=holder,
        expected_current_version=(holder if holder is not None else "none") if guarded else None,
        rationale=intent.rationale or drafted_rationale(evidence, intent.version),
        rationale_by="user" if intent.rationale else "agent",
        summary=plan_summary(plan),
        plan_digest=plan.digest,
        guard=intent.guard,
        evidence=evidence,
        warnings=warnings,
        allowed_decisions=allowed,
    )
    return proposal


async def canary(
    tools: RegistryTools, intent: StartCanary, allowed: list[DecisionKind]
) -> Proposal | Answer:
    """A proposal to send a share of Production traffic to a warm version, or an answer."""
    serving = await tools.get_serving_version(intent.model)
    production = serving.registry_production_version
    running = serving.canary
    if intent.version is None:
        # "dial the digits canary down to 5%": the share of the canary that runs.
        if running is None:
            text = (
                f"{intent.model} has no canary running to change; name the version, e.g. "
                f"'canary {intent.model} v3 at {intent.percent:g}%'."
            )
            return Answer(kind="info", title="No canary running", text=text)
        intent = intent.model_copy(update={"version": running.version})
    assert intent.version is not None
    if (
        running is not None
        and running.version == intent.version
        and running.percent == intent.percent
        and running.mode == intent.mode
    ):
        text = (
            f"The canary of {intent.model} already sends {intent.percent:g} % to v{intent.version}."
        )
        return Answer(kind="info", title="No change needed", text=text)
    info = await tools.get_model_info(intent.model, intent.version)
    diff = await tools.compare_versions(intent.model, intent.version)
    evidence = evidence_from(diff, info, serving)
    plan = await tools.preview_change(
        intent.model, "canary", version=intent.version, percent=intent.percent, mode=intent.mode
    )
    share = f"{intent.percent:g} % of Production traffic"
    return Proposal(
        kind="canary",
        model=intent.model,
        version=intent.version,
        from_stage=info.version.stage,
        stage=info.version.stage,
        current_version=production,
        expected_current_version=None,
        rationale=intent.rationale or f"Try v{intent.version} on {share} before promoting it.",
        rationale_by="user" if intent.rationale else "agent",
        summary=plan_summary(plan),
        plan_digest=plan.digest,
        percent=intent.percent,
        mode=intent.mode,
        evidence=evidence,
        warnings=[]
        if diff.verdict != "worse"
        else [f"{diff.primary_metric} is worse than Production."],
        allowed_decisions=allowed,
    )


async def stop_canary(
    tools: RegistryTools, intent: StopCanary, allowed: list[DecisionKind]
) -> Proposal | Answer:
    serving = await tools.get_serving_version(intent.model)
    running = serving.canary
    if running is None:
        text = f"{intent.model} has no canary running; nothing to stop."
        return Answer(kind="info", title="No change needed", text=text)
    info = await tools.get_model_info(intent.model, running.version)
    diff = await tools.compare_versions(intent.model, running.version)
    plan = await tools.preview_change(intent.model, "canary")
    return Proposal(
        kind="stop_canary",
        model=intent.model,
        version=running.version,
        from_stage=info.version.stage,
        stage=info.version.stage,
        current_version=serving.registry_production_version,
        expected_current_version=None,
        rationale=intent.rationale or f"Stop the canary of v{running.version}.",
        rationale_by="user" if intent.rationale else "agent",
        summary=plan_summary(plan),
        plan_digest=plan.digest,
        evidence=evidence_from(diff, info, serving),
        allowed_decisions=allowed,
    )


async def rollback(
    tools: RegistryTools, intent: Rollback, allowed: list[DecisionKind]
) -> Proposal | Answer:
    """A rollback proposal (to the previous or a named Production version), or an answer."""
    serving = await tools.get_serving_version(intent.model)
    current = serving.registry_production_version
    target = intent.to_version or serving.rollback_target
    if target is None:
        text = (
            f"{intent.model} has no previous Production version to roll back to "
            f"(Production is {'v' + str(current) if current else 'empty'})."
        )
        return Answer(kind="info", title="Nothing to roll back to", text=text)
    if target == current:
        text = f"{intent.model} v{target} is already in Production; nothing to do."
        return Answer(kind="info", title="No change needed", text=text)
    info = await tools.get_model_info(intent.model, target)
    diff = await tools.compare_versions(intent.model, target, current)
    evidence = evidence_from(diff, info, serving)
    plan = await tools.preview_change(intent.model, "rollback", version=target)
    proposal = Proposal(
        kind="rollback",
        model=intent.model,
        version=target,
        from_stage=info.version.stage,
        stage="Production",
        current_version=current,
        expected_current_version=None,
        rationale=intent.rationale or f"Roll back to v{target}, the previous Production version.",
        rationale_by="user" if intent.rationale else "agent",
        summary=plan_summary(plan),
        plan_digest=plan.digest,
        evidence=evidence,
        warnings=[],
        allowed_decisions=allowed,
    )
    return proposal


def plan_summary(plan: ChangePlan) -> str:
    """The plan in one line, with the digest the server's approval form will show."""
    if plan.kind == "canary":
        after, before = plan.canary_after, plan.canary_before
        if after is None:
            assert before is not None
            text = (
                f"Stop the canary of {plan.model}: v{before.version} ({before.percent:g} %) -> 0 %"
            )
        else:
            verb = "mirrors" if after.mode == "shadow" else "gets"
            text = (
                f"Canary of {plan.model}: v{after.version} {verb} {after.percent:g} % of "
                "Production traffic"
            )
        return f"{text} [plan {plan.short_digest}]"
    verb = "Roll back" if plan.kind == "rollback" else "Promote"
    text = f"{verb} {plan.model} v{plan.version}: {plan.from_stage} -> {plan.to_stage}"
    if plan.replaced_version is not None and plan.replaced_to_stage is not None:
        text += f"; v{plan.replaced_version} leaves {plan.to_stage} -> {plan.replaced_to_stage}"
    if plan.to_stage == "Production":
        target = plan.rollback_target_after
        text += f"; rollback target becomes {'v' + str(target) if target else 'none'}"
    if plan.ends_canary:
        text += "; ends the running canary"
    if plan.guard is not None:
        g = plan.guard
        text += (
            f"; guarded for {g.window_s:g} s (error ratio <= {g.max_error_ratio:.1%}, "
            f"p99 <= {g.max_p99_ms:g} ms): a breach rolls back to v{plan.rollback_target_after}"
        )
    return f"{text} [plan {plan.short_digest}]"


def evidence_from(diff: Comparison, info: ModelInfo, serving: ServingVersion) -> Evidence:
    metric = diff.primary_metric
    baseline = diff.baseline
    return Evidence(
        primary_metric=metric,
        candidate_value=diff.candidate.metrics.get(metric),
        baseline_version=baseline.version if baseline is not None else None,
        baseline_value=baseline.metrics.get(metric) if baseline is not None else None,
        primary_delta=diff.primary_delta,
        verdict=diff.verdict,
        card_complete=info.card.complete,
        missing_card_fields=info.card.missing_fields,
        description=info.card.card.description or info.version.description,
        serving_detail=answers.serving_answer(serving).text.replace("\n", " "),
        serving_in_sync=serving.serving.in_sync,
    )


def drafted_rationale(e: Evidence, version: int) -> str:
    if e.primary_delta is not None and e.baseline_version is not None:
        m = e.primary_metric
        return (
            f"v{version}: {fmt.metric(m, e.candidate_value)}, "
            f"{fmt.delta(m, e.primary_delta, e.candidate_value)} vs Production "
            f"v{e.baseline_version} ({fmt.metric_value(m, e.baseline_value)})."
        )
    return f"v{version}: {fmt.metric(e.primary_metric, e.candidate_value)}; no Production baseline."
