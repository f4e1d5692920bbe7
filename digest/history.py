"""Past editions as the operator reviews them: `digest editions` and `digest editions show`.

Read from the store: the editions table, the stats stored with each edition, and the delivery
ledger. The ledger is read as counts grouped by status, so a status added later simply shows up
as one more count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.store.ledger import OUTBOX, SENT
from digest.store import DeliveryRow, EditionRow, SubscriberRow

# Ledger states that need no further look: the message went out (or into the outbox).
DELIVERED = frozenset({SENT, OUTBOX})


@dataclass(frozen=True)
class EditionSummary:
    id: str
    title: str
    status: str  # built | held | sent
    created: datetime
    stories: int | None  # after folding copies; None for an edition that never finished
    regions: dict[str, int]  # stories per region, in section order (empty for older editions)
    deliveries: dict[str, int]  # ledger rows per status
    held_reasons: list[str]
    run_seconds: float | None

    @property
    def subscribers(self) -> int:
        """Subscribers the edition was addressed to: one ledger row each."""
        return sum(self.deliveries.values())

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "created": self.created.isoformat(), "subscribers": self.subscribers}


@dataclass(frozen=True)
class Outcome:
    email: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class EditionDetail:
    summary: EditionSummary
    failed_sources: list[dict[str, str]]  # source, location, error
    sources: int | None
    # Ledger rows that did not end in delivery (deferred, failed, bounced, still pending, …).
    problems: list[Outcome] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**self.summary.as_json(), "sources": self.sources, "failed_sources": self.failed_sources,
                "problems": [{**asdict(o), "updated_at": o.updated_at.isoformat() if o.updated_at else None}
                             for o in self.problems]}


def held_reasons(stats: dict[str, Any]) -> list[str]:
    """The quality checks an edition failed, as stored with it."""
    reasons = []
    for check in stats.get("quality", []):
        if not check.get("passed", True):
            detail = check.get("detail") or f"{check.get('value', 0):g}"
            reasons.append(f"{check['check']}: {detail} (limit {check.get('limit', 0):g})")
    return reasons


def _summary(row: EditionRow, deliveries: dict[str, int]) -> EditionSummary:
    stats = row.stats or {}
    timings = stats.get("timings") or {}
    return EditionSummary(
        id=row.id, title=row.title, status=row.status,
        # SQLite keeps no offset; the store writes UTC.
        created=row.created if row.created.tzinfo else row.created.replace(tzinfo=UTC),
        stories=stats.get("articles_in_window"), regions=dict(stats.get("regions") or {}),
        deliveries=dict(sorted(deliveries.items())), held_reasons=held_reasons(stats),
        run_seconds=round(sum(timings.values()), 1) if timings else None)


def _ledger_counts(session: Session, edition_id: str | None = None) -> dict[str, dict[str, int]]:
    query = select(DeliveryRow.edition_id, DeliveryRow.status, func.count()).group_by(
        DeliveryRow.edition_id, DeliveryRow.status)
    if edition_id is not None:
        query = query.where(DeliveryRow.edition_id == edition_id)
    counts: dict[str, dict[str, int]] = {}
    for edition, status, count in session.execute(query):
        counts.setdefault(edition, {})[status] = count
    return counts


def list_editions(engine: Engine, limit: int | None = None) -> list[EditionSummary]:
    """Editions, newest first."""
    with Session(engine) as session:
        counts = _ledger_counts(session)
        rows = session.scalars(select(EditionRow).order_by(EditionRow.id.desc()).limit(limit))
        return [_summary(row, counts.get(row.id, {})) for row in rows]


def edition_detail(engine: Engine, edition_id: str) -> EditionDetail:
    """One edition with its failed sources and the ledger rows that were not delivered."""
    with Session(engine) as session:
        row = session.get(EditionRow, edition_id)
        if row is None:
            known = list(session.scalars(select(EditionRow.id).order_by(EditionRow.id.desc()).limit(5)))
            raise LookupError(f"no edition {edition_id!r} in the store"
                              + (f" (latest: {', '.join(known)})" if known else " (it has none yet)"))
        summary = _summary(row, _ledger_counts(session, edition_id).get(edition_id, {}))
        problems = [
            Outcome(email, status, attempts or 0, last_error, updated_at)
            for email, status, attempts, last_error, updated_at in session.execute(
                select(SubscriberRow.email, DeliveryRow.status, DeliveryRow.attempts,
                       DeliveryRow.last_error, DeliveryRow.updated_at)
                .join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id)
                .where(DeliveryRow.edition_id == edition_id, DeliveryRow.status.not_in(DELIVERED))
                .order_by(DeliveryRow.status, SubscriberRow.email))
        ]
        stats = row.stats or {}
        return EditionDetail(summary, list(stats.get("errors") or []), stats.get("sources"), problems)
