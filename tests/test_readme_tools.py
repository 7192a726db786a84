"""The README's table of every MCP tool's arguments and results is generated from the pinned
tool schemas (tests/snapshots/mcp_tools.json); `UPDATE_SNAPSHOTS=1` rewrites it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.mcp_support import SNAPSHOT

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- mcp-tool-arguments: generated from tests/snapshots/mcp_tools.json -->"
END = "<!-- /mcp-tool-arguments -->"


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        kinds = [_type(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " or ".join(kinds) + " or null"
    if "enum" in schema:
        return " / ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if schema.get("type") == "object":
        return "object"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return str(schema.get("type", "any"))


def _argument(name: str, schema: dict[str, Any], required: bool) -> str:
    text = f"`{name}` ({_type(schema)}"
    text += ", required)" if required else (f", default `{json.dumps(schema.get('default'))}`)")
    return text


def tool_table(tools: list[dict[str, Any]]) -> str:
    lines = [
        START,
        "| Tool | Arguments | Result fields |",
        "|---|---|---|",
    ]
    for tool in tools:
        schema = tool["input_schema"]
        required = set(schema.get("required", []))
        arguments = [
            _argument(name, prop, name in required)
            for name, prop in sorted(
                schema.get("properties", {}).items(), key=lambda kv: (kv[0] not in required, kv[0])
            )
        ]
        result = sorted((tool.get("output_schema") or {}).get("properties", {}))
        lines.append(
            f"| `{tool['name']}` | {'; '.join(arguments) or 'none'} | "
            f"{', '.join(f'`{r}`' for r in result) or '-'} |"
        )
    lines.append(END)
    return "\n".join(lines)


def test_readme_lists_every_tool_with_its_arguments_and_results() -> None:
    tools = json.loads(SNAPSHOT.read_text())
    table = tool_table(tools)
    text = README.read_text(encoding="utf-8")
    assert START in text, f"README lacks the {START} block"
    assert END in text, f"README lacks the {END} line"
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        README.write_text(before + table + after, encoding="utf-8")
        return
    assert START + rest.split(END, 1)[0] + END == table, (
        "The README's MCP tool table differs from the tool schemas; regenerate it with "
        "UPDATE_SNAPSHOTS=1 pytest tests/test_readme_tools.py"
    )
    for tool in tools:
        assert f"| `{tool['name']}` |" in table
