"""Registry core on real MLflow, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from registry_mcp.core.registry import Registry
from registry_mcp.domain.cards import ModelCard
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AuditAction, Decision, Stage
from tests.conftest import Backend
from tests.helpers import COMPLETE_CARD, add_versions, snapshot


def promote(registry: Registry, version: int, stage: str, name: str = "digits", **kw: object):
    return registry.stages.transition(name, version, stage, rationale="test", actor="alice", **kw)


def test_register_from_logged_model_and_run_uri(registry: Registry, backend: Backend) -> None:
    first = registry.register("digits", backend.model_uris[0], actor="alice", card=COMPLETE_CARD)
    assert first.version == 1
    assert first.stage is Stage.NONE
    assert first.card_complete
    assert str(first.source).startswith("file://")
    run_id = first.run_id
    assert run_id
    second = registry.register("digits", f"runs:/{run_id}/model", actor="alice")
    assert second.version == 2
    assert second.run_id == run_id
    assert not second.card_complete
    entries = registry.audit_log(model="digits").items
    assert [(e.action, e.to_version, e.actor) for e in entries] == [
        (AuditAction.REGISTER, 2, "alice"),
        (AuditAction.REGISTER, 1, "alice"),
    ]


def test_register_rejects_unknown_sources(registry: Registry) -> None:
    for uri, code in [
        ("runs:/0123456789abcdef0123456789abcdef/model", ErrorCode.NOT_FOUND),
        ("models:/m-doesnotexist", ErrorCode.NOT_FOUND),
        ("s3://bucket/model", ErrorCode.INVALID_INPUT),
        ("runs:/abc", ErrorCode.INVALID_INPUT),
    ]:
        with pytest.raises(RegistryError) as info:
            registry.register("digits", uri, actor="alice")
        assert info.value.code is code, uri
    assert registry.list_models().items == []


def test_stage_lifecycle_with_archive_and_rollback(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=3)
    promote(registry, 1, "staging")
    result = promote(registry, 1, "PRODUCTION")
    assert (result.from_stage, result.to_stage, result.replaced_version) == (
        Stage.STAGING,
        Stage.PRODUCTION,
        None,
    )
    promote(registry, 2, "Staging")
    result = promote(registry, 2, "production", expected_current_version=1)
    assert result.replaced_version == 1
    assert result.replaced_to_stage is Stage.ARCHIVED

    model = registry.get_model("digits").model
    assert (model.production_version, model.staging_version) == (2, None)
    assert model.previous_production_version == 1
    stages = {v.version: v.stage for v in registry.get_model("digits").versions.items}
    assert stages == {3: Stage.NONE, 2: Stage.PRODUCTION, 1: Stage.ARCHIVED}

    rolled = registry.stages.rollback("digits", rationale="v2 regressed", actor="bob")
    assert (rolled.version, rolled.replaced_version) == (1, 2)
    model = registry.get_model("digits").model
    assert (model.production_version, model.previous_production_version) == (1, 2)
    # Rolling back again toggles to the version just replaced.
    registry.stages.rollback("digits", rationale="fixed", actor="bob")
    assert registry.get_model("digits").model.production_version == 2

    entries = registry.audit_log(model="digits").items
    rollback_entry = entries[1]
    assert rollback_entry.action is AuditAction.ROLLBACK
    assert (rollback_entry.actor, rollback_entry.rationale) == ("bob", "v2 regressed")
    assert (rollback_entry.from_version, rollback_entry.to_version) == (2, 1)
    assert rollback_entry.decision is Decision.DONE


def test_staging_holds_one_version(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=2)
    promote(registry, 1, "staging")
    result = promote(registry, 2, "staging")
    assert (result.replaced_version, result.replaced_to_stage) == (1, Stage.NONE)
    stages = {v.version: v.stage for v in registry.get_model("digits").versions.items}
    assert stages == {1: Stage.NONE, 2: Stage.STAGING}


@pytest.mark.parametrize(
    ("setup", "version", "target", "fragment"),
    [
        ([], 1, "Production", "promote it to Staging first"),
        ([], 1, "None", "already in None"),
        ([(1, "staging"), (1, "production")], 1, "staging", "in Production"),
        ([(1, "archived")], 1, "production", "use rollback"),
    ],
)
def test_invalid_transitions_are_refused_and_audited(
    registry: Registry,
    backend: Backend,
    setup: list[tuple[int, str]],
    version: int,
    target: str,
    fragment: str,
) -> None:
    add_versions(registry, backend.model_uris[0], count=1)
    for v, stage in setup:
        promote(registry, v, stage)
    before = snapshot(registry)
    with pytest.raises(RegistryError) as info:
        promote(registry, version, target)
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert fragment in info.value.message
    assert snapshot(registry) == before
    last = registry.audit_log(model="digits", limit=1).items[0]
    assert last.decision is Decision.REFUSED
    assert "INVALID_TRANSITION" in str(last.reason)


def test_compare_and_set_refuses_stale_expectation(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=3)
    promote(registry, 1, "staging", expected_current_version="none")
    promote(registry, 1, "production", expected_current_version="none")
    promote(registry, 2, "staging")
    before = snapshot(registry)
    with pytest.raises(RegistryError) as info:
        promote(registry, 2, "production", expected_current_version="none")
    assert info.value.code is ErrorCode.STALE_VERSION
    assert "now v1" in info.value.message
    with pytest.raises(RegistryError) as info:
        promote(registry, 2, "production", expected_current_version=3)
    assert info.value.code is ErrorCode.STALE_VERSION
    assert snapshot(registry) == before
    promote(registry, 2, "production", expected_current_version=1)
    assert registry.get_model("digits").model.production_version == 2


def test_production_requires_complete_card(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=1, card=None)
    promote(registry, 1, "staging")
    plan = registry.stages.plan_transition("digits", 1, "production")
    assert not plan.card_complete
    assert "owner" in plan.missing_card_fields
    with pytest.raises(RegistryError) as info:
        promote(registry, 1, "production")
    assert info.value.code is ErrorCode.CARD_INCOMPLETE
    assert "baseline_metrics.accuracy" in info.value.message
    view = registry.set_card("digits", 1, COMPLETE_CARD, actor="alice")
    assert view.complete
    promote(registry, 1, "production")
    assert registry.get_version("digits", 1).stage is Stage.PRODUCTION


def test_rollback_refusals(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=3)
    with pytest.raises(RegistryError, match="no Production version") as info:
        registry.stages.rollback("digits", rationale="x", actor="a")
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    promote(registry, 1, "staging")
    promote(registry, 1, "production")
    with pytest.raises(RegistryError, match="no previous Production"):
        registry.stages.rollback("digits", rationale="x", actor="a")
    with pytest.raises(RegistryError, match="never been in Production"):
        registry.stages.rollback("digits", rationale="x", actor="a", to_version=3)
    with pytest.raises(RegistryError) as info:
        registry.stages.rollback("digits", rationale="x", actor="a", to_version=9)
    assert info.value.code is ErrorCode.NOT_FOUND
    refused = [
        e for e in registry.audit_log(model="digits").items if e.action is AuditAction.ROLLBACK
    ]
    assert {e.decision for e in refused} == {Decision.REFUSED}
    assert len(refused) == 4  # every attempt, the one naming a missing version too


def test_model_card_round_trip_and_incomplete_report(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], count=1, card=None)
    partial = ModelCard(owner="team-vision", baseline_metrics={"accuracy": 0.9})
    view = registry.set_card("digits", "1", partial, actor="alice")
    assert not view.complete
    assert "baseline_metrics.p50_latency_ms" in view.missing_fields
    assert registry.get_card("digits", 1).card == partial
    info = registry.get_version("digits", 1)
    assert "Card incomplete" in str(info.description)
    assert "modelreg.card" not in info.tags


def test_tags_and_queries(registry: Registry, backend: Backend) -> None:
    uri = backend.model_uris[0]
    add_versions(registry, uri, "cls-a", 2, tags={"task": "classification", "env": "dev"})
    add_versions(registry, uri, "cls-b", 2, tags={"task": "classification"})
    add_versions(registry, uri, "reg-c", 1, tags={"task": "regression"})
    promote(registry, 1, "staging", name="cls-a")
    promote(registry, 1, "production", name="cls-a")
    promote(registry, 2, "staging", name="cls-b")
    promote(registry, 1, "staging", name="reg-c")

    def names(**kw: object) -> list[str]:
        return [m.name for m in registry.list_models(**kw).items]  # type: ignore[arg-type]

    assert names(stage="production") == ["cls-a"]
    assert names(stage="staging", task="classification") == ["cls-b"]
    assert names(tags={"task": "classification"}) == ["cls-a", "cls-b"]
    assert names(tags=[("task", "classification"), ("env", "dev")]) == ["cls-a"]
    assert names(stage="none") == []
    assert names(tags={"task": "nope"}) == []

    after = registry.set_tags("cls-b", {"env": "prod"}, actor="alice")
    assert after == {"task": "classification", "env": "prod"}
    after = registry.set_tags("cls-b", {}, actor="alice", remove=["env"])
    assert after == {"task": "classification"}
    v_tags = registry.set_tags("cls-b", {"framework": "pytorch"}, actor="a", version=2)
    assert v_tags == {"framework": "pytorch"}
    assert registry.get_version("cls-b", 2).tags == {"framework": "pytorch"}
    with pytest.raises(RegistryError) as info:
        registry.set_tags("cls-b", {"modelreg.stage": "Production"}, actor="a", version=2)
    assert info.value.code is ErrorCode.INVALID_INPUT


def test_paging_is_bounded_and_complete(registry: Registry, backend: Backend) -> None:
    for i in range(7):
        registry.register(f"m{i}", backend.model_uris[0], actor="a")
    seen, cursor, pages = [], None, 0
    while True:
        page = registry.list_models(limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += [m.name for m in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in range(7)]
    assert pages == 3
    with pytest.raises(RegistryError) as info:
        registry.list_models(cursor="not-a-cursor")
    assert info.value.code is ErrorCode.INVALID_INPUT
    add_versions(registry, backend.model_uris[0], "paged", 5)
    first = registry.get_model("paged", limit=2)
    assert [v.version for v in first.versions.items] == [5, 4]
    rest = registry.list_versions("paged", limit=10, cursor=first.versions.next_cursor)
    assert [v.version for v in rest.items] == [3, 2, 1]


def test_audit_query_by_model_and_time(registry: Registry, backend: Backend) -> None:
    add_versions(registry, backend.model_uris[0], "a", 1)
    add_versions(registry, backend.model_uris[0], "b", 2)
    now = datetime.now(UTC)
    assert {e.model for e in registry.audit_log(model="b").items} == {"b"}
    assert len(registry.audit_log(since=now - timedelta(minutes=5)).items) == 3
    assert registry.audit_log(since=now + timedelta(minutes=5)).items == []
    assert registry.audit_log(until=now - timedelta(minutes=5)).items == []
    page = registry.audit_log(limit=2)
    rest = registry.audit_log(limit=2, cursor=page.next_cursor)
    assert [e.id for e in page.items + rest.items] == sorted(
        (e.id for e in page.items + rest.items), reverse=True
    )
    assert rest.next_cursor is None
    with pytest.raises(RegistryError):
        registry.audit_log(since=now, until=now - timedelta(seconds=1))


def test_reads_see_writes_of_a_plain_mlflow_client(registry: Registry, backend: Backend) -> None:
    from mlflow import MlflowClient

    add_versions(registry, backend.model_uris[0], "shared", 2)
    other = MlflowClient(
        tracking_uri=backend.settings.resolved_tracking_uri,
        registry_uri=backend.settings.resolved_registry_uri,
    )
    other.create_registered_model("from-elsewhere", tags={"task": "classification"})
    other.set_registered_model_alias("shared", "production", "2")
    other.set_registered_model_tag("shared", "task", "classification")
    other.delete_model_version("shared", "1")
    names = [m.name for m in registry.list_models(task="classification").items]
    assert names == ["from-elsewhere", "shared"]
    assert [m.name for m in registry.list_models(stage="production").items] == ["shared"]
    detail = registry.get_model("shared")
    # An alias set around modelreg is seen, and flagged apart from the approved stages.
    assert detail.model.aliases.production == 2
    assert detail.model.production_version is None
    assert detail.model.unapproved_change is not None
    assert [v.version for v in detail.versions.items] == [2]


def test_listed_models_equal_their_validated_form(registry: Registry, backend: Backend) -> None:
    """Listed models are built without validation; they must be what validation would give."""
    from mlflow import MlflowClient

    from registry_mcp.domain.schemas import ModelSummary

    add_versions(registry, backend.model_uris[0], "approved", 2)
    promote(registry, 1, "staging", name="approved")
    promote(registry, 1, "production", name="approved")
    registry.set_tags("approved", {"team": "vision"}, actor="alice")
    add_versions(registry, backend.model_uris[0], "moved", 2)
    other = MlflowClient(
        tracking_uri=backend.settings.resolved_tracking_uri,
        registry_uri=backend.settings.resolved_registry_uri,
    )
    other.set_registered_model_alias("moved", "production", "2")
    other.create_registered_model("empty", description="no versions")
    # A second model in the same approved state: models of a page share that (frozen) state.
    add_versions(registry, backend.model_uris[0], "twin", 2)
    promote(registry, 1, "staging", name="twin")
    promote(registry, 1, "production", name="twin")
    page = registry.list_models()
    listed = [*page.items, registry.get_model("moved").model]
    assert [m.name for m in listed] == ["approved", "empty", "moved", "twin", "moved"]
    assert listed[3].approved == listed[0].approved
    assert listed[3].tags == {}
    with pytest.raises(ValidationError):
        listed[3].approved.production = 2  # type: ignore[misc]
    assert listed[0].approved.production == 1
    # Page by page, the same models and the same JSON as in one page.
    walked, cursor = [], None
    while True:
        one = registry.list_models(limit=1, cursor=cursor)
        walked += one.items
        cursor = one.next_cursor
        if cursor is None:
            break
    assert [m.model_dump_json() for m in walked] == [m.model_dump_json() for m in page.items]
    assert listed[0].production_version == 1
    assert listed[0].tags == {"team": "vision"}
    assert listed[2].unapproved_change is not None
    assert listed[2].aliases.production == 2
    for model in listed:
        validated = ModelSummary(
            **{field: getattr(model, field) for field in ModelSummary.model_fields}
        )
        assert validated == model
        assert validated.model_dump_json() == model.model_dump_json()
        assert validated.approved == model.approved
    # What serving follows: the approved aliases, in one read.
    assert registry.approved_state("approved") == listed[0].approved
    assert registry.approved_state("moved") == listed[2].approved
    assert registry.approved_state("moved").production is None
    with pytest.raises(TypeError, match="needs exactly its fields"):
        ModelSummary.trusted({"name": "x"})


def test_names_with_quotes_unicode_and_sql_work(registry: Registry, backend: Backend) -> None:
    tricky = ['it\'s "quoted"', "模型 ünïcode", "x'; DROP TABLE registered_models; --", "a%_b"]
    from mlflow import MlflowClient

    settings = registry.settings
    other = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    for name in tricky:
        # modelreg registers no such new name; models made elsewhere keep working.
        with pytest.raises(RegistryError) as info:
            registry.register(name, backend.model_uris[0], actor="a")
        assert info.value.code is ErrorCode.INVALID_INPUT
        other.create_registered_model(name)
        registry.register(name, backend.model_uris[0], actor="a", tags={"k": name})
    assert sorted(m.name for m in registry.list_models().items) == sorted(tricky)
    for name in tricky:
        assert [m.name for m in registry.list_models(tags={"k": name}).items] == [name]
        assert registry.get_model(name).model.latest_version == 1
    assert registry.list_models(tags={"k": "a__b"}).items == []


@pytest.mark.parametrize(
    "name",
    ['it\'s "quoted"', "a#b", "two words", "line\u2028break", "-dash", "x" * 64, "模型", "a/b"],
)
def test_a_new_model_name_must_be_safe_for_kubernetes(
    registry: Registry, backend: Backend, name: str
) -> None:
    before = snapshot(registry)
    with pytest.raises(RegistryError) as info:
        registry.register(name, backend.model_uris[0], actor="a")
    assert info.value.code is ErrorCode.INVALID_INPUT
    assert "\n" not in info.value.message
    assert "\u2028" not in info.value.message
    assert snapshot(registry) == before


def test_a_second_name_for_the_same_kubernetes_name_is_refused_naming_the_first(
    registry: Registry, backend: Backend
) -> None:
    registry.register("mnist-classifier", backend.model_uris[0], actor="a")
    before = snapshot(registry)
    for twin in ("MNIST-Classifier", "mnist_classifier", "mnist.classifier"):
        with pytest.raises(RegistryError) as info:
            registry.register(twin, backend.model_uris[0], actor="a")
        assert info.value.code is ErrorCode.ALREADY_EXISTS
        assert "'mnist-classifier'" in info.value.message
    assert snapshot(registry) == before
    # More versions of the first are fine.
    assert registry.register("mnist-classifier", backend.model_uris[0], actor="a").version == 2
