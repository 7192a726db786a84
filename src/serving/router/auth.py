"""Who may call the router: the admin token, and client API keys when bound off loopback.

Only SHA-256 digests of secrets are kept; a presented secret is hashed and compared with
``hmac.compare_digest`` against every stored digest, so timing tells nothing about which
(or whether a prefix) matched. The client key file is ``{"keys": {"<sha256 hex>": "<client
name>"}}``; keys travel as ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Mapping
from pathlib import Path

from serving.errors import ServingError, ServingErrorCode

MIN_SECRET_LENGTH = 16
_DIGEST_LENGTH = 64


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def bearer(authorization: str | None) -> str | None:
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    return authorization.removeprefix("Bearer ").strip() or None


class AdminAuth:
    """The one admin token, given at start."""

    def __init__(self, token: str) -> None:
        if len(token) < MIN_SECRET_LENGTH:
            raise ServingError(
                ServingErrorCode.CONFIG_INVALID,
                f"the router's admin token must have at least {MIN_SECRET_LENGTH} characters; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe())'`",
            )
        self._digest = digest(token)

    def allows(self, authorization: str | None) -> bool:
        presented = bearer(authorization)
        return presented is not None and hmac.compare_digest(digest(presented), self._digest)


class ClientKeys:
    """API keys of prediction clients; ``required`` is True when the router is off loopback."""

    def __init__(self, clients_by_digest: Mapping[str, str], *, required: bool) -> None:
        self._clients = dict(clients_by_digest)
        self.required = required

    @classmethod
    def load(cls, path: Path | None, *, required: bool) -> ClientKeys:
        clients = read_key_file(path) if path is not None else {}
        if required and not clients:
            raise ServingError(
                ServingErrorCode.CONFIG_INVALID,
                "the router binds off loopback, so prediction clients need API keys, and none "
                "are configured; pass --client-keys FILE ({'keys': {sha256: client}}) or bind "
                "to 127.0.0.1",
            )
        return cls(clients, required=required)

    def client_for(self, authorization: str | None, api_key: str | None) -> str | None:
        """The client name of the presented key; None if missing or unknown."""
        presented = api_key.strip() if api_key else bearer(authorization)
        if not presented:
            return None
        wanted = digest(presented)
        found = None
        for stored, client in self._clients.items():
            if hmac.compare_digest(stored, wanted):  # every entry: no early exit
                found = client
        return found


def read_key_file(path: Path) -> dict[str, str]:
    """``{sha256 hex: client}`` from a client key file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServingError(
            ServingErrorCode.CONFIG_INVALID, f"cannot read the client key file {path}: {exc}"
        ) from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and len(k) == _DIGEST_LENGTH and isinstance(v, str)
        for k, v in keys.items()
    ):
        raise ServingError(
            ServingErrorCode.CONFIG_INVALID,
            f"the client key file {path} is not {{'keys': {{sha256 hex: client name}}}}",
        )
    return {k.lower(): v for k, v in keys.items()}
