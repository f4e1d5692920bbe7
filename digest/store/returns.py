"""Returned mail in the ledger: the delivery a bounce report is about, and soft bounces counted.

A soft bounce turns a `sent` delivery `failed` with a `last_error` starting RETURNED; the
subscriber is marked bounced once enough of those fall within the counting window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine, Row

from digest.models import SubscriberStatus
from digest.store.ledger import BOUNCED, FAILED, SENT, deliveries, subscribers_table

RETURNED = "returned: "  # last_error prefix of a delivery a report says was not delivered


@dataclass(frozen=True)
class SoftBounce:
    count: int  # the subscriber's returned deliveries in the window, this one included
    bounced: bool  # this one made the subscriber bounced


def reported_delivery(engine: Engine, message_ids: Iterable[str], address: str | None) -> Row | None:
    """The delivery of ours a report is about: the message that went out with a Message-ID it
    quotes or, when it quotes none of ours (some MTAs return no headers), the latest edition
    that went out to the address it names; once that one is counted, the same report again
    finds it counted rather than an older one to count. The row has the delivery's id,
    edition_id, subscriber_id, status, owner and message_id, and the subscriber's email."""
    query = (select(deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id, deliveries.c.status,
                    deliveries.c.owner, deliveries.c.message_id, subscribers_table.c.email)
             .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id))
    ids = sorted(message_ids)
    with engine.connect() as conn:
        if ids:
            row = conn.execute(query.where(deliveries.c.message_id.in_(ids))
                               .order_by(deliveries.c.id.desc()).limit(1)).first()
            if row is not None:
                return row
        if not address:
            return None
        return conn.execute(query.where(subscribers_table.c.email == address,
                                        deliveries.c.status.in_((SENT, BOUNCED, FAILED)))
                            .order_by(deliveries.c.edition_id.desc()).limit(1)).first()


def record_soft_bounce(engine: Engine, delivery_id: int, subscriber_id: int, error: str, *, now: datetime,
                       since: datetime, bounce_after: int) -> SoftBounce | None:
    """Mark a sent delivery failed with `error` (starting RETURNED) and count the subscriber's
    returned deliveries updated since `since` and after they last confirmed; at `bounce_after`
    an active subscriber becomes bounced. None when the delivery was no longer `sent`: another
    run counted it first."""
    with engine.begin() as conn:
        changed = conn.execute(update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.status == SENT)
                               .values(status=FAILED, last_error=error, updated_at=now)).rowcount
        if not changed:
            return None
        count = conn.scalar(
            select(func.count()).select_from(deliveries)
            .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.subscriber_id == subscriber_id, deliveries.c.status == FAILED,
                   deliveries.c.last_error.startswith(RETURNED), deliveries.c.updated_at >= since,
                   or_(subscribers_table.c.confirmed_at.is_(None),
                       deliveries.c.updated_at >= subscribers_table.c.confirmed_at)))
        bounced = count >= bounce_after and conn.execute(
            update(subscribers_table).where(subscribers_table.c.id == subscriber_id,
                                            subscribers_table.c.status == SubscriberStatus.ACTIVE)
            .values(status=SubscriberStatus.BOUNCED, bounced_at=now, updated_at=now)).rowcount == 1
    return SoftBounce(count, bounced)
