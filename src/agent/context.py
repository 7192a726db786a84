"""What the graph's nodes run with: the registry session, the intent parser, the optional
chat model for the read-only tool loop, and policy.

Built at the edge (chat, Studio factory, tests) and handed to ``graph.build_graph``; never
created at import time and never checkpointed (it holds a live MCP session).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from langchain_core.language_models import BaseChatModel

from agent.decisions import ALL_DECISIONS, DecisionKind
from agent.intents import IntentParser
from agent.mcp_tools import RegistryTools

ChangeKind = Literal["promote", "rollback", "canary", "stop_canary"]

#: Which answers a human may give at the interrupt, per kind of change. A rollback restores
#: a version that already served Production; its reason is the incident the user reported,
#: so the approver approves or denies it (with a note) rather than rewriting the request.
DEFAULT_ALLOWED: Mapping[ChangeKind, tuple[DecisionKind, ...]] = MappingProxyType(
    {
        "promote": ALL_DECISIONS,
        "rollback": ("approve", "deny"),
        "canary": ALL_DECISIONS,
        "stop_canary": ("approve", "deny"),
    }
)


@dataclass(frozen=True)
class AgentContext:
    tools: RegistryTools
    parser: IntentParser
    latency_sla_ms: float | None = None
    """Default latency SLA for model selection when the user names none."""
    allowed_decisions: Mapping[ChangeKind, tuple[DecisionKind, ...]] = field(
        default_factory=lambda: DEFAULT_ALLOWED
    )
    llm: BaseChatModel | None = None
    """The chat model for the read-only tool loop; None: no loop (offline)."""
    llm_label: str = "the language model"
    max_tool_calls: int = 4
    """Tool calls the model may make per turn."""
    llm_deadline_s: float = 60.0
