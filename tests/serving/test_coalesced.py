"""The deferred reconcile's runner: one run per burst of requests, none lost, real threads."""

from __future__ import annotations

import threading
import time

import pytest

from registry_mcp.deploy.coalesced import Coalesced

DEADLINE_S = 30.0


class Recorder:
    """A job that records each run; ``gate`` (when set) holds a run until released."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.started = threading.Event()
        self.gate: threading.Event | None = None
        self._lock = threading.Lock()

    def __call__(self, key: str) -> None:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(DEADLINE_S)
        with self._lock:
            self.runs.append(key)


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_burst_of_requests_for_one_key_runs_once_after_it_settles() -> None:
    job = Recorder()
    runner = Coalesced(job, settle_s=0.5)
    started = time.monotonic()
    for _ in range(20):
        runner.request("mnist-classifier")
    assert runner.pending() == ["mnist-classifier"]
    wait_for(lambda: job.runs, "the run")
    assert time.monotonic() - started >= 0.5  # it waited for the burst to settle
    runner.close()
    assert job.runs == ["mnist-classifier"]
    assert runner.runs == 1


def test_a_request_made_while_its_key_runs_runs_it_again() -> None:
    """The running job may have read the registry before the newer move: it runs once more."""
    job = Recorder()
    job.gate = threading.Event()
    runner = Coalesced(job, settle_s=0.0)
    runner.request("mnist-cnn")
    assert job.started.wait(DEADLINE_S)
    runner.request("mnist-cnn")  # during the run
    runner.request("mnist-cnn")  # coalesces with the one just made
    job.gate.set()
    runner.close()
    assert job.runs == ["mnist-cnn", "mnist-cnn"]


def test_each_key_runs_once_and_close_runs_what_is_pending_without_waiting() -> None:
    job = Recorder()
    runner = Coalesced(job, settle_s=60.0)  # longer than the test may wait
    for key in ["b", "a", "b", "a", "c"]:
        runner.request(key)
    started = time.monotonic()
    runner.close()
    assert time.monotonic() - started < DEADLINE_S
    assert sorted(job.runs) == ["a", "b", "c"]
    assert runner.pending() == []


def test_a_failed_run_is_logged_and_the_runs_after_it_still_happen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[str] = []

    def job(key: str) -> None:
        runs.append(key)
        if key == "bad":
            raise RuntimeError("backend exploded")

    runner = Coalesced(job, settle_s=0.0, name="reconcile")
    runner.request("bad")
    wait_for(lambda: runs == ["bad"], "the failing run")
    runner.request("good")
    runner.close()
    assert runs == ["bad", "good"]
    assert "reconcile of bad failed" in caplog.text
    assert "backend exploded" in caplog.text


def test_the_thread_ends_when_idle_and_a_later_request_starts_another() -> None:
    job = Recorder()
    runner = Coalesced(job, settle_s=0.0, name="reconcile-idle")
    runner.request("x")
    wait_for(lambda: job.runs == ["x"], "the first run")
    wait_for(
        lambda: not any(t.name == "reconcile-idle" for t in threading.enumerate()),
        "the idle thread to end",
    )
    runner.request("x")
    runner.close()
    assert job.runs == ["x", "x"]


def test_no_work_is_taken_after_close_and_a_negative_settle_is_refused() -> None:
    runner = Coalesced(Recorder(), settle_s=0.0)
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.request("x")
    with pytest.raises(ValueError, match="settle_s must be >= 0"):
        Coalesced(Recorder(), settle_s=-1.0)
