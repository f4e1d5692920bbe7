"""The `digest-fetch` limit, taken by the flow run in one request.

Each collect task run used to take its own slot of the tag limit. On the temporary (SQLite)
Prefect API the task runs asked at the same moment, the server's slot update met "database is
locked", answered 503, and the client backed off for 2**n seconds: 2–4 s lost per run with the
slots free. The flow run now takes the slots it will use in one request and runs at most that
many collect tasks at once itself, so runs sharing the limit still never fetch more than it
allows, and no two requests race for it.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFuture, as_completed

FETCH_TAG = "digest-fetch"
# A tag limit is a global concurrency limit of this name on Prefect 3's API.
LIMIT_NAME = f"tag:{FETCH_TAG}"
# Renewed while the run holds the slots; a crashed run's slots come back this long after.
LEASE_SECONDS = 60

T = TypeVar("T")
R = TypeVar("R")


def ensure_fetch_limit(default: int) -> int:
    """The limit's size: the operator's if they set one, else created with `default` slots."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_concurrency_limit_by_tag(FETCH_TAG).concurrency_limit
        except ObjectNotFound:
            client.create_concurrency_limit(tag=FETCH_TAG, concurrency_limit=default)
            return default


@contextmanager
def fetch_slots(wanted: int, limit: int) -> Iterator[int]:
    """Hold `min(wanted, limit)` slots of the limit (at least one) while the block runs; yields
    how many. Waits, as task runs did, until that many are free at once."""
    slots = max(1, min(wanted, limit))
    run = FlowRunContext.get().flow_run
    with concurrency(LIMIT_NAME, occupy=slots, lease_duration=LEASE_SECONDS,
                     holder=ConcurrencyLeaseHolder(type="flow_run", id=run.id)):
        yield slots


def at_most(width: int, submit: Callable[[T], PrefectFuture[R]],
            items: Iterable[T]) -> Iterator[tuple[int, PrefectFuture[R]]]:
    """Submit the items, no more than `width` unfinished at once; yields (index, future) as
    each finishes."""
    queue = iter(enumerate(items))
    running: dict[PrefectFuture[R], int] = {}

    def top_up() -> None:
        while len(running) < width:
            nxt = next(queue, None)
            if nxt is None:
                return
            running[submit(nxt[1])] = nxt[0]

    top_up()
    while running:
        future = next(as_completed(list(running)))
        future.wait()
        index = running.pop(future)
        top_up()
        yield index, future
