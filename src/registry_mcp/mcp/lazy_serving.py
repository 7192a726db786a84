"""The serving side of the MCP server, opened on its first use instead of at start-up.

Opening the local deployment (TorchServe's client, the router's admin client, the models
file's archives) takes a few hundred milliseconds that a client such as Claude Desktop would
otherwise wait for before ``initialize`` is answered, on every launch. The first tool that
needs serving opens it (once, under a lock); a failure to open is raised to that call and
retried by the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from registry_mcp.core.ports import ServingSide, ServingState, ServingUpdate


class LazyServing:
    """A ``ServingSide`` that calls ``open`` the first time one of its methods is used."""

    def __init__(self, open: Callable[[], ServingSide]) -> None:
        self._open = open
        self._lock = threading.Lock()
        self._side: ServingSide | None = None

    @property
    def opened(self) -> bool:
        return self._side is not None

    def side(self) -> ServingSide:
        if self._side is None:
            with self._lock:
                if self._side is None:
                    self._side = self._open()
        return self._side

    def probe(self, model: str, production_version: int | None) -> ServingState:
        return self.side().probe(model, production_version)

    def follow(self, model: str) -> ServingUpdate:
        return self.side().follow(model)

    def check_warm(self, model: str, version: int) -> None:
        self.side().check_warm(model, version)
