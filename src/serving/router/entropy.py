"""Random bytes for request ids and feedback tokens, drawn from the OS in blocks.

``os.urandom`` is one ``getrandom`` system call however few bytes it returns; the router
needs 32 bytes per answer (a request id and a feedback token), which were two calls per
request. ``token_bytes`` reads ``BLOCK`` bytes at once and hands them out in order, each
byte once: the same CSPRNG output ``secrets.token_bytes`` gives, one system call per
``BLOCK // 32`` answers. A forked child drops what its parent had drawn (never the same
bytes in two processes).
"""

from __future__ import annotations

import os
import threading

BLOCK = 4096

_lock = threading.Lock()
_pool = b""
_at = 0


def token_bytes(n: int) -> bytes:
    """``n`` unpredictable bytes, never handed out before (thread-safe)."""
    global _pool, _at
    with _lock:
        at = _at
        if at + n > len(_pool):
            _pool, at = os.urandom(max(BLOCK, n)), 0
        _at = at + n
        return _pool[at : at + n]


def _forget() -> None:
    global _pool, _at
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_forget)
