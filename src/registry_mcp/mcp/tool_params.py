"""Parameter types and annotations shared by the MCP tools (one definition each)."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.types import ToolAnnotations
from pydantic import Field

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
STAGE_CHANGE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False
)

ModelName = Annotated[
    str,
    Field(
        description="Registered model name, e.g. mnist-classifier.", min_length=1, max_length=200
    ),
]
VersionNo = Annotated[int, Field(description="Model version number.", ge=1, le=2**31 - 1)]
Rationale = Annotated[
    str,
    Field(
        description="Why this change (shown to the approver, audited).",
        min_length=1,
        max_length=2000,
    ),
]
Limit = Annotated[int, Field(description="Page size.", ge=1, le=100)]
Cursor = Annotated[str | None, Field(description="next_cursor from the previous page.")]
StageName = Literal["None", "Staging", "Production", "Archived"]


PlanDigest = Annotated[
    str | None,
    Field(
        description="Refuse unless the change's plan still has this digest (from "
        "preview_change; the first 12+ hex characters suffice).",
        min_length=12,
        max_length=64,
        pattern="^[0-9a-f]+$",
    ),
]
