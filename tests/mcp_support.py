"""MCP test support: elicitation answers, structured-result checks, tool-list snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestFormParams, ElicitRequestParams, ElicitResult

SNAPSHOT = Path(__file__).parent / "snapshots" / "mcp_tools.json"


class Human:
    """Answers approval forms the way a scripted human would, and remembers what it saw."""

    def __init__(self, action: str = "accept", approve: bool = True, note: str = "ok") -> None:
        self.action = action
        self.approve = approve
        self.note = note
        self.asked: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult:
        assert isinstance(params, ElicitRequestFormParams)
        assert set(params.requested_schema["properties"]) == {"approve", "rationale"}
        self.asked.append(params.message)
        if self.action == "accept":
            return ElicitResult(
                action="accept", content={"approve": self.approve, "rationale": self.note}
            )
        return ElicitResult(action=self.action)  # type: ignore[arg-type]


async def tool_table(client: Client) -> list[dict[str, Any]]:
    listed = await client.list_tools()
    return [
        {
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.input_schema,
            "output_schema": tool.output_schema,
            "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True)
            if tool.annotations
            else None,
        }
        for tool in sorted(listed.tools, key=lambda t: t.name)
    ]


def check_snapshot(table: list[dict[str, Any]]) -> None:
    text = json.dumps(table, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(text)
    assert json.loads(SNAPSHOT.read_text()) == json.loads(text), (
        "The MCP tool list changed; review it and rerun with UPDATE_SNAPSHOTS=1 if intended."
    )


async def structured(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; validate its structured result against its schema."""
    result = await client.call_tool(name, args)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
    jsonschema.validate(result.structured_content, schemas[name])
    return result.structured_content


async def tool_error(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, result.structured_content
    return _text(result)


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(part, "text", "") for part in result.content)
