"""How tool results and registry errors reach the client: one serialisation each.

The SDK turns a ``ToolError`` into ``is_error`` text only; a client would have to read the code
back out of the message. ``RegistryServer`` sends the same text together with
``structured_content = {"code": ..., "message": ...}`` (``ToolErrorData``).

A tool's pydantic result is serialised once (``model_dump_json``), without the fields that
hold their default (null, empty lists and maps: the output schema does not require them), and
that one JSON text is both the text content and, parsed, the structured content. The SDK's
own conversion would pretty-print it, re-validate the model it was handed and dump it again.
"""

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import BaseModel

from registry_mcp.domain.errors import RegistryError
from registry_mcp.mcp.tool_models import ToolErrorData

T = TypeVar("T")
_log = logging.getLogger(__name__)


class RegistryToolError(ToolError):
    """A registry error on its way to the client, code and message kept apart."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(f"{error.code.value}: {error.message}")
        self.data = ToolErrorData(code=error.code, message=error.message)


def tool_error(exc: RegistryError) -> ToolError:
    return RegistryToolError(exc)


def call(fn: Callable[[], T]) -> T:
    """Run a core call; registry errors become tool errors that say what to do next."""
    try:
        return fn()
    except RegistryError as exc:
        raise tool_error(exc) from None


async def off_loop(fn: Callable[[], T]) -> T:
    """Run a blocking core call (database, TorchServe) on a worker thread; registry errors
    become tool errors."""
    return await anyio.to_thread.run_sync(call, fn)


def tool_result(result: BaseModel) -> CallToolResult:
    """The result as the client receives it: one compact JSON text, defaults left out."""
    text = result.model_dump_json(exclude_defaults=True)
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=json.loads(text)
    )


def _registry_error_in(exc: BaseException) -> RegistryToolError | None:
    """The registry error behind a tool failure (the SDK wraps it once per tool layer)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RegistryToolError):
            return seen
        seen = seen.__cause__
    return None


class RegistryServer(MCPServer):
    """An MCP server whose registry errors carry their code as structured content; clients
    never validate an error result against the tool's output schema. Errors of the SDK
    itself (unknown tool, arguments that fail the input schema) stay text only."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        if context is None:
            context = Context(mcp_server=self, subscriptions=self._subscriptions)
        try:
            result = await self._tool_manager.call_tool(name, arguments, context)
        except ToolError as exc:
            found = _registry_error_in(exc)
            if found is None:
                raise  # the SDK's own errors: text only, as the SDK reports them
            _log.info("Tool %r failed: %s", name, found.data.code.value)
            return CallToolResult(
                content=[TextContent(type="text", text=str(exc))],
                structured_content=found.data.model_dump(mode="json"),
                is_error=True,
            )
        if isinstance(result, CallToolResult | InputRequiredResult):
            return result
        tool = self._tool_manager.get_tool(name)
        assert tool is not None  # it just ran
        meta = tool.fn_metadata
        declared = meta.output_model
        if (
            isinstance(declared, type)
            and issubclass(declared, BaseModel)
            and not meta.wrap_output
            and isinstance(result, declared)
        ):
            return tool_result(result)  # the declared model: already valid, dump it once
        return meta.convert_result(result)
