"""Input validation: every user-supplied name, version, stage, tag and rationale passes here.

Each function returns the normalised value or raises ``RegistryError(INVALID_INPUT)`` with a
message that names the bad input and says what is accepted instead.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable

from registry_mcp.domain.errors import ErrorCode, RegistryError
from registry_mcp.domain.schemas import ExpectedVersion, Stage

MAX_NAME_LENGTH = 200
MAX_VERSION = 2**31 - 1  # MLflow stores versions in a 32-bit integer column
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000
MAX_RATIONALE_LENGTH = 2000
RESERVED_TAG_PREFIX = "modelreg."

_TAG_KEY = re.compile(r"^[\w.\- :/]+$")
_FORBIDDEN_NAME_CHARS = frozenset("/:@")


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.INVALID_INPUT, message)


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def model_name(value: object) -> str:
    """A registered model name: 1-200 printable characters without '/', ':' or '@'."""
    if not isinstance(value, str):
        raise _invalid(f"Model name must be text, got {_show(value)}.")
    if not value.strip():
        raise _invalid("Model name is empty; give the registered model's name.")
    if value != value.strip():
        raise _invalid(f"Model name {_show(value)} has leading or trailing spaces; remove them.")
    if len(value) > MAX_NAME_LENGTH:
        raise _invalid(f"Model name is {len(value)} characters; the limit is {MAX_NAME_LENGTH}.")
    if _has_control_chars(value):
        raise _invalid(f"Model name {_show(value)} contains control characters; remove them.")
    bad = sorted(_FORBIDDEN_NAME_CHARS.intersection(value))
    if bad:
        raise _invalid(
            f"Model name {_show(value)} contains {' '.join(bad)}; model names cannot contain "
            "'/', ':' or '@' (they delimit model URIs)."
        )
    if value in (".", ".."):
        raise _invalid(f"Model name {_show(value)} is reserved; choose another name.")
    return value


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
NAME_RULE = (
    "1-63 ASCII letters, digits, '-', '_' or '.', starting and ending with a letter or "
    "digit (e.g. 'mnist-classifier'), so it is a valid Kubernetes label value"
)


def kubernetes_name(model: str) -> str:
    """The DNS-1123 label a model's Kubernetes objects are named by ('' if none)."""
    return _NOT_DNS.sub("-", model.lower()).strip("-")[:50].strip("-")


def name_problem(name: str) -> str | None:
    """Why a model name is unsafe for Kubernetes (label value, object name); None if safe."""
    if _LABEL_VALUE.match(name) and kubernetes_name(name):
        return None
    return f"a model name must be {NAME_RULE}"


def new_model_name(value: object) -> str:
    """A name for a model registered now: a model name that is also safe for Kubernetes.
    (Models registered before keep working under their names and are reported.)"""
    name = model_name(value)
    problem = name_problem(name)
    if problem is not None:
        raise _invalid(f"Model name {name!a} cannot be registered: {problem}.")
    return name


def version(value: object) -> int:
    """A model version number: an integer from 1 to 2**31-1 (text digits accepted)."""
    if isinstance(value, bool):
        raise _invalid(f"Version must be a positive whole number, got {_show(value)}.")
    if isinstance(value, str):
        text = value.strip().removeprefix("v").removeprefix("V")
        if not text.isascii() or not text.isdigit():
            raise _invalid(f"Version must be a positive whole number like 3, got {_show(value)}.")
        value = int(text)
    if not isinstance(value, int):
        raise _invalid(f"Version must be a positive whole number, got {_show(value)}.")
    if not 1 <= value <= MAX_VERSION:
        raise _invalid(f"Version must be between 1 and {MAX_VERSION}, got {value}.")
    return value


def stage(value: object) -> Stage:
    """A stage name, case-insensitive: None, Staging, Production or Archived."""
    if isinstance(value, Stage):
        return value
    if isinstance(value, str):
        wanted = value.strip().lower()
        for candidate in Stage:
            if candidate.value.lower() == wanted:
                return candidate
    choices = ", ".join(s.value for s in Stage)
    raise _invalid(f"Unknown stage {_show(value)}; use one of: {choices} (any case).")


def tag_key(value: object, *, allow_reserved: bool = False) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid(f"Tag key must be non-empty text, got {_show(value)}.")
    if len(value) > MAX_TAG_KEY_LENGTH:
        raise _invalid(f"Tag key is {len(value)} characters; the limit is {MAX_TAG_KEY_LENGTH}.")
    if not _TAG_KEY.match(value) or value != value.strip() or value.startswith("/"):
        raise _invalid(
            f"Tag key {_show(value)} is not allowed; use letters, digits, '_', '-', '.', ' ', "
            "':' or '/' (not leading), e.g. environment or task."
        )
    if ".." in value.split("/") or value in (".",):
        raise _invalid(f"Tag key {_show(value)} is not allowed; '.' and '..' are reserved.")
    if not allow_reserved and value.startswith(RESERVED_TAG_PREFIX):
        raise _invalid(
            f"Tag key {_show(value)} uses the reserved prefix {RESERVED_TAG_PREFIX!r}; "
            "choose another key."
        )
    return value


def tag_value(value: object) -> str:
    if not isinstance(value, str):
        raise _invalid(f"Tag value must be text, got {_show(value)}.")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise _invalid(
            f"Tag value is {len(value)} characters; the limit is {MAX_TAG_VALUE_LENGTH}."
        )
    if "\x00" in value:
        raise _invalid("Tag value contains a NUL character; remove it.")
    return value


def tag_pair(text: object) -> tuple[str, str]:
    """Parse ``key=value`` (or ``key:value`` when there is no '=') into a validated pair."""
    if not isinstance(text, str):
        raise _invalid(f"Tag must be text like environment=dev, got {_show(text)}.")
    sep = "=" if "=" in text else ":"
    key, found, value = text.partition(sep)
    if not found or not key:
        raise _invalid(f"Tag {_show(text)} is not key=value; write it like environment=dev.")
    return tag_key(key.strip()), tag_value(value.strip())


def rationale(value: object) -> str:
    """Why a stage changes: required, 1-2000 characters."""
    if not isinstance(value, str) or not value.strip():
        raise _invalid("A rationale is required: say why this change is made.")
    text = value.strip()
    if len(text) > MAX_RATIONALE_LENGTH:
        raise _invalid(f"Rationale is {len(text)} characters; the limit is {MAX_RATIONALE_LENGTH}.")
    if "\x00" in text:
        raise _invalid("Rationale contains a NUL character; remove it.")
    return text


def actor(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise _invalid(f"Actor must be 1-200 characters of text, got {_show(value)}.")
    if _has_control_chars(value):
        raise _invalid("Actor contains control characters; remove them.")
    return value.strip()


RESERVED_ACTORS = frozenset(
    {"modelreg-guard", "outside-modelreg", "modelreg-controller", "unauthenticated-http"}
)
"""Names the audit trail gives to modelreg itself (automatic rollbacks, changes seen in MLflow,
the serving controller) and to token-less HTTP: no person, token or environment takes them."""

MIN_TOKEN_LENGTH = 32
MIN_TOKEN_DISTINCT = 10


def human_actor(value: object) -> str:
    """A person's name as the audit trail records it: an actor, and none of modelreg's own."""
    name = actor(value)
    if name.lower() in RESERVED_ACTORS:
        raise _invalid(
            f"{name!r} is reserved for modelreg's own audit entries "
            f"({', '.join(sorted(RESERVED_ACTORS))}); act under your own name "
            "(--actor NAME or MODELREG_ACTOR)."
        )
    return name


def bearer_token(value: str, *, source: str) -> str:
    """A bearer token long and varied enough not to be guessed."""
    if (
        len(value) < MIN_TOKEN_LENGTH
        or len(set(value)) < MIN_TOKEN_DISTINCT
        or _has_control_chars(value)
        or value != value.strip()
    ):
        raise _invalid(
            f"{source} is too weak: a token needs at least {MIN_TOKEN_LENGTH} characters "
            f"with at least {MIN_TOKEN_DISTINCT} different ones, no spaces around it. Use "
            "`modelreg tokens add YOUR_NAME` (a random token per person), or set it to the "
            'output of `python3 -c "import secrets; print(secrets.token_urlsafe(32))"`.'
        )
    return value


def expected_version(value: object) -> ExpectedVersion:
    """A compare-and-set guard: None (do not check), "none" (expect no holder) or a version."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "none":
        return "none"
    return version(value)


def plan_digest(value: object) -> str:
    """A plan digest as shown to a human (12-64 lowercase hex characters)."""
    if (
        not isinstance(value, str)
        or not 12 <= len(value) <= 64
        or any(c not in "0123456789abcdef" for c in value)
    ):
        raise _invalid(
            f"Plan digest must be 12-64 lowercase hex characters (from the preview), "
            f"got {_show(value)}."
        )
    return value


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a JSON document (a card or a
prediction request needs 3); far deeper input is an attack or a mistake, and Python's parser
would fail on it with RecursionError."""


class _NonFiniteNumber(ValueError):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _reject_constant(text: str) -> object:
    raise _NonFiniteNumber(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf
        raise _NonFiniteNumber(text)
    return value


def _float_sized_int(text: str) -> int:
    # A model reads numbers as floats: an integer beyond 1.8e308 would become inf. Checking
    # the length first also keeps int() from refusing very long digit strings itself.
    if len(text.lstrip("-")) > 309:
        raise _NonFiniteNumber(text)
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _NonFiniteNumber(text) from None
    return value


def _nesting_exceeds(value: object, limit: int) -> bool:
    # Iterative, so checking a deep document cannot itself exhaust the stack.
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[object]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _too_deep(what: str, max_depth: int) -> RegistryError:
    return _invalid(
        f"{what} nests arrays or objects more than {max_depth} levels deep; "
        "remove the extra nesting."
    )


def json_document(text: str, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Strict JSON: finite numbers only (no NaN, Infinity or overflowing values) and at most
    ``max_depth`` levels of nesting. ``what`` names the source in the error, e.g. "Card file
    card.json"."""
    if not text.strip():
        raise _invalid(f"{what} is empty; give a JSON document.")
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_float_sized_int,
        )
    except _NonFiniteNumber as exc:
        raise _invalid(
            f"{what} contains {_show(exc.text, 30)}, which is not a finite number; use "
            "finite numbers only (no NaN, Infinity, or magnitudes beyond 1.8e308)."
        ) from None
    except RecursionError:
        raise _too_deep(what, max_depth) from None
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    if _nesting_exceeds(value, max_depth):
        raise _too_deep(what, max_depth)
    return value
