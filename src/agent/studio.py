"""Graph factory for LangGraph Studio / `langgraph dev` (referenced from langgraph.json).

Studio supplies its own checkpointer and resumes the approval interrupt with
``{"kind": "approve" | "deny" | "edit", "rationale": "..."}``. The registry is reached the
same way Claude Desktop reaches it: `modelreg [--home $MODELREG_HOME] mcp` over stdio.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langchain_core.runnables import RunnableConfig

from agent.context import AgentContext
from agent.graph import Graph, build_graph
from agent.llm import LLMSettings, build_chat_model, build_intent_parser
from agent.mcp_tools import open_registry, stdio_target


@asynccontextmanager
async def make_graph(config: RunnableConfig) -> AsyncIterator[Graph]:
    home = os.environ.get("MODELREG_HOME")
    async with open_registry(stdio_target(Path(home) if home else None)) as tools:
        settings = LLMSettings.from_env()
        parser = build_intent_parser(settings)
        llm = build_chat_model(settings)
        yield build_graph(AgentContext(tools=tools, parser=parser, llm=llm))
