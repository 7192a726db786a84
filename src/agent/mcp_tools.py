"""The agent's only way to the registry: a thin, typed wrapper over an MCP client session.

Read tools return our own pydantic views (``agent.tool_results``). The two stage-changing
tools take the human's :class:`~agent.decisions.FormAnswer` as a required argument: the
session's elicitation callback (:class:`ApprovalGate`) answers the server's approval form
with exactly that answer, once, during that call, and declines every other form.
Errors: see ``agent.errors`` (AgentToolError, RegistryUnavailable). A registry error's code
is read from the tool error's structured content (``ToolErrorData``), never from its text.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import anyio
from mcp import Client, MCPError, StdioServerParameters
from mcp.client import ClientRequestContext, Transport
from mcp.server.mcpserver import MCPServer
from mcp.types import (
    CONNECTION_CLOSED,
    CallToolResult,
    ElicitRequestFormParams,
    ElicitRequestParams,
    ElicitResult,
    Implementation,
)
from pydantic import BaseModel, ValidationError

from agent.decisions import FormAnswer
from agent.errors import AgentError, AgentToolError, RegistryUnavailable
from agent.tool_results import (
    AuditPage,
    ChangePlan,
    Comparison,
    ModelInfo,
    ModelList,
    Outcome,
    ProposalList,
    ServingVersion,
    StageName,
    ToolErrorData,
)

M = TypeVar("M", bound=BaseModel)
Target = MCPServer | StdioServerParameters | Transport | str
"""An in-process server (tests, demo), a `modelreg mcp` subprocess, a transport (e.g.
``streamable_http_client(url, http_client=...)`` carrying a bearer token), or an HTTP URL."""

CLIENT_INFO = Implementation(name="modelreg-agent", version="0.1.0")
FORM_FIELDS = frozenset({"approve", "rationale"})
# The SDK's own tool errors (unknown tool, arguments failing the input schema) are text only.
_SDK_ERROR = re.compile(r"^Error executing tool \S+: (?P<msg>.*)$", re.S)
_TRANSPORT_ERRORS = (
    OSError,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
)
# Environment a `modelreg mcp` child needs; stdio children get only a minimal environment.
_PASS_ENV = ("MODELREG_", "MLFLOW_", "HOME", "PATH", "LANG", "LC_", "TZ", "TMPDIR")


class ApprovalGate:
    """MCP elicitation callback: answers the approval form only with an armed answer."""

    def __init__(self) -> None:
        self._armed: tuple[FormAnswer, str, str] | None = None
        self.answered: list[str] = []
        self.declined: list[str] = []

    @contextmanager
    def holding(self, answer: FormAnswer, *, about: str, plan: str) -> Iterator[None]:
        """Answer the one approval form whose question mentions ``about`` (e.g. "digits v3")
        and the digest of the plan the human approved (``plan``) with ``answer`` while the
        block runs; decline anything else (a form about another plan was never approved)."""
        if self._armed is not None:
            raise RuntimeError("another stage change is already waiting for its approval form")
        self._armed = (answer, about, plan[:12])
        try:
            yield
        finally:
            self._armed = None

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        armed, self._armed = self._armed, None  # one form per human decision
        if (
            armed is None
            or not isinstance(params, ElicitRequestFormParams)
            or set(params.requested_schema.get("properties", {})) != FORM_FIELDS
            or re.search(rf"(?<![\w.\-]){re.escape(armed[1])}\b", params.message) is None
            or f"[plan {armed[2]}" not in params.message
        ):
            self.declined.append(params.message)
            return ElicitResult(action="decline")
        answer = armed[0]
        self.answered.append(params.message)
        return ElicitResult(
            action="accept", content={"approve": answer.approve, "rationale": answer.rationale}
        )


class RegistryTools:
    """Typed calls to the registry's MCP tools over one client session."""

    def __init__(self, client: Client, gate: ApprovalGate) -> None:
        self._client = client
        self.gate = gate
        self.calls: list[str] = []

    # ---------------------------------------------------------------- reads

    async def list_models(
        self,
        *,
        stage: StageName | None = None,
        task: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> ModelList:
        args = {"stage": stage, "task": task, "limit": limit, "cursor": cursor}
        return await self._call("list_models", args, ModelList)

    async def get_model_info(self, model: str, version: int | None = None) -> ModelInfo:
        args = {"model_name": model, "version": version}
        return await self._call("get_model_info", args, ModelInfo)

    async def compare_versions(
        self, model: str, version: int, against: int | None = None
    ) -> Comparison:
        args = {"model_name": model, "version": version, "against": against}
        return await self._call("compare_versions", args, Comparison)

    async def get_serving_version(self, model: str) -> ServingVersion:
        return await self._call("get_serving_version", {"model_name": model}, ServingVersion)

    async def get_audit_log(
        self,
        model: str | None = None,
        limit: int = 10,
        *,
        cursor: str | None = None,
        since: datetime | None = None,
    ) -> AuditPage:
        args: dict[str, Any] = {"model_name": model, "limit": limit, "cursor": cursor}
        if since is not None:
            args["since"] = since.isoformat()
        return await self._call("get_audit_log", args, AuditPage)

    async def list_pending_approvals(self, model: str | None = None) -> ProposalList:
        return await self._call("list_pending_approvals", {"model_name": model}, ProposalList)

    async def preview_change(
        self,
        model: str,
        change: Literal["promote", "rollback", "canary"],
        *,
        version: int | None = None,
        stage: StageName | None = None,
        guard: bool = False,
        percent: float | None = None,
        mode: Literal["split", "shadow"] = "split",
    ) -> ChangePlan:
        args: dict[str, Any] = {
            "model_name": model,
            "change": change,
            "version": version,
            "stage": stage,
        }
        if guard:
            args["guard"] = True
        if change == "canary":
            args["percent"], args["mode"] = percent, mode
        return await self._call("preview_change", args, ChangePlan)

    # -------------------------------------------------------- stage changes

    async def promote_model(
        self,
        model: str,
        version: int,
        stage: StageName,
        rationale: str,
        *,
        expected_current_version: int | Literal["none"] | None,
        plan_digest: str,
        answer: FormAnswer,
        guard: bool = False,
    ) -> Outcome:
        args: dict[str, Any] = {
            "model_name": model,
            "version": version,
            "stage": stage,
            "rationale": rationale,
            "expected_current_version": expected_current_version,
            "plan_digest": plan_digest,
        }
        if guard:
            args["guard"] = True
        with self.gate.holding(answer, about=f"{model} v{version}", plan=plan_digest):
            return await self._call("promote_model", args, Outcome)

    async def start_canary(
        self,
        model: str,
        version: int,
        percent: float,
        rationale: str,
        *,
        mode: Literal["split", "shadow"],
        plan_digest: str,
        answer: FormAnswer,
    ) -> Outcome:
        args = {
            "model_name": model,
            "version": version,
            "percent": percent,
            "mode": mode,
            "rationale": rationale,
            "plan_digest": plan_digest,
        }
        # The form reads "Canary of <model>: v<version> gets ... [plan <digest>]".
        with self.gate.holding(answer, about=f"{model}: v{version}", plan=plan_digest):
            return await self._call("start_canary", args, Outcome)

    async def stop_canary(
        self, model: str, rationale: str, *, plan_digest: str, answer: FormAnswer
    ) -> Outcome:
        args = {"model_name": model, "rationale": rationale, "plan_digest": plan_digest}
        # The form reads "Stop the canary of <model>: ... [plan <digest>]".
        with self.gate.holding(answer, about=f"canary of {model}", plan=plan_digest):
            return await self._call("stop_canary", args, Outcome)

    async def rollback_model(
        self,
        model: str,
        rationale: str,
        *,
        to_version: int,
        plan_digest: str,
        answer: FormAnswer,
    ) -> Outcome:
        args = {
            "model_name": model,
            "rationale": rationale,
            "to_version": to_version,
            "plan_digest": plan_digest,
        }
        with self.gate.holding(answer, about=f"{model} v{to_version}", plan=plan_digest):
            return await self._call("rollback_model", args, Outcome)

    # ------------------------------------------------------------ plumbing

    async def _call(self, name: str, args: dict[str, Any], model: type[M]) -> M:
        self.calls.append(name)
        sent = {key: value for key, value in args.items() if value is not None}
        try:
            result = await self._client.call_tool(name, sent)
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                raise RegistryUnavailable(exc.error.message) from None
            raise AgentToolError(name, "PROTOCOL", exc.error.message) from None
        except _TRANSPORT_ERRORS as exc:
            raise RegistryUnavailable(f"{type(exc).__name__}: {exc}") from None
        except RuntimeError as exc:  # the client re-validates results against outputSchema
            raise AgentToolError(name, "BAD_RESULT", str(exc)) from None
        if result.is_error:
            code, message = _split_error(result)
            raise AgentToolError(name, code, message)
        if result.structured_content is None:
            raise AgentToolError(name, "BAD_RESULT", "the tool returned no structured result")
        try:
            return model.model_validate(result.structured_content)
        except ValidationError as exc:
            raise AgentToolError(name, "BAD_RESULT", f"unexpected result shape: {exc}") from None


def _split_error(result: CallToolResult) -> tuple[str, str]:
    """(code, message) of an error result: the registry's structured error, else the SDK's
    text under TOOL_ERROR."""
    text = " ".join(getattr(part, "text", "") for part in result.content).strip()
    if result.structured_content is not None:
        try:
            data = ToolErrorData.model_validate(result.structured_content)
        except ValidationError:
            return "BAD_RESULT", f"unreadable tool error: {text or result.structured_content}"
        return data.code, data.message
    match = _SDK_ERROR.match(text)
    message = match.group("msg").strip() if match is not None else text
    return "TOOL_ERROR", message or "the tool failed without a message"


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _is_transport_failure(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSPORT_ERRORS) or (
        isinstance(exc, MCPError) and exc.error.code == CONNECTION_CLOSED
    )


@asynccontextmanager
async def open_registry(
    target: Target, *, mode: str = "auto", read_timeout_s: float = 120.0
) -> AsyncIterator[RegistryTools]:
    """Connect to the registry's MCP server; raise RegistryUnavailable if it cannot start.

    ``mode`` is the protocol era (``auto`` = 2026-07-28 when offered, ``legacy``)."""
    gate = ApprovalGate()
    client = Client(
        target,
        mode=mode,
        elicitation_callback=gate,
        client_info=CLIENT_INFO,
        read_timeout_seconds=read_timeout_s,
    )
    entered = False
    try:
        async with client as session:
            entered = True
            yield RegistryTools(session, gate)
    except BaseException as exc:
        leaves = _leaves(exc)
        if not entered and all(_is_transport_failure(leaf) for leaf in leaves):
            raise RegistryUnavailable(_describe(leaves)) from exc
        if isinstance(exc, BaseExceptionGroup):
            # Task groups wrap errors in nested groups, often next to transport noise from
            # closing a broken session: surface our own error (or the only one) instead.
            ours = [leaf for leaf in leaves if isinstance(leaf, AgentError)]
            if ours or len(leaves) == 1:
                raise (ours or leaves)[0] from exc
        raise


def _describe(leaves: list[BaseException]) -> str:
    first = leaves[0]
    if isinstance(first, MCPError):
        return f"{first.error.message}; the server exited or never started"
    return f"{type(first).__name__}: {first}"


def stdio_target(
    home: Path | None = None,
    *,
    actor: str | None = None,
    command: str | None = None,
    env: Mapping[str, str] | None = None,
) -> StdioServerParameters:
    """`modelreg [--home HOME] mcp` as a subprocess, with the registry's part of ``env``
    (default: this process's environment; never the LLM's keys). ``actor`` (sent as
    MODELREG_ACTOR) is who approves at this terminal; the server audits it as the approver."""
    exe = command or _modelreg_executable()
    args = (["--home", str(home)] if home is not None else []) + ["mcp"]
    source = os.environ if env is None else env
    child = {k: v for k, v in source.items() if k.startswith(_PASS_ENV)}
    child.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if actor:
        child["MODELREG_ACTOR"] = actor
    return StdioServerParameters(command=exe, args=args, env=child)


def _modelreg_executable() -> str:
    beside = Path(sys.executable).with_name("modelreg")
    if beside.exists():
        return str(beside)
    return shutil.which("modelreg") or "modelreg"
