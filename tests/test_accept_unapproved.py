"""`approvals accept-unapproved` is an approval like any other: the stage change the aliases
moved in MLflow amount to, planned from the approved aliases, under the promotion rules (card,
transitions, four-eyes, a version serving can load), confirmed and audited once."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient

from registry_mcp.core.registry import Registry
from registry_mcp.domain.schemas import AuditAction, Decision
from registry_mcp.training.trainer import TrainResult
from tests import test_cli
from tests.conftest import Backend
from tests.helpers import add_versions
from tests.test_cli import invoke
from tests.test_mcp import seed

cli_env = test_cli.cli_env


@pytest.fixture
def seeded(cli_env: Backend) -> Backend:
    registry = Registry.open(cli_env.settings)
    seed(registry, cli_env.model_uris[0])  # digits: v1 Production, v3 Staging
    registry.close()
    return cli_env


def _mlflow(backend: Backend) -> MlflowClient:
    settings = backend.settings
    return MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)


def _state(backend: Backend) -> tuple[tuple[int | None, ...], tuple[int | None, ...], bool]:
    registry = Registry.open(backend.settings)
    model = registry.get_model("digits", limit=1).model
    registry.close()
    approved = (model.approved.production, model.approved.staging, model.approved.previous)
    found = model.aliases
    return (
        approved,
        (found.production, found.staging, found.previous),
        bool(model.unapproved_change),
    )


def _last_audit(backend: Backend) -> tuple[AuditAction, Decision, str, str | None]:
    registry = Registry.open(backend.settings)
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    return entry.action, entry.decision, entry.actor, entry.reason


def test_four_eyes_and_an_incomplete_card_refuse_accepting_like_a_promotion(
    seeded: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: under four-eyes, one person moved Production in MLflow's UI to a version
    with an empty card and accepted it alone. A promotion would refuse it; so does this."""
    monkeypatch.setenv("MODELREG_FOUR_EYES", "true")
    registry = Registry.open(seeded.settings)
    add_versions(registry, seeded.model_uris[0], "digits", 1, card=None)  # v4, empty card
    registry.stages.transition("digits", 4, "staging", rationale="try", actor="seed")
    registry.close()
    _mlflow(seeded).set_registered_model_alias("digits", "production", "4")
    before = _state(seeded)
    assert before == ((1, 4, None), (4, 4, None), True)

    code, _, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 2, err
    assert "CARD_INCOMPLETE" in err
    assert "Traceback" not in err
    assert _state(seeded) == before  # nothing moved, the change is still pending
    action, decision, actor, reason = _last_audit(seeded)
    assert (action, decision, actor) == (AuditAction.TRANSITION, Decision.REFUSED, "carol")
    assert reason is not None
    assert "CARD_INCOMPLETE" in reason


def test_under_four_eyes_accepting_is_a_proposal_another_person_approves(
    seeded: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_FOUR_EYES", "true")
    _mlflow(seeded).set_registered_model_alias("digits", "production", "3")
    code, out, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 0, err
    assert "waiting for a human" in out
    assert "Accept the change made outside modelreg: move digits v3" in " ".join(out.split())
    assert _state(seeded) == ((1, 3, None), (3, 3, None), True)
    proposal_id = int(out.split("Proposal #")[1].split()[0])
    code, _, err = invoke(capsys, "approvals", "approve", str(proposal_id), "--yes")
    assert code == 2
    assert "Four-eyes" in err
    assert _state(seeded)[0] == (1, 3, None)
    code, out, err = invoke(
        capsys, "--actor", "erin", "approvals", "approve", str(proposal_id), "--yes"
    )
    assert code == 0, err
    # The promotion's whole plan: v3 leaves Staging, v1 becomes the rollback target.
    assert _state(seeded) == ((3, None, 1), (3, None, 1), False)
    action, decision, actor, reason = _last_audit(seeded)
    assert (action, decision, actor) == (AuditAction.TRANSITION, Decision.DONE, "erin")
    assert reason is not None
    assert "accepts the change made outside modelreg" in reason


def test_a_version_serving_cannot_load_is_refused_before_it_moves(
    seeded: Backend, capsys: pytest.CaptureFixture[str], trained: TrainResult
) -> None:
    registry = Registry.open(seeded.settings)
    _, uri = registry.log_pytorch_run(
        model=trained.model,
        input_example=trained.input_example,
        params={"seed": 0},
        metrics={"test_accuracy": trained.accuracy},
        pip_requirements=["torch", "mlflow"],
        run_name="broken",
    )
    add_versions(registry, uri, "digits", 1)  # v4, complete card
    registry.stages.transition("digits", 4, "staging", rationale="try", actor="seed")
    registry.close()
    client = _mlflow(seeded)
    model_id = uri.removeprefix("models:/")
    location = Path(urlparse(client.get_logged_model(model_id).artifact_location).path)
    (location / "MLmodel").unlink()  # its artifacts are broken: serving cannot load it
    client.set_registered_model_alias("digits", "production", "4")
    before = _state(seeded)

    code, _, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 2, err
    assert "Traceback" not in err
    assert _state(seeded) == before
    action, decision, _, reason = _last_audit(seeded)
    assert (action, decision) == (AuditAction.TRANSITION, Decision.REFUSED)
    assert reason is not None
    assert "MLmodel" in reason


@pytest.mark.parametrize(
    ("moves", "says"),
    [
        ({"production": "2"}, "not in Staging"),  # v2 never went through Staging
        ({"production": "3", "staging": "2"}, "more than one stage change"),
        ({"previous_production": "3"}, "Only the rollback target"),
    ],
)
def test_a_change_a_promotion_would_refuse_is_not_accepted(
    seeded: Backend, capsys: pytest.CaptureFixture[str], moves: dict[str, str], says: str
) -> None:
    client = _mlflow(seeded)
    for alias, version in moves.items():
        client.set_registered_model_alias("digits", alias, version)
    before = _state(seeded)
    code, _, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 2, err
    assert says in " ".join(err.split())
    assert "revert-unapproved digits" in " ".join(err.split())
    assert _state(seeded) == before
    assert _last_audit(seeded)[1] is Decision.REFUSED
    # The one-step way back still works.
    code, _out, err = invoke(capsys, "approvals", "revert-unapproved", "digits", "--yes")
    assert code == 0, err
    assert _state(seeded) == ((1, 3, None), (1, 3, None), False)


def test_accepting_a_staging_move_and_a_rollback_through_the_ui(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _mlflow(seeded)
    client.set_registered_model_alias("digits", "production", "3")
    code, out, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["status"] == "applied"
    assert outcome["plan"]["accepts"] == {"production": 3, "staging": 3, "previous": None}
    assert _state(seeded) == ((3, None, 1), (3, None, 1), False)
    # Back to v1 in the UI: a rollback (v1 served before), accepted as one.
    client.set_registered_model_alias("digits", "production", "1")
    code, out, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 0, err
    assert _state(seeded) == ((1, None, 3), (1, None, 3), False)
    assert _last_audit(seeded)[:2] == (AuditAction.ROLLBACK, Decision.DONE)
    # A new Staging version set in the UI.
    client.set_registered_model_alias("digits", "staging", "2")
    code, out, err = invoke(capsys, "approvals", "accept-unapproved", "digits", "--yes")
    assert code == 0, err
    assert _state(seeded) == ((1, 2, 3), (1, 2, 3), False)
