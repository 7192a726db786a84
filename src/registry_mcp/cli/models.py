"""`modelreg models ...`: list, show, register, tag and describe registered models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from registry_mcp.cli.support import get_ctx
from registry_mcp.domain.errors import ErrorCode, RegistryError

models_app = typer.Typer(
    help="List, show, register, tag and describe models.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
MAX_CARD_BYTES = 1024 * 1024
"""A complete card is a few kilobytes; anything near this is not a card."""


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="key=value; repeat to AND them.")
    ] = None,
    stage: Annotated[
        str | None, typer.Option(help="Production, Staging, Archived or None (any case).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Shorthand for --tag task=VALUE.")] = None,
    limit: Annotated[int | None, typer.Option(help="Models per page (1-1000).")] = None,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered models, e.g. `--stage production --tag task=classification`."""
    from registry_mcp.cli import render
    from registry_mcp.domain import validation

    state = get_ctx(ctx)
    pairs = [validation.tag_pair(item) for item in tag or []]
    page = state.registry().list_models(
        tags=pairs, stage=stage, task=task, limit=limit, cursor=cursor
    )
    if as_json:
        render.print_json(state.console, page)
        return
    state.console.print(render.models_table(page))
    for line in render.unapproved(page.items) + render.unsafe_names(page.items):
        state.console.print(line)
    if page.next_cursor:
        state.console.print(f"More: --cursor {page.next_cursor}")


@models_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str | None, typer.Option(help="Show this version and its card.")] = None,
    limit: Annotated[int | None, typer.Option(help="Versions per page (1-1000).")] = None,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a model with its versions, or one version with its model card."""
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    registry = state.registry()
    if version is None:
        detail = registry.get_model(name, limit=limit, cursor=cursor)
        if as_json:
            render.print_json(state.console, detail)
            return
        for part in render.model_detail(detail):
            state.console.print(part)
        if detail.versions.next_cursor:
            state.console.print(f"More versions: --cursor {detail.versions.next_cursor}")
        return
    info = registry.get_version(name, version)
    card = registry.get_card(name, info.version)
    if as_json:
        render.print_json(state.console, {"version": info, "card": card})
        return
    state.console.print(
        f"[b]{render.escape(info.name)}[/] v{info.version}  stage: {info.stage.value}  "
        f"aliases: {', '.join(info.aliases) or '-'}  run: {info.run_id or '-'}"
    )
    state.console.print(f"tags: {render.escape(json.dumps(info.tags, ensure_ascii=False))}")
    state.console.print(render.card_panel(info.name, info.version, card))


@models_app.command("register")
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name (created if new).")],
    model_uri: Annotated[str, typer.Argument(help="runs:/<run_id>/<path> or models:/m-<id>.")],
    as_json: JsonOpt = False,
) -> None:
    """Register a new version from a logged model."""
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    info = state.registry().register(name, model_uri, actor=state.actor(), client="modelreg-cli")
    if as_json:
        render.print_json(state.console, info)
    else:
        state.console.print(f"Registered {render.escape(info.name)} v{info.version}.")


def _distinct_pairs(items: list[str], remove: list[str]) -> dict[str, str]:
    """Parsed key=value pairs; a key given twice, or both set and removed, is ambiguous."""
    from registry_mcp.domain import validation

    pairs: dict[str, str] = {}
    for key, value in map(validation.tag_pair, items):
        if key in pairs:
            raise RegistryError(
                ErrorCode.INVALID_INPUT,
                f"Tag {key!r} is given more than once; give each key once. Nothing was changed.",
            )
        pairs[key] = value
    both = sorted(set(pairs) & set(remove))
    if both:
        raise RegistryError(
            ErrorCode.INVALID_INPUT,
            f"Tag {both[0]!r} is both set and removed; do one or the other. Nothing was changed.",
        )
    return pairs


@models_app.command("tag")
def tag(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    tags: Annotated[list[str] | None, typer.Argument(help="key=value pairs to set.")] = None,
    version: Annotated[str | None, typer.Option(help="Tag this version, not the model.")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Tag key to delete; repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set or remove tags on a model or one of its versions."""
    from registry_mcp.cli import render

    state = get_ctx(ctx)
    pairs = _distinct_pairs(tags or [], remove or [])
    after = state.registry().set_tags(
        name, pairs, actor=state.actor(), version=version, remove=remove or []
    )
    if as_json:
        render.print_json(state.console, {"tags": after})
    else:
        state.console.print(f"Tags now: {render.escape(json.dumps(after, ensure_ascii=False))}")


@models_app.command("card")
def card(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Argument(help="Version number.")],
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Card JSON to store ('-' for stdin).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a version's model card, or replace it with --file card.json."""
    from registry_mcp.cli import render
    from registry_mcp.domain import validation
    from registry_mcp.domain.cards import card_from_document
    from registry_mcp.store import files

    state = get_ctx(ctx)
    name = validation.model_name(name)
    number = validation.version(version)
    if file is None:
        view = state.registry().get_card(name, number)
    else:
        # The whole card is checked before the registry is opened: bad input changes nothing.
        text = files.read_input(file, what="card file", max_bytes=MAX_CARD_BYTES)
        source = f"The {files.source_name(file, 'card file')}"
        new_card = card_from_document(validation.json_document(text, what=source), what=source)
        view = state.registry().set_card(name, number, new_card, actor=state.actor())
    if as_json:
        render.print_json(state.console, view)
    else:
        state.console.print(render.card_panel(name, number, view))
