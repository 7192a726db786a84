"""The import arrows between packages and layers point one way: down.

``registry_mcp`` is cut into layers (README, "Layout"). A module may import its own layer and
the layers listed for it below, and of ``serving`` only what its layer is allowed: the data
types for the layers that describe serving, everything for the layers that run it. ``serving``
and ``agent`` import no other package of ours (the agent reaches the registry over MCP only).
Every import counts, including ones inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
OURS = ("registry_mcp", "serving", "agent", "simulation")

#: layer -> the other layers of registry_mcp it may import
LAYERS: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "store": frozenset({"domain"}),
    "core": frozenset({"store", "domain"}),
    "mcp": frozenset({"core", "store", "domain"}),
    "deploy": frozenset({"core", "store", "domain"}),
    "training": frozenset({"core", "store", "domain"}),
    "metrics": frozenset({"core", "store", "domain"}),
    "cli": frozenset({"mcp", "deploy", "training", "metrics", "core", "store", "domain"}),
}
#: serving's data modules: the schema of models.yaml, its errors, the results of a switch
SERVING_TYPES = frozenset({"serving.config", "serving.errors", "serving.rollout"})
SERVING_ALLOWED: dict[str, frozenset[str] | None] = {  # None: all of serving
    "domain": frozenset(),
    "store": frozenset({"serving.config", "serving.errors"}),
    "core": SERVING_TYPES,
    "mcp": SERVING_TYPES,
    "deploy": None,
    "training": None,
    "metrics": frozenset({"serving.config"}),
    "cli": None,
}
#: other top-level packages of ours a layer may import (lazily, for one command)
OTHERS_ALLOWED: dict[str, frozenset[str]] = {"cli": frozenset({"agent", "simulation"})}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    module = ".".join(path.relative_to(SRC).with_suffix("").parts)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            # `from pkg import module` imports pkg.module; `from pkg.mod import name` imports
            # pkg.mod: keep the longest of the two that is one of our modules
            found += [(node.lineno, n if _is_module(n) else target) for n in names]
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def _is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if parts[0] == "registry_mcp" and len(parts) > 2 else None


def _violation(source: str, target: str) -> str | None:
    top, target_top = source.split(".")[0], target.split(".")[0]
    if top in ("serving", "agent"):
        return None if target_top == top else f"{top} imports no other package of ours"
    if top == "simulation":
        return None
    layer = _layer(source)
    if layer is None:  # registry_mcp/__init__.py
        return None if target == "registry_mcp" else "the package root imports nothing"
    if target_top == "registry_mcp":
        target_layer = _layer(target)
        if target_layer is None or target_layer == layer or target_layer in LAYERS[layer]:
            return None
        return f"layer {layer} may import {sorted(LAYERS[layer])}, not {target_layer}"
    if target_top == "serving":
        allowed = SERVING_ALLOWED[layer]
        module = ".".join(target.split(".")[:2])
        if allowed is None or module in allowed:
            return None
        return f"layer {layer} may import {sorted(allowed)} of serving, not {module}"
    if target_top in OTHERS_ALLOWED.get(layer, frozenset()):
        return None
    return f"layer {layer} may not import {target_top}"


def _modules() -> list[Path]:
    return sorted(p for top in OURS for p in (SRC / top).rglob("*.py"))


def test_every_registry_module_is_in_a_layer() -> None:
    package = SRC / "registry_mcp"
    flat = sorted(p.name for p in package.glob("*.py") if p.name != "__init__.py")
    assert flat == [], f"modules outside the layers: {flat}"
    layers = {p.parent.name for p in package.glob("*/*.py") if p.name != "__init__.py"}
    assert sorted(layers) == sorted(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down(path: Path) -> None:
    source = ".".join(path.relative_to(SRC).with_suffix("").parts)
    wrong = [
        f"{path.relative_to(SRC)}:{line} imports {target}: {why}"
        for line, target in _imports(path)
        if (why := _violation(source, target)) is not None
    ]
    assert wrong == []


def test_the_checker_sees_a_wrong_arrow(tmp_path: Path) -> None:
    """The rules above refuse what they should (so a green run means something)."""
    assert _violation("registry_mcp.domain.plans", "registry_mcp.store.catalog") is not None
    assert _violation("registry_mcp.core.approvals", "registry_mcp.mcp.tool_models") is not None
    assert _violation("registry_mcp.store.catalog", "serving.torchserve") is not None
    assert _violation("serving.router.app", "registry_mcp.core.registry") is not None
    assert _violation("agent.nodes", "registry_mcp.mcp.tool_models") is not None
    assert _violation("registry_mcp.cli.app", "registry_mcp.deploy.deployment") is None
