"""Which upload names are in use right now, across every session of one gateway.

One county may run several sessions at once (WinSCP opens two, a script retries while
the first is still alive). Without one registry for all of them, a second session could
write into a file the first one is writing, or into one that was just delivered: both
are corrupt packages that look whole. Every change to a name in ``.partial`` (a session
opening it for write, a delivery, a rename, the quiet-time sweep) claims the name here
first, and gives up if someone else holds it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class Writers:
    """Names claimed per account; a claim is all-or-nothing over the names it asks for."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._held: dict[tuple[str, str], object] = {}

    def claim(self, account: str, names: Iterable[str], owner: object, wait: float = 0.0) -> bool:
        """Hold every name for ``owner``, waiting up to ``wait`` seconds for them to be free.

        The wait covers a client that reconnects right after its line dropped: the
        gateway closes the old session's handle a moment later, and the new session
        should then get the name rather than a refusal.
        """
        keys = [(account, n) for n in names]
        deadline = time.monotonic() + wait
        with self._lock:
            while any(k in self._held for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            for k in keys:
                self._held[k] = owner
            return True

    def release(self, account: str, names: Iterable[str], owner: object) -> None:
        with self._lock:
            for name in names:
                if self._held.get((account, name)) is owner:
                    del self._held[(account, name)]
            self._lock.notify_all()

    def busy(self, account: str, name: str) -> bool:
        with self._lock:
            return (account, name) in self._held

    @contextmanager
    def holding(self, account: str, names: Iterable[str]) -> Iterator[bool]:
        """``with writers.holding(acc, names) as ok:`` — ok is False when a name is in use."""
        names, owner = list(names), object()
        ok = self.claim(account, names, owner)
        try:
            yield ok
        finally:
            if ok:
                self.release(account, names, owner)
