"""Past editions as stored: each edition's row with its ledger counted by status, and the
deliveries of one edition that did not end in a given set of statuses.

The ledger is read as counts grouped by status, so a status added later simply shows up as
one more count.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.store.ledger import editions_ledger_counts, ledger_counts
from digest.store.schema import DeliveryRow, EditionRow, SubscriberRow, as_utc


@dataclass(frozen=True)
class StoredEdition:
    id: str
    title: str
    status: str  # an EditionStatus
    created: datetime  # UTC
    stats: dict[str, Any]  # as the run stored them
    deliveries: dict[str, int]  # ledger rows per status


@dataclass(frozen=True)
class Delivery:
    """One ledger row of an edition, with the subscriber's address."""

    email: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime | None


def _stored(row: EditionRow, deliveries: dict[str, int]) -> StoredEdition:
    return StoredEdition(row.id, row.title, row.status, as_utc(row.created), row.stats or {}, deliveries)


def stored_editions(engine: Engine, limit: int | None = None) -> list[StoredEdition]:
    """Editions, newest first."""
    with Session(engine) as session:
        rows = list(session.scalars(select(EditionRow).order_by(EditionRow.id.desc()).limit(limit)))
    counts = editions_ledger_counts(engine, [row.id for row in rows])
    return [_stored(row, counts.get(row.id, {})) for row in rows]


def stored_edition(engine: Engine, edition_id: str) -> StoredEdition:
    """One edition; LookupError naming the latest ones when there is no such edition."""
    with Session(engine) as session:
        row = session.get(EditionRow, edition_id)
        if row is None:
            known = list(session.scalars(select(EditionRow.id).order_by(EditionRow.id.desc()).limit(5)))
            raise LookupError(f"no edition {edition_id!r} in the store"
                              + (f" (latest: {', '.join(known)})" if known else " (it has none yet)"))
    return _stored(row, ledger_counts(engine, edition_id))


def undelivered(engine: Engine, edition_id: str, delivered: Collection[str]) -> list[Delivery]:
    """The edition's ledger rows whose status is not one of `delivered`, by status, then address."""
    with Session(engine) as session:
        rows = session.execute(
            select(SubscriberRow.email, DeliveryRow.status, DeliveryRow.attempts,
                   DeliveryRow.last_error, DeliveryRow.updated_at)
            .join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id)
            .where(DeliveryRow.edition_id == edition_id, DeliveryRow.status.not_in(delivered))
            .order_by(DeliveryRow.status, SubscriberRow.email))
        return [Delivery(email, status, attempts or 0, last_error, updated_at)
                for email, status, attempts, last_error, updated_at in rows]


def edition_created(engine: Engine, edition_id: str) -> datetime | None:
    """When the edition's run began (UTC), or None for an edition not yet selected."""
    with Session(engine) as session:
        return as_utc(session.scalar(select(EditionRow.created).where(EditionRow.id == edition_id)))
