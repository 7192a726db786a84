"""The agent's one error tree; callers branch on the class and ``code``, never on text.

    AgentError
    ├── AgentToolError(tool, code, message)
    │       a registry tool answered with an error, or with a result we cannot read.
    │       code: the registry's code from the error's structured content (NOT_FOUND,
    │       STALE_VERSION, INVALID_TRANSITION, CARD_INCOMPLETE, INVALID_INPUT, ...), else
    │       TOOL_ERROR (the SDK's own text-only error, e.g. arguments that fail the input
    │       schema), PROTOCOL (JSON-RPC error), BAD_RESULT (a result we cannot read).
    ├── RegistryUnavailable(detail)
    │       the MCP server could not be started or reached, or the session broke.
    ├── DecisionRejected(reason)
    │       a resume value is not a decision, or not one this action allows.
    └── ApprovalPending(request)
            a new request arrived while this conversation waits for a human decision.

The LLM never raises into the graph: its failures fall back to the offline parser.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class AgentToolError(AgentError):
    def __init__(self, tool: str, code: str, message: str) -> None:
        super().__init__(f"{tool}: {code}: {message}")
        self.tool = tool
        self.code = code
        self.message = message


class RegistryUnavailable(AgentError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The registry's MCP server is not reachable ({detail}). Start it (`modelreg mcp`) "
            "or check MODELREG_HOME / --home, then try again."
        )
        self.detail = detail


class DecisionRejected(AgentError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ApprovalPending(AgentError):
    def __init__(self, summary: str) -> None:
        super().__init__(f"An approval is waiting for a decision first: {summary}")
        self.summary = summary
