"""The delivery loop's queue of messages waiting for a connection, and its rate limit."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass

from digest.store.ledger import Claim
from digest.transport import Envelope


@dataclass
class Job:
    """One message of the run, as the loop carries it until it reaches a final state."""

    claim: Claim
    envelope: Envelope
    tries: int = 0


class Jobs:
    """Messages waiting for a connection, retries not before their time.

    Bounded, so that a lazy iterable of messages is built only as fast as it is sent. The
    producer and the senders wait on separate conditions and each event wakes one waiter:
    waking every sender for every message costs more CPU than sending it to a fast server.
    """

    def __init__(self, capacity: int) -> None:
        lock = threading.Lock()
        self.has_room = threading.Condition(lock)  # the producer waits here
        self.has_work = threading.Condition(lock)  # the senders wait here
        self.heap: list[tuple[float, int, Job]] = []
        self.seq = itertools.count()
        self.open = 0  # jobs added and not finished
        self.capacity = capacity
        self.closed = False  # no more jobs will be added
        self.aborted = False

    def add(self, job: Job) -> bool:
        with self.has_room:
            while self.open >= self.capacity and not self.aborted:
                self.has_room.wait()
            if self.aborted:
                return False
            self.open += 1
            heapq.heappush(self.heap, (0.0, next(self.seq), job))
            self.has_work.notify()
            return True

    def retry(self, job: Job, delay: float) -> None:
        with self.has_work:
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.seq), job))
            self.has_work.notify()  # a sender waiting without a deadline learns of this one

    def finish(self) -> None:
        with self.has_room:
            self.open -= 1
            self.has_room.notify()
            if self.closed and self.open == 0:
                self.has_work.notify_all()

    def close(self) -> None:
        with self.has_work:
            self.closed = True
            self.has_work.notify_all()

    def abort(self) -> None:
        with self.has_work:
            self.aborted = True
            self.has_work.notify_all()
            self.has_room.notify_all()

    def take(self, most: int, wait: bool = True) -> list[Job]:
        """Up to `most` jobs that are due (not waiting to fill the batch); none when all are
        finished or the run is aborted (or, with `wait` false, when none is due right now)."""
        with self.has_work:
            while True:
                if self.aborted:
                    return []
                now = time.monotonic()
                due: list[Job] = []
                while self.heap and self.heap[0][0] <= now and len(due) < most:
                    due.append(heapq.heappop(self.heap)[2])
                if due or (self.closed and self.open == 0) or not wait:
                    return due
                self.has_work.wait(self.heap[0][0] - now if self.heap else None)


class RateLimit:
    """Spaces sends at most `per_second` apart across all connections."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)
