"""Agent test fixtures: a seeded SQLite registry (seeded once, copied per test), the real MCP
server in-process, and the agent's graph over a real MCP client session."""

from __future__ import annotations

import os

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from mcp.server.mcpserver import MCPServer

from agent.checkpoint import open_checkpointer
from agent.context import AgentContext
from agent.conversation import Conversation
from agent.graph import build_graph
from agent.intents import IntentParser
from agent.llm import LLMSettings, build_chat_model, build_intent_parser
from agent.mcp_tools import RegistryTools, Target, open_registry
from agent.offline_parser import OfflineParser
from registry_mcp.core.registry import Registry
from registry_mcp.mcp.server import build_server
from registry_mcp.store.settings import Settings
from tests.agent.fake_openai import ScriptedLLM
from tests.conftest import Backend, Template
from tests.helpers import COMPLETE_CARD, add_versions
from tests.test_mcp import seed

APPROVER = "dana"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def seed_agent_registry(registry: Registry, uri: str) -> None:
    """digits v1 Production (95 %, 0.05 ms), v2 None, v3 Staging (99 %, 0.04 ms); plus
    mnist-classifier v1 Production (99.2 %, 12 ms), all tagged task=classification."""
    seed(registry, uri)
    card = COMPLETE_CARD.model_copy(
        update={"baseline_metrics": {"accuracy": 0.992, "p50_latency_ms": 12.0}}
    )
    add_versions(registry, uri, "mnist-classifier", 1, card=card, tags={"task": "classification"})
    registry.stages.transition("mnist-classifier", 1, "staging", rationale="seed", actor="seed")
    registry.stages.transition("mnist-classifier", 1, "production", rationale="seed", actor="seed")


def copy_registry(src: Path, dst: Path) -> None:
    """Copy a registry database consistently, WAL contents included (SQLite backup API)."""
    dst.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(src / "mlflow.db")) as source,
        contextlib.closing(sqlite3.connect(dst / "mlflow.db")) as target,
    ):
        source.backup(target)


@pytest.fixture(scope="session")
def agent_template(sqlite_template: Template, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    home = tmp_path_factory.mktemp("agent-template")
    copy_registry(sqlite_template.settings.home, home)
    settings = Settings(
        home=home, actor="tester", artifact_root=sqlite_template.settings.resolved_artifact_root
    )
    registry = Registry.open(settings)
    seed_agent_registry(registry, sqlite_template.model_uris[0])
    registry.close()
    return Backend("sqlite", settings, sqlite_template.model_uris)


@pytest.fixture(scope="session")
def one_model_template(
    sqlite_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Backend:
    """A registry holding one model: digits (v1 Production, v2, v3 Staging)."""
    home = tmp_path_factory.mktemp("one-model-template")
    copy_registry(sqlite_template.settings.home, home)
    settings = Settings(
        home=home, actor="tester", artifact_root=sqlite_template.settings.resolved_artifact_root
    )
    registry = Registry.open(settings)
    seed(registry, sqlite_template.model_uris[0])
    registry.close()
    return Backend("sqlite", settings, sqlite_template.model_uris)


def _copy_of(template: Backend, home: Path) -> Backend:
    copy_registry(template.settings.home, home)
    settings = Settings(
        home=home, actor="tester", artifact_root=template.settings.resolved_artifact_root
    )
    return Backend("sqlite", settings, template.model_uris)


@pytest.fixture
def seeded(agent_template: Backend, tmp_path: Path) -> Backend:
    return _copy_of(agent_template, tmp_path / "home")


@pytest.fixture
def one_model(one_model_template: Backend, tmp_path: Path) -> Iterator[Registry]:
    reg = Registry.open(_copy_of(one_model_template, tmp_path / "one").settings)
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def registry(seeded: Backend) -> Iterator[Registry]:
    reg = Registry.open(seeded.settings)
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def server(registry: Registry) -> MCPServer:
    return build_server(registry, approver=APPROVER)


@dataclass
class Agent:
    conversation: Conversation
    tools: RegistryTools


@asynccontextmanager
async def open_agent(
    target: Target,
    checkpoint: Path,
    *,
    thread: str = "t1",
    parser: IntentParser | None = None,
    mode: str = "auto",
    latency_sla_ms: float | None = None,
    llm: BaseChatModel | None = None,
    max_tool_calls: int = 4,
) -> AsyncIterator[Agent]:
    """A fresh 'process': new MCP session, new checkpointer object, new graph."""
    async with (
        open_registry(target, mode=mode) as tools,
        open_checkpointer(checkpoint) as saver,
    ):
        ctx = AgentContext(
            tools=tools,
            parser=parser or OfflineParser(),
            latency_sla_ms=latency_sla_ms,
            llm=llm,
            max_tool_calls=max_tool_calls,
        )
        graph = build_graph(ctx, checkpointer=saver)
        yield Agent(Conversation(graph, thread), tools)


@pytest.fixture
def scripted_llm() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM().start()
    try:
        yield llm
    finally:
        llm.stop()


def llm_settings(llm: ScriptedLLM, *, timeout_s: float = 5.0, max_retries: int = 0) -> LLMSettings:
    env = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test-not-real"}
    return LLMSettings.from_env(env).model_copy(
        update={"timeout_s": timeout_s, "max_retries": max_retries, "model": "fake-model"}
    )


def llm_parser(llm: ScriptedLLM, *, timeout_s: float = 5.0, max_retries: int = 0) -> IntentParser:
    """The real ChatOpenAI client pointed at the scripted server, as the CLI would build it."""
    return build_intent_parser(llm_settings(llm, timeout_s=timeout_s, max_retries=max_retries))


def llm_model(llm: ScriptedLLM, *, timeout_s: float = 5.0) -> BaseChatModel:
    """The chat model of the tool loop: the real ChatOpenAI client, as the CLI builds it."""
    model = build_chat_model(llm_settings(llm, timeout_s=timeout_s))
    assert model is not None
    return model
