"""A SQLite checkpointer at a given path: conversations and pending approvals survive restarts.

Checkpoints are deserialised with an allow-list of this package's state types, so a
tampered checkpoint file cannot make the agent import and call arbitrary code.
"""

from __future__ import annotations

import os
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from pydantic import BaseModel

from agent.decisions import Approve, Deny, EditRationale
from agent.intents import Intent
from agent.state import STATE_TYPES


def state_types() -> list[type[BaseModel]]:
    intents = [t for t in typing.get_args(typing.get_args(Intent)[0]) if isinstance(t, type)]
    return [*STATE_TYPES, Approve, Deny, EditRationale, *intents]


def serializer() -> JsonPlusSerializer:
    allowed = [(cls.__module__, cls.__name__) for cls in state_types()]
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


@asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """An async SQLite checkpointer persisted to ``path`` (parent directories created).

    Conversations are private: new directories are 0700 and the database file 0600 (SQLite
    gives its -wal/-shm files the database file's mode)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    async with aiosqlite.connect(str(path)) as conn:
        yield AsyncSqliteSaver(conn, serde=serializer())
