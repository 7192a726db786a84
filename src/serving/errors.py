"""The serving package's one error type and its closed set of codes.

    ServingError(code, message)
        code: ServingErrorCode
            UNAVAILABLE      TorchServe is not reachable, or has no worker to answer (HTTP 503)
            UNAUTHORIZED     the token was refused and refreshing it from the key file failed
            NOT_FOUND        no such model, version or archive
            INVALID_REQUEST  TorchServe refused the request (bad input, conflict, URL not allowed)
            TIMEOUT          TorchServe did not answer in time
            JAVA_MISSING     no Java 17+ to run a local TorchServe
            PORT_IN_USE      a port of the local TorchServe is taken by another process
            ARCHIVE_FAILED   building a model archive (.mar) failed
            UNSAFE_MODEL     loading the model could run code (not MLflow's pt2 export) and no
                             operator marked the version trusted; no archive is built
            CONFIG_INVALID   configs/models.yaml (or another serving setting) is invalid
            BACKEND          TorchServe failed in an unexpected way (HTTP 5xx, bad reply, crash)

Callers branch on ``code``; ``message`` says what is wrong and what to do next.
``httpx`` errors and TorchServe's JSON error replies are translated at the boundary
(``serving.torchserve``); subprocess and file errors where they happen. Nothing else leaks.
"""

from __future__ import annotations

from enum import StrEnum


class ServingErrorCode(StrEnum):
    UNAVAILABLE = "UNAVAILABLE"
    UNAUTHORIZED = "UNAUTHORIZED"
    NOT_FOUND = "NOT_FOUND"
    INVALID_REQUEST = "INVALID_REQUEST"
    TIMEOUT = "TIMEOUT"
    JAVA_MISSING = "JAVA_MISSING"
    PORT_IN_USE = "PORT_IN_USE"
    ARCHIVE_FAILED = "ARCHIVE_FAILED"
    UNSAFE_MODEL = "UNSAFE_MODEL"
    CONFIG_INVALID = "CONFIG_INVALID"
    BACKEND = "BACKEND"


#: Codes that say the serving system as a whole cannot be used right now (as opposed to
#: one request or one model being wrong); a reconcile loop stops at these.
SYSTEM_ERRORS = frozenset(
    {
        ServingErrorCode.UNAVAILABLE,
        ServingErrorCode.UNAUTHORIZED,
        ServingErrorCode.TIMEOUT,
        ServingErrorCode.JAVA_MISSING,
        ServingErrorCode.PORT_IN_USE,
    }
)


class ServingError(Exception):
    """A serving operation failed; the message says what to do about it."""

    def __init__(self, code: ServingErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ServingError({self.code.value}, {self.message!r})"

    @property
    def is_system_error(self) -> bool:
        return self.code in SYSTEM_ERRORS
