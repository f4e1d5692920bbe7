"""Subscriber rows: who is stored, with which choices and status, and every change to them.

Each function is one transaction and returns plain data (`SubscriberRecord`), never a row
bound to a session. Addresses arrive canonical (`digest.subscribers.normalize_email` is the
caller's); the rules kept here are those of the rows themselves: every status change stamps
its time, and an import never brings back someone who unsubscribed or bounced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.models import Subscriber, SubscriberStatus
from digest.store.schema import DeliveryRow, SubscriberRow


@dataclass(frozen=True)
class Choices:
    """What someone asked for (on the subscribe form, or in an import): it applies once they confirm."""

    name: str | None
    regions: list[str] | None  # None: every region


@dataclass(frozen=True)
class SubscriberRecord:
    """One subscriber as stored. Times are as the database returns them (SQLite keeps no offset)."""

    id: int
    email: str
    name: str | None
    regions: list[str] | None  # sorted; None: every region
    status: str  # a SubscriberStatus
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    paused_at: datetime | None  # pausing keeps an active subscription but skips deliveries
    bounced_at: datetime | None

    def as_subscriber(self) -> Subscriber:
        """The subscriber as delivery and the links know them."""
        return Subscriber(email=self.email, name=self.name, id=self.id,
                          regions=frozenset(self.regions) if self.regions else None)


def _record(row: SubscriberRow) -> SubscriberRecord:
    return SubscriberRecord(row.id, row.email, row.name, row.regions, row.status, row.created_at,
                            row.updated_at, row.confirmed_at, row.unsubscribed_at, row.paused_at, row.bounced_at)


def _regions(value: Iterable[str] | None) -> list[str] | None:
    """Stored form of a region choice: a sorted list, or None for every region."""
    if value is None:
        return None
    chosen = sorted({r.strip() for r in value if r and r.strip()})
    return chosen or None


def _now() -> datetime:
    return datetime.now(UTC)


def _by_address(session: Session, address: str) -> SubscriberRow | None:
    return session.scalar(select(SubscriberRow).where(SubscriberRow.email == address))


def find_subscriber(engine: Engine, address: str) -> SubscriberRecord | None:
    """The subscriber with this (canonical) address, or None."""
    with Session(engine) as session:
        row = _by_address(session, address)
        return _record(row) if row is not None else None


def get_subscriber(engine: Engine, subscriber_id: int) -> SubscriberRecord | None:
    with Session(engine) as session:
        row = session.get(SubscriberRow, subscriber_id)
        return _record(row) if row is not None else None


def list_subscribers(engine: Engine, status: SubscriberStatus | None = None, *,
                     paused: bool | None = None) -> list[SubscriberRecord]:
    """Subscribers in id order, of `status` if given; `paused` False leaves out the paused ones."""
    query = select(SubscriberRow).order_by(SubscriberRow.id)
    if status:
        query = query.where(SubscriberRow.status == status)
    if paused is not None:
        query = query.where(SubscriberRow.paused_at.is_not(None) if paused else SubscriberRow.paused_at.is_(None))
    with Session(engine) as session:
        return [_record(row) for row in session.scalars(query)]


def _upsert(session: Session, address: str, name: str | None, regions: Iterable[str] | None,
            status: SubscriberStatus, update_existing: bool) -> tuple[SubscriberRow, bool]:
    now = _now()
    row = _by_address(session, address)
    if row is None:
        row = SubscriberRow(email=address, name=name, regions=_regions(regions), status=status,
                            created_at=now, updated_at=now,
                            confirmed_at=now if status == SubscriberStatus.ACTIVE else None)
        session.add(row)
        session.flush()
        return row, True
    changed = False
    if update_existing and (row.name != name or row.regions != _regions(regions)):
        row.name, row.regions, changed = name, _regions(regions), True
    if row.status == SubscriberStatus.PENDING and status == SubscriberStatus.ACTIVE:
        row.status, row.confirmed_at, changed = SubscriberStatus.ACTIVE, now, True
    if changed:
        row.updated_at = now
    return row, False


def add_subscribers(engine: Engine, rows: Iterable[tuple[str, str | None, Iterable[str] | None]], *,
                    status: SubscriberStatus = SubscriberStatus.ACTIVE,
                    update_existing: bool = False) -> list[tuple[SubscriberRecord, bool]]:
    """Insert each (address, name, regions), or find the existing one: (record, created) each,
    in one transaction.

    New rows get `status`. An existing row keeps its status unless it is pending and `status`
    is active (the operator vouches for it); someone who unsubscribed or bounced is never
    brought back here. With `update_existing`, name and regions are overwritten (an explicit
    operator edit).
    """
    with Session(engine) as session, session.begin():
        found = [_upsert(session, address, name, regions, status, update_existing)
                 for address, name, regions in rows]
        return [(_record(row), created) for row, created in found]


def _set_status(row: SubscriberRow, status: SubscriberStatus, now: datetime) -> None:
    if row.status == status:
        return
    row.status, row.updated_at = status, now
    if status == SubscriberStatus.ACTIVE:
        row.confirmed_at = now
    elif status == SubscriberStatus.UNSUBSCRIBED:
        row.unsubscribed_at = now
    elif status == SubscriberStatus.BOUNCED:
        row.bounced_at = now


def _set_preferences(row: SubscriberRow, regions: Iterable[str] | None, paused: bool, now: datetime) -> None:
    row.regions = _regions(regions)
    if paused and row.paused_at is None:
        row.paused_at = now
    elif not paused:
        row.paused_at = None
    row.updated_at = now


def set_subscriber_status(engine: Engine, subscriber_id: int, status: SubscriberStatus) -> SubscriberRecord | None:
    """Move a subscriber to `status`, stamping the time of the change; None if they are gone."""
    with Session(engine) as session, session.begin():
        row = session.get(SubscriberRow, subscriber_id)
        if row is None:
            return None
        _set_status(row, SubscriberStatus(status), _now())
        return _record(row)


def set_preferences(engine: Engine, subscriber_id: int, regions: Iterable[str] | None, paused: bool, *,
                    resubscribe: bool = False) -> SubscriberRecord | None:
    """Store a subscriber's regions and whether they pause; with `resubscribe`, someone who
    unsubscribed is active again. None if they are gone."""
    now = _now()
    with Session(engine) as session, session.begin():
        row = session.get(SubscriberRow, subscriber_id)
        if row is None:
            return None
        _set_preferences(row, regions, paused, now)
        if resubscribe and row.status == SubscriberStatus.UNSUBSCRIBED:
            _set_status(row, SubscriberStatus.ACTIVE, now)
        return _record(row)


@dataclass(frozen=True)
class Confirmation:
    """A subscriber after following a confirmation link, and whether this request made them
    active (only that one welcomes them)."""

    record: SubscriberRecord
    newly: bool


def confirm_subscriber(engine: Engine, subscriber_id: int, choices: Choices | None) -> Confirmation | None:
    """Make a subscriber active, unpaused, with `choices` (None: keep the stored ones; a choice
    without a name keeps the stored name). An active one is left as it is: by then the
    preferences page is where choices change. None if they are gone.

    The move to active is one UPDATE on a status other than active, so of two confirmations at
    the same time (two clicks, two requests) exactly one changes the row and is `newly`: the
    other waits for its row lock (SQLite: the write lock) and then finds it active.
    """
    now = _now()
    values: dict[str, object] = dict(status=SubscriberStatus.ACTIVE, confirmed_at=now, paused_at=None,
                                     updated_at=now)
    if choices is not None:
        values["regions"] = _regions(choices.regions)
        if choices.name:
            values["name"] = choices.name
    with Session(engine) as session, session.begin():
        changed = session.execute(
            update(SubscriberRow)
            .where(SubscriberRow.id == subscriber_id, SubscriberRow.status != SubscriberStatus.ACTIVE)
            .values(**values).execution_options(synchronize_session=False)).rowcount
        row = session.get(SubscriberRow, subscriber_id)
        return Confirmation(_record(row), newly=changed == 1) if row is not None else None


def reactivate_subscriber(engine: Engine, subscriber_id: int) -> SubscriberRecord | None:
    """Make a bounced subscriber active again: confirmed now, so earlier bounces stop counting
    towards the bounce policy. Any other status is left as it is. None if they are gone."""
    with Session(engine) as session, session.begin():
        row = session.get(SubscriberRow, subscriber_id)
        if row is None:
            return None
        if row.status == SubscriberStatus.BOUNCED:
            _set_status(row, SubscriberStatus.ACTIVE, _now())
            row.bounced_at = None
        return _record(row)


def forget_subscriber(engine: Engine, address: str) -> bool:
    """Delete an address and its delivery history; False if it is not stored."""
    with Session(engine) as session, session.begin():
        row = _by_address(session, address)
        if row is None:
            return False
        session.execute(delete(DeliveryRow).where(DeliveryRow.subscriber_id == row.id))
        session.delete(row)
        return True
