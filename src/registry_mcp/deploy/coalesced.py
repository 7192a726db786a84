"""Background work that runs once per burst: requests for the same key coalesce.

After the registry moves, serving switches at once and the rest of the reconcile (warm the
previous version, load Staging, unload what is no longer wanted) runs in the background. A
burst of moves of one model needs that reconcile once, after the last of them: each run
reads the registry and the backend afresh, so the run that starts after the last request
reconciles every move before it. ``Coalesced`` waits ``settle_s`` after a key's first
pending request, runs its job once for every request made meanwhile, and runs it again for
a request made while the job was running (that run may have read the registry too early).

One thread does the work, and only while something is pending; ``close`` runs what is
pending without its wait and returns once it is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

_log = logging.getLogger(__name__)


class Coalesced:
    """Runs ``job(key)`` on a background thread, once per burst of requests for ``key``."""

    def __init__(
        self, job: Callable[[str], None], *, settle_s: float, name: str = "coalesced"
    ) -> None:
        if settle_s < 0:
            raise ValueError(f"settle_s must be >= 0, got {settle_s}")
        self._job = job
        self._settle_s = settle_s
        self._name = name
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}  # key -> when its run starts (monotonic)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.runs = 0  # jobs started (for tests and benchmarks)

    def request(self, key: str) -> None:
        """Have ``job(key)`` run after ``settle_s`` (or with the run already pending)."""
        with self._cond:
            if self._closing:
                raise RuntimeError(f"{self._name} is closed; no more work is taken")
            self._due.setdefault(key, time.monotonic() + self._settle_s)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name)
                self._thread.start()
            self._cond.notify()

    def pending(self) -> list[str]:
        with self._cond:
            return sorted(self._due)

    def close(self) -> None:
        """Run what is pending now (no settling wait) and return when it is done."""
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join()

    def _next(self) -> str | None:
        """The next key to run, once due; None when nothing is pending (the thread ends)."""
        with self._cond:
            while self._due:
                key, due = min(self._due.items(), key=lambda item: item[1])
                wait = 0.0 if self._closing else due - time.monotonic()
                if wait <= 0:
                    del self._due[key]
                    self.runs += 1
                    return key
                self._cond.wait(wait)
            self._thread = None
            return None

    def _work(self) -> None:
        while (key := self._next()) is not None:
            try:
                self._job(key)
            except Exception:  # noqa: BLE001  (a failed run must not stop the ones after it)
                _log.exception("%s of %s failed", self._name, key)
