"""The registry's one error type and its closed set of codes.

    RegistryError(code, message)
        code: ErrorCode
            INVALID_INPUT       malformed name, version, stage, tag, card or rationale
            NOT_FOUND           no such model or version
            ALREADY_EXISTS      the object to create exists already
            INVALID_TRANSITION  the stage change is not allowed from the current stage
            STALE_VERSION       the caller's expected current version is no longer current
            STALE_PLAN          the registry changed since the human was shown the plan
            NOT_APPROVED        no valid, unused human approval of exactly this plan
            UNAPPROVED_CHANGE   stage aliases were moved outside modelreg; resolve that first
            CARD_INCOMPLETE     Production needs a complete model card
            LOCK_TIMEOUT        another promotion of the same model holds the lock too long
            BACKEND             the tracking/registry database or artifact store failed

Callers branch on ``code``; ``message`` says what is wrong and what to do instead.
``MlflowException`` and SQLAlchemy errors are translated at the boundary and never leak.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    STALE_VERSION = "STALE_VERSION"
    STALE_PLAN = "STALE_PLAN"
    NOT_APPROVED = "NOT_APPROVED"
    UNAPPROVED_CHANGE = "UNAPPROVED_CHANGE"
    CARD_INCOMPLETE = "CARD_INCOMPLETE"
    LOCK_TIMEOUT = "LOCK_TIMEOUT"
    BACKEND = "BACKEND"


#: Codes caused by what the user asked for (as opposed to the system failing).
USER_ERRORS = frozenset(
    {
        ErrorCode.INVALID_INPUT,
        ErrorCode.NOT_FOUND,
        ErrorCode.ALREADY_EXISTS,
        ErrorCode.INVALID_TRANSITION,
        ErrorCode.STALE_VERSION,
        ErrorCode.STALE_PLAN,
        ErrorCode.NOT_APPROVED,
        ErrorCode.UNAPPROVED_CHANGE,
        ErrorCode.CARD_INCOMPLETE,
    }
)


class RegistryError(Exception):
    """A registry operation failed; nothing was changed unless the message says so."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def is_user_error(self) -> bool:
        return self.code in USER_ERRORS
