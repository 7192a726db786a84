"""The stdio server as a client starts it: ``initialize`` and the lists answered at once, the
registry opened behind them.

Claude Desktop starts ``modelreg mcp`` on every launch and waits for ``initialize``.
Importing the registry core (SQLAlchemy, the stores, the tools' result models) and opening
the database would double that wait. ``DeferredServer`` answers ``initialize`` and the lists
from the pinned catalogue (``catalogue.json``: what the full server lists, byte for byte)
while ``warm_up`` opens the registry and declares the tools on a worker thread, started once
the first request is answered. A call that arrives before that is done waits for it. A
failure to open reaches each call as a tool error (its code and message, as every registry
error), the next call tries again, and ``failure`` keeps it so that a session that ends
without an open registry can end with it.

This module imports no part of the registry core: tests/test_mcp_catalogue.py checks it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import CallToolResult, GetPromptResult, InputRequiredResult
from mcp.types import Prompt as MCPPrompt
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from mcp.types import Tool as MCPTool
from pydantic import AnyUrl

from registry_mcp.domain.errors import RegistryError
from registry_mcp.mcp.catalogue import Catalogue
from registry_mcp.mcp.identity import INSTRUCTIONS, NAME, TITLE, VERSION
from registry_mcp.mcp.tool_errors import RegistryServer, error_result


class DeferredServer(RegistryServer):
    """A registry server whose tools are declared by ``declare`` (which opens the registry)
    on first need; until then its lists come from ``catalogue``."""

    def __init__(self, declare: Callable[[RegistryServer], None], catalogue: Catalogue) -> None:
        super().__init__(
            NAME, title=TITLE, version=VERSION, instructions=INSTRUCTIONS, log_level="WARNING"
        )
        self._declare = declare
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self._ready = False
        self.failure: RegistryError | None = None
        """The error of the last attempt to open the registry, while it is not open."""
        self._answered: anyio.Event | None = None
        self.middleware.append(self._note_answer)

    async def _note_answer(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        try:
            return await call_next(ctx)
        finally:
            if self._answered is not None and ctx.request_id is not None:
                self._answered.set()

    @property
    def ready(self) -> bool:
        return self._ready

    def open(self) -> None:
        """Open the registry and declare the tools, once (blocking: call it off the event
        loop). Raises the registry's error, and keeps it in ``failure``."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self._declare(self)
            except RegistryError as exc:
                self.failure = exc
                raise
            self.failure = None
            self._ready = True

    async def warm_up(self) -> None:
        """Open in the background; a failure is kept for the calls (and ``failure``)."""
        with contextlib.suppress(RegistryError):
            await anyio.to_thread.run_sync(self.open)

    async def warm_up_after_first_answer(self) -> None:
        """``warm_up`` once the server has answered its first request (``initialize``): the
        worker thread's imports would otherwise compete with that answer for the
        interpreter. ``run_stdio`` sets ``answered`` itself when a session ends first."""
        await self.answered().wait()
        await self.warm_up()

    def answered(self) -> anyio.Event:
        if self._answered is None:
            self._answered = anyio.Event()
        return self._answered

    async def _opened(self) -> None:
        if not self._ready:
            await anyio.to_thread.run_sync(self.open)

    # --------------------------------------------------- lists: the catalogue until open

    async def list_tools(self) -> list[MCPTool]:
        return await super().list_tools() if self._ready else list(self._catalogue.tools)

    async def list_prompts(self) -> list[MCPPrompt]:
        return await super().list_prompts() if self._ready else list(self._catalogue.prompts)

    async def list_resources(self) -> list[MCPResource]:
        return await super().list_resources() if self._ready else list(self._catalogue.resources)

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        if self._ready:
            return await super().list_resource_templates()
        return list(self._catalogue.resource_templates)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        if self._ready:
            return super()._tool_input_schema(name)
        return self._catalogue.input_schema(name)

    # -------------------------------------------------------- calls: wait for the registry

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            await self._opened()
        except RegistryError as exc:
            return error_result(name, exc)
        return await super().call_tool(name, arguments, context)

    async def read_resource(
        self, uri: AnyUrl | str, context: Context | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        try:
            await self._opened()
        except RegistryError as exc:
            raise ResourceError(f"{exc.code.value}: {exc.message}") from None
        return await super().read_resource(uri, context)

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context | None = None
    ) -> GetPromptResult | InputRequiredResult:
        try:
            await self._opened()
        except RegistryError as exc:
            raise ValueError(f"{exc.code.value}: {exc.message}") from None
        return await super().get_prompt(name, arguments, context)


def run_stdio(server: DeferredServer, *, warm_up: bool = True) -> None:
    """Serve one stdio session, opening the registry on a worker thread once ``initialize``
    is answered (``warm_up=False``: on the first call that needs it). A session that ends with the
    registry never opened raises the error that kept it shut (what the CLI prints, in one
    line, with its exit code); without a warm-up, one that never needed it opens it then."""

    async def session() -> None:
        async with anyio.create_task_group() as tasks:
            if warm_up:
                tasks.start_soon(server.warm_up_after_first_answer)
            await server.run_stdio_async()
            server.answered().set()
        if not server.ready:
            await server.warm_up()

    anyio.run(session)
    if not server.ready and server.failure is not None:
        raise server.failure
