"""Follow a table file (``--follow-table``): the router's table on Kubernetes is a mounted
ConfigMap, which the kubelet replaces in place when its owner (Terraform) changes it. The
router installs the file's table whenever the file's bytes change, through the same checked
compare-and-set as ``PUT /admin/table`` (every version loaded in its TorchServe), retried while
refused: after a promotion the changed model's TorchServe pods are still rolling. No router
pod restarts for a promotion, and a table the router refuses leaves the one in use in place.
Level-triggered: every poll compares the file's table with the one in use, so a table put
into one router pod by hand (``PUT /admin/table``) is replaced by the owner's again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from serving.errors import ServingError
from serving.router.errors import RouterError, RouterErrorCode
from serving.router.switch import Tables
from serving.router.table import RoutingTable, TableUpdate

Reader = Callable[[Path], RoutingTable]  # server.read_table: CONFIG_INVALID naming the problem

#: Seconds between two reads of the file (the kubelet's own update delay is ~1 minute).
POLL_S = 2.0
_log = logging.getLogger(__name__)


async def follow_table(tables: Tables, path: Path, read: Reader, *, poll_s: float = POLL_S) -> None:
    """Run until cancelled: install ``path``'s table whenever it differs from the one in use."""
    invalid: bytes | None = None  # bytes that are not a table: logged once, skipped
    while True:
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            _log.warning("routing table file %s not readable: %s", path, exc.strerror or exc)
            raw = None
        if raw is not None and raw != invalid:
            invalid = None if await _install(tables, path, read) else raw
        await asyncio.sleep(poll_s)


async def _install(tables: Tables, path: Path, read: Reader) -> bool:
    """Bring the table in use to the file's (no-op when it is already); False only when
    the file is not a table (logged once: it must change). A refusal is logged and retried
    at the next poll."""
    try:
        table = read(path)
    except ServingError as exc:
        _log.warning("routing table file ignored until it changes: %s", exc.message)
        return False
    current = tables.current
    if current.generation > 0 and current.state.table == table:
        return True
    try:
        state = await tables.update(
            TableUpdate(expected_generation=current.generation, table=table)
        )
    except RouterError as exc:
        if exc.code is not RouterErrorCode.CONFLICT:
            _log.warning(
                "routing table from %s not installed (%s: %s); retrying",
                path,
                exc.code.value,
                exc.message,
            )
        return True
    _log.info("routing table from %s installed (generation %d)", path, state.generation)
    return True
