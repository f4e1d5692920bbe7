"""The delivery ledger: one row per (edition, subscriber), claimed before its message is sent.

A row moves pending → sending → sent | failed | bounced | deferred. The move to `sending` is
one conditional UPDATE on the status and owner the run last saw (compare and set), so when
two runs of one edition overlap exactly one of them wins each row, on SQLite and PostgreSQL
alike. The claim names its owner (host:pid:token) and holds until `lease_until`; a run
meeting a row `sending` for someone else leaves it alone unless the lease has run out or,
on the same host, the owner's process is gone (it crashed).

A sender claims a batch of rows (`smtp.batch`, one transaction) just before it sends them
and records their outcomes before the connection starts its next batch, so after a crash the
only rows left `sending` are those of the batches under way: at most `batch` per connection
(one, with `batch = 1` or a rate limit). Whether the server accepted those is unknown (RFC
1047); the next run sends them again with the same Message-ID and counts them as
`uncertain`. That is the only duplicate there can be.

`deferred`, `pending` and `outbox` rows are sent by the next run; `failed` ones (a refusal
of the message) only when asked (`retry_failed`); `bounced` ones (the server said the
address does not exist) only when asked and the subscriber is active again.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Update, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine

from digest.errors import DigestError
from digest.models import DeliveryStatus, EditionStatus, SubscriberStatus
from digest.store.schema import DeliveryRow, EditionRow, SubscriberRow, as_utc

# Short names for the statuses, which the delivery modules import from here.
PENDING, OUTBOX, SENDING, SENT, DEFERRED, FAILED, BOUNCED = (
    DeliveryStatus.PENDING, DeliveryStatus.OUTBOX, DeliveryStatus.SENDING, DeliveryStatus.SENT,
    DeliveryStatus.DEFERRED, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)
# Rows in these states are done: a rerun does not send them again (unless asked to, see above).
FINAL = frozenset({SENT, FAILED, BOUNCED})
# Rows in these states still owe someone a message.
UNFINISHED = frozenset({PENDING, OUTBOX, SENDING, DEFERRED})

deliveries = DeliveryRow.__table__
editions = EditionRow.__table__
subscribers_table = SubscriberRow.__table__

HOST = socket.gethostname()


class LedgerError(DigestError, RuntimeError):
    """The ledger cannot be used (unsupported database)."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_owner() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_gone(owner: str | None) -> bool:
    """Whether the process that made a claim has ended: knowable only on the same host."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    if host != HOST:
        return False
    try:
        pid = int(rest.partition(":")[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def insert_ignoring_duplicates(conn: Connection, table, rows: list[dict]) -> None:  # noqa: ANN001
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        raise LedgerError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def ensure_edition(conn: Connection, edition_id: str) -> None:
    """A minimal edition row (id, title = id, times = now) if the caller has not stored one."""
    now = _now()
    insert_ignoring_duplicates(conn, editions, [dict(
        id=edition_id, title=edition_id, created=now, since=now, until=now, status="built",
        stats={})])


def ledger_rows(conn: Connection, edition_id: str, subscriber_ids: Sequence[int]) -> dict[int, Entry]:
    """The ledger row of each subscriber id, creating missing ones as pending."""
    now = _now()
    insert_ignoring_duplicates(conn, deliveries, [
        dict(edition_id=edition_id, subscriber_id=sid, status=PENDING, attempts=0, updated_at=now)
        for sid in subscriber_ids])
    found = conn.execute(
        select(deliveries.c.subscriber_id, deliveries.c.id, deliveries.c.status, deliveries.c.owner,
               deliveries.c.lease_until, subscribers_table.c.status)
        .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id)
        .where(deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id.in_(subscriber_ids)))
    return {sid: Entry(did, status, owner, as_utc(lease), sub_status)
            for sid, did, status, owner, lease, sub_status in found}


def ledger_counts(engine: Engine, edition_id: str) -> dict[str, int]:
    """How many ledger rows of an edition are in each state."""
    return editions_ledger_counts(engine, [edition_id]).get(edition_id, {})


def editions_ledger_counts(engine: Engine, edition_ids: Collection[str]) -> dict[str, dict[str, int]]:
    """`ledger_counts` of each of the editions that has ledger rows."""
    query = (select(deliveries.c.edition_id, deliveries.c.status, func.count())
             .where(deliveries.c.edition_id.in_(edition_ids)).group_by(deliveries.c.edition_id, deliveries.c.status))
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for edition, status, count in conn.execute(query):
            counts.setdefault(edition, {})[status] = count
    return counts


def ledger_subscriber_ids(engine: Engine, edition_id: str) -> set[int]:
    """Who an edition was meant for: the subscribers with a ledger row for it."""
    with engine.connect() as conn:
        return set(conn.scalars(select(deliveries.c.subscriber_id).where(deliveries.c.edition_id == edition_id)))


def edition_status(counts: Mapping[str, int]) -> str:
    """sent (nothing left to send), partial (some sent, some not yet) or deferred (none sent)."""
    if not any(counts.get(s, 0) for s in UNFINISHED):
        return EditionStatus.SENT
    return EditionStatus.PARTIAL if counts.get(SENT, 0) else EditionStatus.DEFERRED


def unfinished_editions(engine: Engine, before: str | None = None, since: str | None = None) -> list[str]:
    """Editions (oldest first) whose delivery stopped short: status partial or deferred."""
    query = select(editions.c.id).where(editions.c.status.in_((EditionStatus.PARTIAL, EditionStatus.DEFERRED)))
    if before is not None:
        query = query.where(editions.c.id < before)
    if since is not None:
        query = query.where(editions.c.id >= since)
    with engine.connect() as conn:
        return sorted(conn.scalars(query))


@dataclass(frozen=True)
class Entry:
    """A ledger row as read: what the run may do with it depends on status, owner and lease."""

    delivery_id: int
    status: str
    owner: str | None
    lease_until: datetime | None
    subscriber_status: str

    def stale(self, now: datetime) -> bool:
        """A `sending` row whose claimant is gone or whose lease has run out."""
        return self.status == SENDING and (
            self.lease_until is None or self.lease_until < now or owner_is_gone(self.owner))


@dataclass
class Claim:
    """A row this run means to send: the status and owner it last saw or wrote (for the CAS)."""

    delivery_id: int
    subscriber_id: int
    status: str
    owner: str | None
    uncertain: bool = False  # left `sending` by a run that is gone: the server may have it


@dataclass(frozen=True)
class Outcome:
    """What one try of a claimed row came to, as the ledger records it."""

    claim: Claim
    status: str  # SENT, OUTBOX, FAILED, BOUNCED, DEFERRED, or PENDING (released for a retry)
    error: str | None
    message_id: str
    tried: bool = True  # False for a claimed row released unsent (the run stopped): no attempt


class _Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor, its values
    passed through the column types' bind processors as SQLAlchemy would: SQLAlchemy's
    execution path costs about 35 µs a statement, several times what SQLite takes to run one
    of these, and the ledger runs two per message."""

    def __init__(self, statement: Update) -> None:
        self.statement = statement
        self.forms: dict[tuple, tuple[str, list[tuple[str, object, Callable | None]], bool]] = {}

    def _form(self, dialect: Dialect) -> tuple[str, list[tuple[str, object, Callable | None]], bool]:
        key = (type(dialect), dialect.paramstyle)
        form = self.forms.get(key)
        if form is None:
            compiled = self.statement.compile(dialect=dialect)
            names = compiled.positiontup if compiled.positional else list(compiled.bind_names.values())
            binds = [(name, compiled.binds[name].value,
                      compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                     for name in names]
            form = self.forms[key] = (compiled.string, binds, compiled.positional)
        return form

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, object]], **shared: object) -> int:
        """Run the statement once per row (in the caller's transaction); the rows changed.
        `shared` values are the same in every row: each is converted once."""
        sql, binds, positional = self._form(conn.dialect)
        values = [shared.get(name, default) for name, default, _ in binds]
        varying = []
        for i, (name, _, process) in enumerate(binds):
            if name in rows[0]:
                varying.append((i, name, process))
            elif process is not None:
                values[i] = process(values[i])
        params: list[tuple | dict] = []
        for row in rows:
            for i, name, process in varying:
                values[i] = row[name] if process is None else process(row[name])
            params.append(tuple(values) if positional else dict(zip([b[0] for b in binds], values, strict=True)))
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            if len(params) == 1:
                cursor.execute(sql, params[0])
            else:
                cursor.executemany(sql, params)
            return cursor.rowcount
        finally:
            cursor.close()


def _compare_and_set(**values) -> dict[bool, _Prepared]:  # noqa: ANN003
    """An UPDATE of a row that applies only while its status and owner are as last seen; built
    once (by whether the owner seen is NULL), as constructing statements per batch costs more
    than running them."""
    statements = {}
    for unowned in (False, True):
        owner = deliveries.c.owner.is_(None) if unowned else deliveries.c.owner == bindparam("b_seen_owner")
        statements[unowned] = _Prepared(update(deliveries).where(
            deliveries.c.id == bindparam("b_id"), deliveries.c.status == bindparam("b_seen"), owner,
        ).values(**values))
    return statements


_CLAIM = _compare_and_set(status=SENDING, owner=bindparam("b_owner"), lease_until=bindparam("b_lease"),
                          message_id=bindparam("b_msgid"), updated_at=bindparam("b_now"))
_RECORD = _compare_and_set(status=bindparam("b_status"), attempts=deliveries.c.attempts + bindparam("b_tried"),
                           last_error=bindparam("b_error"), message_id=bindparam("b_msgid"),
                           owner=bindparam("b_owner"), lease_until=None, updated_at=bindparam("b_now"))

_WON = select(deliveries.c.id).where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)),
                                     deliveries.c.status == SENDING, deliveries.c.owner == bindparam("b_owner"))


class Ledger:
    """The ledger of one edition, as one run (one owner) sees it."""

    def __init__(self, engine: Engine, edition_id: str, *, lease_seconds: float,
                 bounce_after: int = 1, owner: str | None = None) -> None:
        self.engine = engine
        self.edition_id = edition_id
        self.lease = timedelta(seconds=lease_seconds)
        self.bounce_after = bounce_after
        self.owner = owner or new_owner()
        # SQLite has one writer at a time, and a connection that finds the write lock taken
        # sleeps 1 ms or more before it tries again (its busy handler): the run's own senders
        # take turns here instead, which wakes the next one as soon as the lock is free.
        self.writing = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

    def prepare(self) -> None:
        with self.engine.begin() as conn:
            ensure_edition(conn, self.edition_id)

    def entries(self, subscriber_ids: Sequence[int]) -> dict[int, Entry]:
        with self.writing, self.engine.begin() as conn:
            return ledger_rows(conn, self.edition_id, subscriber_ids)

    def commit(self, done: Sequence[Outcome] = (), claims: Sequence[tuple[Claim, str]] = (),
               confirm: Iterable[Outcome] = ()) -> tuple[set[int], list[int]]:
        """In one transaction: record outcomes, confirm provisional refusals, then claim rows.

        `claims` are (claim, Message-ID) pairs; each is a compare and set on the status and owner
        the run last saw, as one statement executed for the whole batch, so a batch costs one
        commit rather than one per message. Returns the delivery ids of the claims won and the
        ids of subscribers newly marked bounced. A sender commits through its own
        `LedgerSession` instead (`session()`).
        """
        with self.engine.connect() as conn:
            return self._commit(conn, done, claims, confirm)

    def session(self) -> LedgerSession:
        """A store connection of one sender's own, for its commits: a pool checkout per commit
        costs about as much as the commit."""
        return LedgerSession(self, self.engine.connect())

    def _commit(self, conn: Connection, done: Sequence[Outcome], claims: Sequence[tuple[Claim, str]],
                confirm: Iterable[Outcome]) -> tuple[set[int], list[int]]:
        now = _now()
        confirmed = list(confirm)
        with self.writing, conn.begin():
            self._record(conn, done, now)
            if confirmed:
                conn.execute(update(deliveries).where(
                    deliveries.c.id == bindparam("b_id"), deliveries.c.status == DEFERRED,
                    deliveries.c.owner == self.owner).values(status=bindparam("b_status"), updated_at=now),
                    [dict(b_id=o.claim.delivery_id, b_status=o.status) for o in confirmed])
            bounced = [o.claim.subscriber_id for o in [*done, *confirmed] if o.status == BOUNCED]
            newly = self._apply_bounce_policy(conn, bounced, now) if bounced else []
            won = self._claim(conn, claims, now) if claims else set()
        for outcome in done:
            outcome.claim.status, outcome.claim.owner = outcome.status, self.owner
        for claim, _ in claims:
            if claim.delivery_id in won:
                claim.status, claim.owner = SENDING, self.owner
        return won, newly

    def step(self, done: Outcome | None = None, claim: Claim | None = None, message_id: str = "",
             confirm: Iterable[Outcome] = ()) -> tuple[bool, list[int]]:
        """`commit` for at most one outcome and one claim: whether the claim was won, and who
        was newly marked bounced."""
        won, newly = self.commit([done] if done else [], [(claim, message_id)] if claim else [], confirm)
        return claim is not None and claim.delivery_id in won, newly

    def _claim(self, conn: Connection, claims: Sequence[tuple[Claim, str]], now: datetime) -> set[int]:
        changed = 0
        for unowned in (False, True):
            batch = [dict(b_id=c.delivery_id, b_seen=c.status, b_seen_owner=c.owner, b_msgid=message_id)
                     for c, message_id in claims if (c.owner is None) == unowned]
            if batch:
                changed += _CLAIM[unowned].execute(conn, batch, b_owner=self.owner, b_lease=now + self.lease,
                                                   b_now=now)
        ids = [c.delivery_id for c, _ in claims]
        dialect = conn.dialect
        if changed == len(ids) and dialect.supports_sane_rowcount and dialect.supports_sane_multi_rowcount:
            # Each compare and set changes at most its own row (by id), so every claim was won:
            # no need to read them back (that read was half the cost of a claim).
            return set(ids)
        # Won are the rows now `sending` for this run: the owner names the run (host, pid, token),
        # and a run holds no claim on the rows of a batch it is claiming.
        return set(conn.scalars(_WON, dict(b_ids=ids, b_owner=self.owner)))

    def _record(self, conn: Connection, done: Sequence[Outcome], now: datetime) -> None:
        for unowned in (False, True):
            batch = [dict(b_id=o.claim.delivery_id, b_seen=o.claim.status, b_seen_owner=o.claim.owner,
                          b_status=o.status, b_error=o.error, b_msgid=o.message_id, b_tried=int(o.tried))
                     for o in done if (o.claim.owner is None) == unowned]
            if batch:
                _RECORD[unowned].execute(conn, batch, b_owner=self.owner, b_now=now)

    def _apply_bounce_policy(self, conn: Connection, subscriber_ids: list[int], now: datetime) -> list[int]:
        """Mark bounced who has `bounce_after` bounced rows since they were (re)activated."""
        if self.bounce_after <= 0:
            return []
        since = or_(subscribers_table.c.confirmed_at.is_(None),
                    deliveries.c.updated_at >= subscribers_table.c.confirmed_at)
        counts = dict(conn.execute(
            select(deliveries.c.subscriber_id, func.count())
            .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.subscriber_id.in_(subscriber_ids), deliveries.c.status == BOUNCED,
                   subscribers_table.c.status == SubscriberStatus.ACTIVE, since)
            .group_by(deliveries.c.subscriber_id)).all())
        over = [sid for sid in subscriber_ids if counts.get(sid, 0) >= self.bounce_after]
        if not over:
            return []
        conn.execute(update(subscribers_table)
                     .where(subscribers_table.c.id.in_(over), subscribers_table.c.status == SubscriberStatus.ACTIVE)
                     .values(status=SubscriberStatus.BOUNCED, bounced_at=now, updated_at=now))
        return over


@dataclass
class LedgerSession:
    """One sender's commits to a `Ledger`, on a store connection of its own; close it when done."""

    ledger: Ledger
    conn: Connection

    def commit(self, done: Sequence[Outcome] = (), claims: Sequence[tuple[Claim, str]] = (),
               confirm: Iterable[Outcome] = ()) -> tuple[set[int], list[int]]:
        """`Ledger.commit`, on this session's connection."""
        return self.ledger._commit(self.conn, done, claims, confirm)

    def close(self) -> None:
        self.conn.close()
