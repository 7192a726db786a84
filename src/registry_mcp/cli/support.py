"""Per-invocation CLI state: settings and the registry are built here, once, at the edge.

Settings and the registry are imported when a command first asks for them, so that `--help`
and commands that need neither do not pay for pydantic-settings, SQLAlchemy or MLflow.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from registry_mcp.domain.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from registry_mcp.core.registry import Registry
    from registry_mcp.store.settings import Settings


PIPED_WIDTH = 200
"""Columns of tables and panels when output goes to a file or a pipe (not a terminal)."""


def cli_console(*, stderr: bool = False) -> Console:
    """A console for the command line: at a terminal, rich's usual one; piped to a file or
    another program, wide and without line wrapping, so that names, evidence and printed
    commands stay whole on one line (copy-paste, grep). ``COLUMNS`` still wins."""
    console = Console(stderr=stderr)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=PIPED_WIDTH, soft_wrap=True)


@dataclass
class Ctx:
    actor_override: str | None = None
    home_override: Path | None = None
    console: Console = field(default_factory=cli_console)
    err_console: Console = field(default_factory=lambda: cli_console(stderr=True))
    _settings: Settings | None = None
    _registry: Registry | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            from pydantic import ValidationError

            from registry_mcp.store.settings import Settings

            try:
                if self.home_override is None:
                    self._settings = Settings()
                else:
                    self._settings = Settings(home=self.home_override)
            except ValueError as exc:
                if not isinstance(exc, ValidationError):  # raised by a default factory
                    raise RegistryError(
                        ErrorCode.INVALID_INPUT, f"Invalid configuration: {exc}."
                    ) from None
                problems = "; ".join(
                    f"MODELREG_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                    for e in exc.errors()
                )
                raise RegistryError(
                    ErrorCode.INVALID_INPUT, f"Invalid configuration: {problems}."
                ) from None
            from registry_mcp.store import files

            # Every command that reads the data home would otherwise fail on its own file.
            files.check_not_a_file(self._settings.home)
        return self._settings

    def registry(self) -> Registry:
        if self._registry is None:
            from registry_mcp.core.registry import Registry

            self._registry = Registry.open(self.settings())
        return self._registry

    def close(self) -> None:
        """Release the registry's database connections (when the command's context closes)."""
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def actor(self) -> str:
        from registry_mcp.domain import validation

        return validation.human_actor(self.actor_override or self.settings().actor)


def get_ctx(ctx: typer.Context) -> Ctx:
    state = ctx.find_root().obj
    assert isinstance(state, Ctx)
    return state


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RationaleOpt = Annotated[str, typer.Option("--rationale", "-r", help="Why (recorded in audit).")]

CLI_CLIENT = "modelreg-cli"
"""The client recorded in the audit trail for changes made at the command line."""


def ask_confirmation(state: Ctx, yes: bool) -> bool:
    """The human's yes at the terminal; without a terminal, --yes is required (raised)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            "Confirmation needed but no terminal is attached; nothing was changed. "
            "Re-run in a terminal, or pass --yes to confirm from a script.",
        )
    return typer.confirm("Apply this change?", default=False, err=True)


def confirm_or_abort(state: Ctx, yes: bool) -> None:
    """Ask the human at the terminal; exit 1 (changing nothing) on no."""
    if not ask_confirmation(state, yes):
        state.err_console.print("Cancelled; nothing was changed.")
        raise typer.Exit(1)
