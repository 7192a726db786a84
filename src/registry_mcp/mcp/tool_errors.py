"""How tool results and registry errors reach the client: one serialisation each.

The SDK turns a ``ToolError`` into ``is_error`` text only; a client would have to read the code
back out of the message. ``RegistryServer`` sends the same text together with
``structured_content = {"code": ..., "message": ...}`` (``ToolErrorData``).

Output schemas are published inline (``$ref`` expanded), which the client checks faster.
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
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, Icon, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry_mcp.domain.compact_schema import CompactModel, inline_definitions
from registry_mcp.domain.errors import ErrorCode, RegistryError

T = TypeVar("T")
_log = logging.getLogger(__name__)


class ToolErrorData(CompactModel):
    """The structured content of a tool error: branch on ``code``, show ``message``."""

    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    message: str = Field(description="What is wrong and what to do next.")


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


FailedCall = Callable[[str, dict[str, Any], Context, str, bool], None]
"""Audits a stage-change tool call that failed outside the approval flow: (tool, arguments,
context, reason, crashed)."""


def error_result(tool: str, error: RegistryError) -> CallToolResult:
    """The error as every registry error reaches the client (text and structured)."""
    data = ToolErrorData(code=error.code, message=error.message)
    text = f"Error executing tool {tool}: {error.code.value}: {error.message}"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json"),
        is_error=True,
    )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def plain_validation_error(tool: str, exc: ValidationError) -> str:
    """Arguments that fail a tool's input schema, in plain words (no pydantic dump)."""
    parts = []
    for error in exc.errors(include_url=False, include_context=False):
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        if error["type"] == "missing":
            parts.append(f"{where} is required")
        else:
            message = str(error["msg"]).rstrip(".")
            parts.append(
                f"{where}: {message[:1].lower()}{message[1:]} (got {_shown(error['input'])})"
            )
    return (
        f"Invalid arguments for {tool}: {'; '.join(parts)}. Nothing was changed; see the "
        "tool's input schema for what each argument takes."
    )


class RegistryServer(MCPServer):
    """An MCP server whose registry errors carry their code as structured content; clients
    never validate an error result against the tool's output schema.

    Arguments are checked before a tool runs: an argument the tool does not take is refused
    naming the ones it does, and arguments that fail its input schema are reported in plain
    words (INVALID_INPUT). A stage-change tool call that fails anywhere outside the approval
    flow (its arguments, the client's answer to the form, a crash) is audited through
    ``on_failed_stage_call``; the flow audits everything else itself."""

    stage_tools: frozenset[str] = frozenset()
    on_failed_stage_call: FailedCall | None = None

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        """Register a tool whose output schema is inline (no ``$ref``): the client
        validates every result against it, and references are the costly part."""
        super().add_tool(
            fn,
            name=name,
            title=title,
            description=description,
            annotations=annotations,
            icons=icons,
            meta=meta,
            structured_output=structured_output,
        )
        tool = self._tool_manager.get_tool(name or fn.__name__)
        if tool is not None and tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = inline_definitions(tool.fn_metadata.output_schema)

    def _audit_failure(
        self, name: str, arguments: dict[str, Any], context: Context, reason: str, crashed: bool
    ) -> None:
        if name not in self.stage_tools or self.on_failed_stage_call is None:
            return
        try:
            self.on_failed_stage_call(name, arguments, context, reason, crashed)
        except RegistryError as exc:  # the audit itself failed: say so on the server
            _log.error("Could not audit the failed call of %r: %s", name, exc)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        if context is None:
            context = Context(mcp_server=self, subscriptions=self._subscriptions)
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            allowed = sorted(tool.parameters.get("properties", {}))
            unknown = sorted(set(arguments) - set(allowed))
            if unknown:
                error = RegistryError(
                    ErrorCode.INVALID_INPUT,
                    f"{name} takes no argument {', '.join(repr(u) for u in unknown)}; its "
                    f"arguments are: {', '.join(allowed) or 'none'}. Nothing was changed.",
                )
                await anyio.to_thread.run_sync(
                    self._audit_failure, name, arguments, context, error.message, False
                )
                return error_result(name, error)
        try:
            result = await self._tool_manager.call_tool(name, arguments, context)
        except UnexpectedToolError:
            await anyio.to_thread.run_sync(
                self._audit_failure, name, arguments, context, "the tool call crashed", True
            )
            raise
        except ToolError as exc:
            found = _registry_error_in(exc)
            if found is None:
                if isinstance(exc.__cause__, ValidationError):
                    error = RegistryError(
                        ErrorCode.INVALID_INPUT, plain_validation_error(name, exc.__cause__)
                    )
                    await anyio.to_thread.run_sync(
                        self._audit_failure, name, arguments, context, error.message, False
                    )
                    return error_result(name, error)
                await anyio.to_thread.run_sync(
                    self._audit_failure, name, arguments, context, str(exc), False
                )
                raise  # the SDK's own errors: text only, as the SDK reports them
            _log.info("Tool %r failed: %s", name, found.data.code.value)
            return CallToolResult(
                content=[TextContent(type="text", text=str(exc))],
                structured_content=found.data.model_dump(mode="json"),
                is_error=True,
            )
        except MCPError as exc:
            # E.g. the client answered the approval form with an error.
            await anyio.to_thread.run_sync(
                self._audit_failure, name, arguments, context, f"MCP error: {exc}", False
            )
            raise
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
