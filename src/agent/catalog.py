"""What the registry has, for recognising names in the user's words: model names and route
names, read through the MCP tools at the first turn and again when older than ``max_age_s``
(or when a message names something unknown, in case it was just registered)."""

from __future__ import annotations

import time
from collections.abc import Callable

from agent.errors import AgentToolError
from agent.focus import Focus, ParseContext
from agent.mcp_tools import RegistryTools

_MAX_PAGES = 5


class Catalog:
    def __init__(
        self,
        tools: RegistryTools,
        *,
        max_age_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tools = tools
        self._max_age_s = max_age_s
        self._clock = clock
        self._read_at: float | None = None
        self.models: tuple[str, ...] | None = None
        self.routes: tuple[tuple[str, str], ...] = ()
        self.route_rules: tuple[tuple[str, str, str], ...] = ()
        self.stages: tuple[tuple[str, str, int], ...] = ()
        self.tasks: tuple[str, ...] | None = None
        self.model_tasks: tuple[tuple[str, str], ...] = ()

    async def refresh(self) -> None:
        """Read the names again; on failure keep what was known (None at first)."""
        names: list[str] = []
        routes: dict[str, str] = {}
        rules: list[tuple[str, str, str]] = []
        stages: list[tuple[str, str, int]] = []
        tasks: set[str] = set()
        model_tasks: list[tuple[str, str]] = []
        cursor: str | None = None
        try:
            for _ in range(_MAX_PAGES):
                page = await self._tools.list_models(cursor=cursor)
                names.extend(entry.name for entry in page.items)
                for entry in page.items:
                    if task := entry.tags.get("task") or entry.task:
                        tasks.add(task)
                        model_tasks.append((entry.name, task))
                for entry in page.items:
                    for stage, version in (
                        ("Production", entry.production_version),
                        ("Staging", entry.staging_version),
                    ):
                        if version is not None:
                            stages.append((entry.name, stage, version))
                routes.update(page.routes)
                rules += [(r.route, r.when, r.model) for r in page.route_rules]
                cursor = page.next_cursor
                if cursor is None:
                    break
        except AgentToolError:
            return
        self.models = tuple(sorted(names))
        self.stages = tuple(stages)
        self.tasks = tuple(sorted(tasks)) or None  # none tagged: tasks unknown
        self.model_tasks = tuple(model_tasks)
        known = set(names)
        self.routes = tuple(sorted((r, m) for r, m in routes.items() if m in known))
        self.route_rules = tuple(dict.fromkeys(r for r in rules if r[2] in known))
        self._read_at = self._clock()

    @property
    def age_s(self) -> float | None:
        return None if self._read_at is None else self._clock() - self._read_at

    async def context(self, focus: Focus) -> ParseContext:
        age = self.age_s
        if age is None or age > self._max_age_s:
            await self.refresh()
        return ParseContext(
            focus=focus,
            models=self.models,
            routes=self.routes,
            route_rules=self.route_rules,
            stages=self.stages,
            tasks=self.tasks,
            model_tasks=self.model_tasks,
        )

    def exists(self, model: str) -> bool:
        return self.models is not None and model in self.models

    def listing(self) -> str:
        """ "digits, mnist-classifier (routes: digits -> mnist-classifier)" for answers."""
        if not self.models:
            return "no models yet"
        shown = ", ".join(self.models[:15])
        if len(self.models) > 15:
            shown += f" and {len(self.models) - 15} more"
        if self.routes:
            shown += "; routes: " + ", ".join(f"{r} -> {m}" for r, m in self.routes[:10])
        return shown
