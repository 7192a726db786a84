"""Opaque page cursors and page-size checks shared by every paged query."""

from __future__ import annotations

import base64
import json
from typing import Any

from registry_mcp.domain.errors import ErrorCode, RegistryError

MAX_PAGE = 1000


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_cursor(cursor: str, key: str, kind: type) -> Any:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))[key]
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    raise RegistryError(
        ErrorCode.INVALID_INPUT,
        "Invalid cursor; pass the next_cursor value from the previous page unchanged.",
    )


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise RegistryError(
            ErrorCode.INVALID_INPUT, f"Page size must be between 1 and {MAX_PAGE}, got {limit!r}."
        )
    return limit
