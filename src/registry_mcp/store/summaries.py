"""Model summaries built from the rows of the catalog's summary query, a page at a time.

The rows come from our own SQL over MLflow's tables, in the query's column order: the
model's name and description (text), its last update (milliseconds), the versions holding
each stage alias in MLflow and in modelreg's approved state, and the newest version
(integer columns), and its tags as one JSON object that the database builds from two text
columns (``json_group_object`` on SQLite, ``json_object_agg`` on PostgreSQL, which the
driver decodes). Those types are what the columns and the SQL functions give, and only our
own writers and MLflow's fill them, so summaries are built without re-validating each field
(``CompactModel.trusted``; a test compares them with their validated form on both
backends). What a column type does not guarantee is checked on every row: the tags must be
exactly one JSON object, else the page fails with a BACKEND error naming the model.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import AliasState, ModelSummary
from registry_mcp.store.approved_state import unapproved_change

Versions = tuple[int | None, int | None, int | None]
"""Production, Staging and rollback-target versions, in that order."""

# ``raw_decode`` decodes one document without ``decode``'s two whitespace scans (most of
# its cost on a short object); the end offset it returns shows trailing text.
_raw_decode = json.JSONDecoder().raw_decode
_from_timestamp = datetime.fromtimestamp


def alias_state(versions: Versions) -> AliasState:
    production, staging, previous = versions
    return AliasState.trusted({"production": production, "staging": staging, "previous": previous})


def model_tags(name: str, value: str | dict[str, str | None] | None) -> dict[str, str]:
    """A model's tags from its JSON object column: text on SQLite (``{}`` without tags),
    decoded by the driver on PostgreSQL (NULL without tags). A NULL tag value reads as ""."""
    if value is None:
        return {}
    found: Any = value
    if isinstance(value, str):
        try:
            found, end = _raw_decode(value)
        except ValueError:
            end = -1
        if end != len(value):
            raise _bad_tags(name, value)
    if type(found) is not dict:
        raise _bad_tags(name, value)
    if None in found.values():
        return {key: "" if text is None else text for key, text in found.items()}
    return found  # every value is text: the query aggregates a text column


def _bad_tags(name: str, value: object) -> RegistryError:
    return RegistryError(
        ErrorCode.BACKEND,
        f"The registry database returned unreadable tags for model {name!r} "
        f"({str(value)[:80]!r}, not one JSON object); check the database "
        "(registered_model_tags) and its driver.",
    )


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page is fetched and built.

    A page of 1,000 models makes some 5,000 container objects that live on (rows while the
    page is built, then the summaries and their field dicts). Left running, the collector
    scans them again and again as they are made, promotes them, and soon runs a full
    collection over the whole heap: measured here at about a quarter of the time of listing
    20,000 Production models, one full collection taking 100-220 ms in a process with
    MLflow loaded. Nothing a page builds forms a reference cycle (reference counting frees
    it all); cyclic garbage made meanwhile by other threads waits a page for the collector.
    It resumes at the page's end, and stays off if it was off (as ``subprocess`` once did
    around ``fork``).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def summaries(rows: Iterable[Sequence[Any]]) -> list[ModelSummary]:
    """One summary per row; models in the same approved state share one frozen
    ``AliasState`` (a page of models mostly holds a few distinct states)."""
    states: dict[Versions, AliasState] = {}
    built = []
    for row in rows:
        name, description, updated_ms = row[0], row[1], row[2]
        found: Versions = (row[3], row[4], row[5])
        approved_versions: Versions = (row[6], row[7], row[8])
        approved = states.get(approved_versions)
        if approved is None:
            approved = states[approved_versions] = alias_state(approved_versions)
        unapproved = None
        if found != approved_versions:
            unapproved = unapproved_change(name, approved, alias_state(found), row[9])
        # Every read path shows the approved stages; a pending change is flagged apart.
        shown = found if unapproved is None else approved_versions
        built.append(
            ModelSummary.trusted(
                {
                    "name": name,
                    "description": description or None,
                    "tags": model_tags(name, row[11]),
                    "production_version": shown[0],
                    "staging_version": shown[1],
                    "previous_production_version": shown[2],
                    "latest_version": row[10],
                    "updated_at": None
                    if updated_ms is None
                    else _from_timestamp(updated_ms / 1000, tz=UTC),
                    "unapproved_change": unapproved,
                    "unapproved_aliases": None if unapproved is None else alias_state(found),
                    "approved": approved,
                }
            )
        )
    return built
