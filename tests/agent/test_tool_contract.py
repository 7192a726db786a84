"""Contract: the agent's mirrored result types (agent.tool_results) against the output schemas
the registry's MCP server publishes, listed through a real client session.

For every tool the agent calls, every field its model declares must exist in the server's
schema with a JSON type the agent accepts (and enum values it knows); a field the agent
requires must be required by the server. Renaming any of those server fields fails here."""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

from agent.mcp_tools import RegistryTools

pytestmark = pytest.mark.anyio

Schema = dict[str, Any]
Pointer = tuple[str | int, ...]
ANY = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def agent_models() -> dict[str, type[BaseModel]]:
    """Tool name -> the agent model its wrapper validates the result with."""
    found = {}
    for name, fn in vars(RegistryTools).items():
        if name.startswith("_") or not inspect.iscoroutinefunction(fn):
            continue
        result = get_type_hints(fn)["return"]
        assert isinstance(result, type), name
        assert issubclass(result, BaseModel), name
        found[name] = result
    return found


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(schema: Schema) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    if "const" in schema:
        return {_json_type(schema["const"])}
    return set(ANY)  # no constraint: anything


def _strings(schema: Schema) -> set[str] | None:
    """The string values a branch allows; None if it allows any string (or none)."""
    if "enum" in schema:
        return {v for v in schema["enum"] if isinstance(v, str)}
    if "const" in schema and isinstance(schema["const"], str):
        return {schema["const"]}
    return None


@dataclass
class Contract:
    """Walks an agent schema and a server schema side by side."""

    tool: str
    agent_defs: dict[str, Schema]
    server_defs: dict[str, Schema]
    problems: list[str] = field(default_factory=list)
    visited: list[tuple[Pointer, str]] = field(default_factory=list)
    """(pointer to a server `properties` object, property name) for every field checked."""

    def _resolve(
        self, schema: Schema, ptr: Pointer, defs: dict[str, Schema]
    ) -> tuple[Schema, Pointer]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema, ptr = defs[name], ("$defs", name)
        return schema, ptr

    def _branches(
        self, schema: Schema, ptr: Pointer, defs: dict[str, Schema]
    ) -> list[tuple[Schema, Pointer]]:
        schema, ptr = self._resolve(schema, ptr, defs)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return [
                    branch
                    for i, sub in enumerate(schema[key])
                    for branch in self._branches(sub, (*ptr, key, i), defs)
                ]
        return [(schema, ptr)]

    def check(self, agent: Schema, server: Schema, where: str, ptr: Pointer = ()) -> None:
        mine = [b for b, _ in self._branches(agent, (), self.agent_defs)]
        theirs = self._branches(server, ptr, self.server_defs)
        accepted = set().union(*(_types(b) for b in mine))
        if "number" in accepted:
            accepted.add("integer")
        sent = set().union(*(_types(b) for b, _ in theirs))
        if not sent <= accepted:
            self.problems.append(
                f"{self.tool}: {where}: the server may send {sorted(sent - accepted)}, the "
                f"agent accepts {sorted(accepted)}"
            )
            return
        self._check_strings(mine, [b for b, _ in theirs], where)
        for a in mine:
            a_types = _types(a)
            for s, s_ptr in theirs:
                s_types = _types(s)
                if "object" in a_types & s_types and ("properties" in a or "properties" in s):
                    self._check_object(a, s, where, s_ptr)
                elif "object" in a_types & s_types and "additionalProperties" in a:
                    self.check(
                        a["additionalProperties"],
                        s.get("additionalProperties", {}),
                        f"{where}[*]",
                        (*s_ptr, "additionalProperties"),
                    )
                if "array" in a_types & s_types and "items" in a:
                    self.check(a["items"], s.get("items", {}), f"{where}[]", (*s_ptr, "items"))

    def _check_strings(self, mine: list[Schema], theirs: list[Schema], where: str) -> None:
        allowed: set[str] = set()
        for branch in mine:
            values = _strings(branch)
            if values is None and "string" in _types(branch):
                return  # the agent takes any string
            allowed |= values or set()
        for branch in theirs:
            values = _strings(branch)
            if "string" not in _types(branch):
                continue
            if values is None:
                self.problems.append(
                    f"{self.tool}: {where}: the server may send any string, the agent only "
                    f"knows {sorted(allowed)}"
                )
            elif not values <= allowed:
                self.problems.append(
                    f"{self.tool}: {where}: the server may send {sorted(values - allowed)}, "
                    f"unknown to the agent"
                )

    def _check_object(self, agent: Schema, server: Schema, where: str, ptr: Pointer) -> None:
        published = server.get("properties", {})
        required = set(server.get("required", []))
        for name, prop in agent.get("properties", {}).items():
            path = f"{where}.{name}"
            if name not in published:
                self.problems.append(
                    f"{self.tool}: {path}: the agent declares it; the server does not publish it"
                )
                continue
            self.visited.append(((*ptr, "properties"), name))
            if name in agent.get("required", []) and name not in required:
                self.problems.append(
                    f"{self.tool}: {path}: the agent requires it; the server may leave it out"
                )
            self.check(prop, published[name], path, (*ptr, "properties", name))


def check_tool(tool: str, model: type[BaseModel], output_schema: Schema) -> Contract:
    agent = model.model_json_schema(mode="validation")
    contract = Contract(tool, agent.get("$defs", {}), output_schema.get("$defs", {}))
    contract.check(agent, output_schema, model.__name__)
    return contract


@pytest.fixture
async def published(server: MCPServer) -> dict[str, Schema]:
    async with Client(server) as session:
        listed = await session.list_tools()
    return {t.name: t.output_schema for t in listed.tools if t.output_schema is not None}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_agents_result_types_match_the_servers_output_schemas(
    published: dict[str, Schema],
) -> None:
    models = agent_models()
    assert set(models) <= set(published), "the agent calls a tool the server does not list"
    problems = []
    for tool, model in models.items():
        contract = check_tool(tool, model, published[tool])
        problems += contract.problems
        assert contract.visited, f"{tool}: nothing was compared"
    assert problems == []


def _renamed(schema: Schema, ptr: Pointer, name: str) -> Schema:
    mutated = copy.deepcopy(schema)
    properties: Any = mutated
    for part in ptr:
        properties = properties[part]
    properties[f"{name}_renamed"] = properties.pop(name)
    owner: Any = mutated
    for part in ptr[:-1]:
        owner = owner[part]
    if name in owner.get("required", []):
        owner["required"] = [f"{name}_renamed" if r == name else r for r in owner["required"]]
    return mutated


async def test_renaming_any_server_field_the_agent_reads_breaks_the_contract(
    published: dict[str, Schema],
) -> None:
    checked = 0
    for tool, model in agent_models().items():
        schema = published[tool]
        for ptr, name in set(check_tool(tool, model, schema).visited):
            problems = check_tool(tool, model, _renamed(schema, ptr, name)).problems
            assert any(f".{name}: the agent declares it" in p for p in problems), (tool, ptr, name)
            checked += 1
    assert checked > 50


async def test_the_metric_direction_is_part_of_the_contract(
    published: dict[str, Schema],
) -> None:
    models = agent_models()
    renamed = _renamed(published["compare_versions"], ("properties",), "lower_is_better")
    assert check_tool("compare_versions", models["compare_versions"], renamed).problems == [
        "compare_versions: Comparison.lower_is_better: the agent declares it; the server does "
        "not publish it"
    ]
    loosened = copy.deepcopy(published["list_models"])
    entry = loosened["properties"]["items"]["items"]  # output schemas are published inline
    entry["properties"]["primary_metric"]["required"].remove("lower_is_better")
    problems = check_tool("list_models", models["list_models"], loosened).problems
    assert problems == [
        "list_models: ModelList.items[].primary_metric.lower_is_better: the agent requires it; "
        "the server may leave it out"
    ]
