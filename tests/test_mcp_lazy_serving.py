"""The MCP server's serving side opens on first use, once, and retries after a failure."""

from __future__ import annotations

import threading
import time

import pytest

from registry_mcp.core.ports import ServingState, ServingUpdate
from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.mcp.lazy_serving import LazyServing


class _Side:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def probe(self, model: str, production_version: int | None) -> ServingState:
        self.calls.append(("probe", (model, production_version)))
        raise RegistryError(ErrorCode.BACKEND, "probe reached the side")

    def follow(self, model: str) -> ServingUpdate:
        self.calls.append(("follow", model))
        raise RegistryError(ErrorCode.BACKEND, "follow reached the side")

    def check_warm(self, model: str, version: int) -> None:
        self.calls.append(("check_warm", (model, version)))


def test_nothing_opens_until_a_method_is_called_then_it_opens_once() -> None:
    side = _Side()
    opened: list[int] = []

    def open_side() -> _Side:
        opened.append(1)
        time.sleep(0.05)  # a slow open: concurrent first calls must share it
        return side

    lazy = LazyServing(open_side)
    assert not lazy.opened
    assert opened == []
    threads = [threading.Thread(target=lazy.check_warm, args=("m", 2)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert opened == [1]
    assert side.calls == [("check_warm", ("m", 2))] * 8
    with pytest.raises(RegistryError, match="follow reached"):
        lazy.follow("m")
    with pytest.raises(RegistryError, match="probe reached"):
        lazy.probe("m", 3)
    assert side.calls[-2:] == [("follow", "m"), ("probe", ("m", 3))]
    assert opened == [1]


def test_a_failed_open_reaches_the_caller_and_the_next_call_tries_again() -> None:
    attempts: list[int] = []
    side = _Side()

    def open_side() -> _Side:
        attempts.append(1)
        if len(attempts) == 1:
            raise RegistryError(ErrorCode.BACKEND, "models file unreadable")
        return side

    lazy = LazyServing(open_side)
    with pytest.raises(RegistryError, match="models file unreadable"):
        lazy.check_warm("m", 1)
    assert not lazy.opened
    lazy.check_warm("m", 1)
    assert lazy.opened
    assert len(attempts) == 2
