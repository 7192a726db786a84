"""Approval commands at the CLI: the commands modelreg prints work when pasted, a missing
terminal says what to do, and aliases moved in MLflow are reverted or accepted by a human."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from registry_mcp.core.approvals import Approvals
from registry_mcp.core.registry import Registry
from registry_mcp.domain.plans import ChangeKind
from registry_mcp.domain.schemas import AuditAction, Decision
from tests import test_cli
from tests.conftest import Backend
from tests.test_cli import ANSI, _read_until, invoke, on_pty
from tests.test_mcp import seed

MODELREG = str(Path(sys.executable).with_name("modelreg"))
cli_env = test_cli.cli_env  # the same throwaway data home as the other CLI tests


@pytest.fixture
def seeded(cli_env: Backend) -> Backend:
    registry = Registry.open(cli_env.settings)
    seed(registry, cli_env.model_uris[0])  # digits: v1 Production, v3 Staging
    registry.close()
    return cli_env


def _propose(backend: Backend) -> tuple[int, str, str]:
    registry = Registry.open(backend.settings)
    approvals = Approvals.for_registry(registry)
    req = approvals.request(
        ChangeKind.PROMOTE,
        "digits",
        version=3,
        stage="Production",
        rationale="ready",
        requested_by="bot",
        client="mcp:bot",
    )
    outcome = approvals.propose(req, approvals.plan(req))
    registry.close()
    assert outcome.proposal_id is not None
    assert outcome.approve_command is not None
    assert outcome.deny_command is not None
    return outcome.proposal_id, outcome.approve_command, outcome.deny_command


def _paste(command: str, answer: bytes, until: bytes) -> tuple[int, bytes]:
    """Run ``command`` through a shell on a pseudo-terminal, as if pasted, and answer."""
    path = {"PATH": f"{Path(MODELREG).parent}:{os.environ['PATH']}"}
    with on_pty(["bash", "-c", command], path) as (proc, primary):
        shown = _read_until(primary, b"Apply this change?")
        os.write(primary, answer)
        shown += _read_until(primary, until)
        code = proc.wait(timeout=120)
    return code, ANSI.sub(b"", shown)


@pytest.mark.parametrize("which", ["approve", "deny"])
def test_the_printed_approve_and_deny_commands_work_when_pasted(
    seeded: Backend, which: str
) -> None:
    _, approve, deny = _propose(seeded)
    command = approve if which == "approve" else deny
    code, shown = _paste(command, b"y\n", b"applied" if which == "approve" else b"denied")
    assert code == 0, shown
    assert b"Move digits v3: Staging -> Production" in shown
    assert b"[plan " in shown
    registry = Registry.open(seeded.settings)
    production = registry.get_model("digits").model.production_version
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    assert production == (3 if which == "approve" else 1)
    assert entry.decision is (Decision.DONE if which == "approve" else Decision.DENIED)
    assert entry.actor == "carol"


def test_approving_without_a_terminal_says_to_pass_yes(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    proposal_id, _, _ = _propose(seeded)
    code, _, err = invoke(capsys, "approvals", "approve", str(proposal_id), "-r", "ok")
    assert code == 2
    assert "no terminal is attached" in err
    assert "--yes" in err
    registry = Registry.open(seeded.settings)
    assert registry.get_model("digits").model.production_version == 1
    registry.close()
    code, out, _ = invoke(capsys, "approvals", "approve", str(proposal_id), "-r", "ok", "--yes")
    assert code == 0
    assert "approved and applied" in out
    # Single use: the same approval again changes nothing and says why.
    code, _, err = invoke(capsys, "approvals", "approve", str(proposal_id), "--yes")
    assert code == 2
    assert "already approved" in err


def test_an_alias_moved_in_mlflow_is_shown_and_reverted_or_accepted(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = seeded.settings
    other = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
    other.set_registered_model_alias("digits", "production", "2")  # the MLflow UI's editor

    for command in (["models", "show", "digits"], ["models", "list"], ["serve", "status"]):
        code, out, _ = invoke(capsys, *command)
        assert code == 0, command
        assert "UNAPPROVED CHANGE to digits: Production v1 -> v2" in " ".join(out.split())
    # `models show`: the approved stages, and MLflow's pending aliases on a line of their own.
    code, out, _ = invoke(capsys, "models", "show", "digits")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert any("Production: v1 Staging: v3" in line and "(approved)" in line for line in lines)
    assert any(
        "Pending, not approved (MLflow shows): Production v2 Staging v3" in line for line in lines
    )
    code, out, _ = invoke(capsys, "models", "list", "--json")
    item = json.loads(out)["items"][0]
    assert (item["production_version"], item["unapproved_aliases"]["production"]) == (1, 2)
    code, out, _ = invoke(capsys, "serve", "status", "--json")
    shown = json.loads(out)
    assert "UNAPPROVED CHANGE" in shown["unapproved_changes"]["digits"]
    assert shown["models_file"]["origin"] == "packaged default"
    code, _, err = invoke(
        capsys, "promote", "digits", "3", "--stage", "production", "-r", "go", "--yes"
    )
    assert code == 2
    assert "UNAPPROVED_CHANGE" in err
    assert "modelreg approvals revert-unapproved digits" in err

    code, out, _ = invoke(capsys, "approvals", "revert-unapproved", "digits", "--yes")
    assert code == 0, out
    assert "Production v1" in out
    registry = Registry.open(settings)
    assert registry.get_model("digits").model.production_version == 1
    assert registry.get_model("digits").model.unapproved_change is None

    other.set_registered_model_alias("digits", "production", "3")  # v3 is in Staging
    code, out, _ = invoke(
        capsys,
        "approvals",
        "accept-unapproved",
        "digits",
        "-r",
        "hotfix by ops",
        "--yes",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["status"] == "applied"
    summary = registry.get_model("digits").model
    # Accepted as the promotion it amounts to: v3 leaves Staging, v1 is the rollback target.
    assert summary.approved.model_dump() == {"production": 3, "staging": None, "previous": 1}
    assert (summary.production_version, summary.unapproved_change) == (3, None)
    entries = registry.audit_log(model="digits", limit=6).items
    registry.close()
    kinds = [e.action for e in entries]
    assert kinds.count(AuditAction.UNAPPROVED_CHANGE) == 2
    assert kinds.count(AuditAction.RESOLVE_UNAPPROVED) == 1
    assert (entries[0].action, entries[0].decision) == (AuditAction.TRANSITION, Decision.DONE)
    assert entries[0].rationale == "hotfix by ops"


def test_a_change_made_while_the_terminal_asks_is_refused(seeded: Backend) -> None:
    """`modelreg rollback` shows its plan; another operator moves Production before the
    human answers y: the shown plan is gone, so nothing moves."""
    registry = Registry.open(seeded.settings)
    registry.stages.transition("digits", 3, "production", rationale="release", actor="seed")
    registry.stages.transition("digits", 2, "staging", rationale="next", actor="seed")
    with on_pty([MODELREG, "rollback", "digits", "-r", "regression"]) as (proc, primary):
        shown = ANSI.sub(b"", _read_until(primary, b"Apply this change?"))
        assert b"Roll back digits v1" in shown
        registry.stages.transition("digits", 2, "production", rationale="hotfix", actor="erin")
        os.write(primary, b"y\n")
        rest = ANSI.sub(b"", _read_until(primary, b"nothing moved"))
        assert proc.wait(timeout=60) == 2, rest
    assert b"STALE_PLAN" in rest
    assert registry.get_model("digits").model.production_version == 2
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    assert (entry.action, entry.decision) == (AuditAction.ROLLBACK, Decision.REFUSED)


def test_four_eyes_needs_a_second_person_for_production(
    seeded: Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELREG_FOUR_EYES", "true")
    code, out, _ = invoke(
        capsys, "promote", "digits", "3", "--stage", "production", "-r", "ready", "--yes"
    )
    assert code == 0
    assert "waiting for a human" in out
    proposal_id = int(out.split("Proposal #")[1].split()[0])
    code, _, err = invoke(capsys, "approvals", "approve", str(proposal_id), "--yes")
    assert code == 2
    assert "Four-eyes" in err
    code, out, _ = invoke(
        capsys, "--actor", "erin", "approvals", "approve", str(proposal_id), "--yes"
    )
    assert code == 0, out
    registry = Registry.open(seeded.settings)
    entry = registry.audit_log(model="digits", limit=1).items[0]
    registry.close()
    assert (entry.decision, entry.actor, entry.requested_by) == (Decision.DONE, "erin", "carol")


def test_trusting_a_version_is_confirmed_and_audited(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = invoke(capsys, "approvals", "trust", "digits", "2", "-r", "legacy model")
    assert code == 2
    assert "--yes" in err  # no terminal: nothing changes without an explicit yes
    code, out, _ = invoke(
        capsys, "approvals", "trust", "digits", "2", "-r", "legacy model", "--yes"
    )
    assert code == 0, out
    assert "digits v2 is trusted (audited)" in " ".join(out.split())
    assert "modelreg serve reconcile" in out
    registry = Registry.open(seeded.settings)
    assert registry.trust.is_trusted("digits", 2)
    code, out, _ = invoke(
        capsys, "approvals", "trust", "digits", "2", "-r", "done", "--revoke", "--yes"
    )
    assert code == 0, out
    assert not registry.trust.is_trusted("digits", 2)
    trust = [e for e in registry.audit_log(model="digits", limit=5).items if e.action == "trust"]
    registry.close()
    assert [(e.actor, e.reason) for e in trust] == [
        ("carol", "trust withdrawn"),
        ("carol", "may run code when loaded"),
    ]


def test_tokens_are_added_listed_and_revoked_as_the_readme_prints(
    seeded: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = invoke(capsys, "tokens", "list")
    assert (code, out.strip()) == (0, "No tokens.")
    code, first, _ = invoke(capsys, "tokens", "add", "dana")
    assert code == 0
    code, second, _ = invoke(capsys, "tokens", "add", "dana")  # replaces dana's old token
    assert code == 0
    assert first.strip() != second.strip()
    invoke(capsys, "tokens", "add", "erin")
    code, out, _ = invoke(capsys, "tokens", "list")
    assert out.split() == ["dana", "erin"]
    code, out, _ = invoke(capsys, "tokens", "revoke", "dana")
    assert code == 0
    assert "Revoked the token of dana;" in out
    code, _, err = invoke(capsys, "tokens", "revoke", "dana")
    assert code == 2
    assert "modelreg tokens list" in err
    code, out, _ = invoke(capsys, "tokens", "list")
    assert out.split() == ["erin"]
