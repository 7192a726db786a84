"""rollout.plan / drift / DesiredModel on hand-built TorchServe states (live runs: integration)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.config import TorchServeSettings, WorkerRange
from serving.rollout import DesiredModel, drift, plan
from serving.schemas import ModelDescription, ServedVersion, WorkerInfo

ARCHIVES = {v: f"m-v{v}-hash{v}.mar" for v in range(1, 6)}


def desired(**roles: int | None) -> DesiredModel:
    return DesiredModel(
        name="m",
        archives=ARCHIVES,
        serving=TorchServeSettings(workers=WorkerRange(min=2, max=3)),
        **roles,
    )


def served(
    version: int | str,
    *,
    default: bool = False,
    workers: tuple[int, int] = (1, 1),
    archive: str = "",
) -> ServedVersion:
    low, high = workers
    return ServedVersion(
        version=str(version),
        is_default=default,
        status="READY" if low else "NO_WORKERS",
        workers=tuple(WorkerInfo(id=str(i), status="READY") for i in range(low)),
        min_workers=low,
        max_workers=high,
        batch_size=1,
        max_batch_delay_ms=50,
        archive=archive or ARCHIVES.get(int(version) if str(version).isdigit() else 0, "x.mar"),
    )


def state(*versions: ServedVersion) -> ModelDescription:
    default = next((v.version for v in versions if v.is_default), None)
    return ModelDescription(name="m", default_version=default, versions=versions)


def kinds(want: DesiredModel, current: ModelDescription) -> list[tuple[str, str]]:
    return [(step.kind, step.ts_version) for step in plan(want, current)]


def test_new_model_registers_production_first_then_the_others() -> None:
    want = desired(production=3, previous=2, staging=4)
    assert kinds(want, state()) == [
        ("register", "3"),
        ("register", "2"),
        ("register", "4"),
        ("set_default", "3"),
    ]
    assert drift(want, state())[0] == "TorchServe has no model 'm'"


def test_in_sync_means_no_steps_and_no_drift() -> None:
    current = state(served(3, default=True, workers=(2, 3)), served(2, workers=(1, 1)), served(4))
    want = desired(production=3, previous=2, staging=4)
    assert plan(want, current) == []
    assert drift(want, current) == []


def test_promotion_moves_the_default_before_removing_anything() -> None:
    current = state(served(2, default=True, workers=(2, 3)), served(3), served(1))
    assert kinds(desired(production=3, previous=2), current) == [
        ("set_default", "3"),
        ("scale", "3"),
        ("scale", "2"),
        ("unregister", "1"),
    ]


def test_manual_default_change_is_drift() -> None:
    current = state(served(3, workers=(2, 3)), served(2, default=True))
    reasons = drift(desired(production=3, previous=2), current)
    assert reasons == ["default is 2, desired v3"]


def test_unmanaged_version_strings_are_removed() -> None:
    current = state(served(3, default=True, workers=(2, 3)), served("1.0"))
    steps = plan(desired(production=3), current)
    assert [(s.kind, s.ts_version, s.version) for s in steps] == [("unregister", "1.0", None)]
    assert steps[0].reason == "'1.0' is loaded but not desired"


def test_the_default_is_never_unregistered_when_nothing_is_desired() -> None:
    current = state(served(3, default=True), served(2))
    want = desired(production=None)
    assert kinds(want, current) == [("unregister", "2")]
    assert any("kept serving" in reason for reason in drift(want, current))


def test_without_production_the_default_moves_to_a_desired_version() -> None:
    current = state(served(1, default=True), served(2))
    assert kinds(desired(previous=2), current) == [("set_default", "2"), ("unregister", "1")]
    # ...but a desired current default stays where it is.
    assert kinds(desired(previous=2, staging=1), state(served(1, default=True), served(2))) == []


def test_stale_archive_is_replaced_unless_it_is_the_default() -> None:
    current = state(
        served(3, default=True, workers=(2, 3), archive="old3.mar"),
        served(4, archive="old4.mar"),
    )
    want = desired(production=3, staging=4)
    assert kinds(want, current) == [("replace", "4")]
    reasons = drift(want, current)
    assert any("default v3 serves archive old3.mar" in reason for reason in reasons)


def test_status_probe_without_archives() -> None:
    # The registry may only know the Production version: drift is still computed.
    probe = DesiredModel(name="m", production=3)
    current = state(served(3, default=True, archive="anything.mar"), served(2))
    assert drift(probe, current) == ["v2 is loaded but not desired"]
    assert kinds(probe, state()) == [("register", "3"), ("set_default", "3")]


def test_desired_model_validation() -> None:
    with pytest.raises(ValidationError, match=r"not a bare \.mar name"):
        DesiredModel(name="m", production=1, archives={1: "http://evil/x.mar"})
    with pytest.raises(ValidationError):
        DesiredModel(name="m", production=0, archives={0: "m.mar"})
    same = desired(production=2, previous=2)
    assert same.roles() == {2: "production"}
    assert same.workers(2) == (2, 3)
    assert desired(production=2, staging=3).workers(3) == (1, 1)


def test_a_kserve_model_has_no_worker_steps_and_names_its_server() -> None:
    want = desired(production=3, previous=2).model_copy(update={"backend": "kserve"})
    # KServe reports one process per version (1-1); TorchServe's 2-3 workers do not apply.
    current = state(served(3, default=True), served(2), served(5))
    assert kinds(want, current) == [("unregister", "5")]
    assert kinds(want, state()) == [("register", "3"), ("register", "2"), ("set_default", "3")]
    assert drift(want, state())[0] == "the KServe server has no model 'm'"
    torchserve = desired(production=3, previous=2)
    assert ("scale", "3") in kinds(torchserve, current)
