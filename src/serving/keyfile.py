"""Reading TorchServe's ``key_file.json`` (its tokens): file access only, keys never printed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.errors import ServingError, ServingErrorCode

#: Refresh this long before TorchServe's recorded expiry, so no request races it.
EXPIRY_MARGIN = timedelta(seconds=30)


class Key(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str = Field(repr=False)
    expires: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires is None:
            return False
        return self.expires - EXPIRY_MARGIN <= (now or datetime.now(UTC))


def read_keys(path: Path) -> dict[str, Key] | None:
    """``{"management": Key, "inference": Key, "API": Key}``; None if the file does not exist."""
    raw: Any = None
    for _ in range(20):  # TorchServe rewrites the file in place: a read can catch it half done
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            break
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            time.sleep(0.05)
        except OSError as exc:
            raise ServingError(
                ServingErrorCode.UNAUTHORIZED, f"cannot read key file {path}: {exc}"
            ) from None
    if not isinstance(raw, dict):
        raise ServingError(
            ServingErrorCode.UNAUTHORIZED,
            f"key file {path} does not hold TorchServe's key JSON; restart TorchServe",
        )
    keys: dict[str, Key] = {}
    for name, entry in raw.items():
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            keys[str(name)] = Key(key=entry["key"], expires=_parse_time(entry))
    return keys


def _parse_time(entry: dict[str, Any]) -> datetime | None:
    value = entry.get("expiration time")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
