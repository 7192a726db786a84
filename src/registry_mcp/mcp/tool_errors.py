"""Registry errors as MCP tool errors: the code travels as structured content, not in text.

The SDK turns a ``ToolError`` into ``is_error`` text only; a client would have to read the code
back out of the message. ``RegistryServer`` sends the same text together with
``structured_content = {"code": ..., "message": ...}`` (``ToolErrorData``)."""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent

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
        try:
            return await super().call_tool(name, arguments, context)
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
