"""The registry tools a language model may call: the read tools, and nothing else.

Each has a typed argument model (its JSON schema is what the model is shown), runs through
``RegistryTools`` (so it is an ordinary MCP call, recorded like any other), and renders a
templated answer the agent falls back to. The stage-changing tools (``promote_model``,
``rollback_model``, and any future canary tool) and ``preview_change`` are not in this table,
so a model can never be given them or have them run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent import answers
from agent.intents import ListModels, ModelName, Version
from agent.mcp_tools import RegistryTools
from agent.state import Answer
from agent.tool_results import StageName


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ListModelsArgs(_Args):
    stage: StageName | None = Field(default=None, description="Only models with a version here.")
    task: str | None = Field(default=None, max_length=200, description="The `task` tag.")
    cursor: str | None = Field(default=None, max_length=500, description="Next page.")


class ModelInfoArgs(_Args):
    model_name: ModelName
    version: Version | None = Field(default=None, description="Default: Production.")


class CompareArgs(_Args):
    model_name: ModelName
    version: Version = Field(description="The candidate version.")
    against: Version | None = Field(default=None, description="Default: Production.")


class ServingArgs(_Args):
    model_name: ModelName


class AuditArgs(_Args):
    model_name: ModelName | None = None
    limit: int = Field(default=10, ge=1, le=50)


class PendingArgs(_Args):
    model_name: ModelName | None = None


Run = Callable[[RegistryTools, Any], Awaitable[tuple[BaseModel, Answer]]]


@dataclass(frozen=True)
class ReadTool:
    args: type[_Args]
    description: str
    run: Run


async def _list(t: RegistryTools, a: ListModelsArgs) -> tuple[BaseModel, Answer]:
    page = await t.list_models(stage=a.stage, task=a.task, limit=20, cursor=a.cursor)
    return page, answers.models_answer(ListModels(stage=a.stage, task=a.task), page)


async def _info(t: RegistryTools, a: ModelInfoArgs) -> tuple[BaseModel, Answer]:
    info = await t.get_model_info(a.model_name, a.version)
    return info, answers.model_info_answer(info)


async def _compare(t: RegistryTools, a: CompareArgs) -> tuple[BaseModel, Answer]:
    diff = await t.compare_versions(a.model_name, a.version, a.against)
    return diff, answers.compare_answer(diff)


async def _serving(t: RegistryTools, a: ServingArgs) -> tuple[BaseModel, Answer]:
    sv = await t.get_serving_version(a.model_name)
    return sv, answers.serving_answer(sv)


async def _audit(t: RegistryTools, a: AuditArgs) -> tuple[BaseModel, Answer]:
    log = await t.get_audit_log(a.model_name, a.limit)
    return log, answers.audit_answer(log, a.model_name)


async def _pending(t: RegistryTools, a: PendingArgs) -> tuple[BaseModel, Answer]:
    pending = await t.list_pending_approvals(a.model_name)
    return pending, answers.pending_answer(pending)


READ_TOOLS: Mapping[str, ReadTool] = MappingProxyType(
    {
        "list_models": ReadTool(
            ListModelsArgs,
            "Models with the version per stage, tags and the primary metric (with "
            "lower_is_better).",
            _list,
        ),
        "get_model_info": ReadTool(
            ModelInfoArgs,
            "One version: card (baseline metrics, p50_latency_ms of an in-process forward "
            "pass), tags, stage, lineage, recent audit.",
            _info,
        ),
        "compare_versions": ReadTool(
            CompareArgs,
            "Candidate vs baseline: metrics, deltas and the verdict on the primary metric.",
            _compare,
        ),
        "get_serving_version": ReadTool(
            ServingArgs, "The registry's Production version and what serving reports.", _serving
        ),
        "get_audit_log": ReadTool(
            AuditArgs,
            "Audit entries, newest first. In an entry, to_version moved from from_stage to "
            "to_stage and from_version is the version it displaced.",
            _audit,
        ),
        "list_pending_approvals": ReadTool(
            PendingArgs, "Proposals waiting for a human decision.", _pending
        ),
    }
)


def tool_specs() -> list[dict[str, Any]]:
    """The OpenAI tool definitions bound to the model: the read tools only."""
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": tool.description,
                "parameters": tool.args.model_json_schema(),
            },
        }
        for name, tool in READ_TOOLS.items()
    ]
