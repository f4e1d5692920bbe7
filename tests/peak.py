"""How many callers are inside a block at once, for tests of concurrency limits."""

from __future__ import annotations

import threading


class Peak:
    """A context manager counting the callers inside it now (`now`) and the most at once (`most`)."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Peak:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1
