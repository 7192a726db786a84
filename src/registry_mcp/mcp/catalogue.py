"""The MCP server's lists (tools, prompts, resources) pinned in ``catalogue.json``.

The stdio server answers ``tools/list``, ``prompts/list`` and the resource lists from this
file while the registry is still opening (see ``deferred``), so that listing needs neither
the registry core nor the tools' result models. The file is what the full server lists, as
the SDK serialises it (key order kept, so the wire bytes are the same);
tests/test_mcp_catalogue.py compares the two. After changing a tool, its arguments, its
result model or a prompt, rewrite it with:

    python -m registry_mcp.mcp.catalogue
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import Prompt, Resource, ResourceTemplate, Tool

CATALOGUE = Path(__file__).with_name("catalogue.json")


@dataclass(frozen=True)
class Catalogue:
    tools: list[Tool]
    prompts: list[Prompt]
    resources: list[Resource]
    resource_templates: list[ResourceTemplate]

    def input_schema(self, tool: str) -> dict[str, Any] | None:
        found = next((t for t in self.tools if t.name == tool), None)
        return None if found is None else found.input_schema


def load(path: Path = CATALOGUE) -> Catalogue:
    data = json.loads(path.read_text())
    return Catalogue(
        tools=[Tool.model_validate(t) for t in data["tools"]],
        prompts=[Prompt.model_validate(p) for p in data["prompts"]],
        resources=[Resource.model_validate(r) for r in data["resources"]],
        resource_templates=[ResourceTemplate.model_validate(r) for r in data["resource_templates"]],
    )


def _wire(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]


async def capture(server: MCPServer) -> dict[str, Any]:
    """The lists ``server`` serves, as the SDK puts them on the wire."""
    return {
        "tools": _wire(await server.list_tools()),
        "prompts": _wire(await server.list_prompts()),
        "resources": _wire(await server.list_resources()),
        "resource_templates": _wire(await server.list_resource_templates()),
    }


def render(captured: dict[str, Any]) -> str:
    return json.dumps(captured, indent=1, ensure_ascii=False) + "\n"


async def _current() -> dict[str, Any]:
    import tempfile

    from registry_mcp.core.registry import Registry
    from registry_mcp.mcp.server import build_server
    from registry_mcp.store.settings import Settings

    # The lists do not depend on the registry's content: an empty one in a scratch home.
    with tempfile.TemporaryDirectory(prefix="modelreg-catalogue-") as home:
        registry = Registry.open(Settings(home=Path(home)))
        try:
            return await capture(build_server(registry, approver="catalogue"))
        finally:
            registry.close()


def main() -> None:
    import anyio

    CATALOGUE.write_text(render(anyio.run(_current)))
    print(f"wrote {CATALOGUE}")


if __name__ == "__main__":
    main()
