"""Past editions as the operator reviews them: `digest editions` and `digest editions show`.

Read from the store (`digest.store.history`): the editions, the stats stored with each, and
their delivery ledger counted by status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from digest.store.history import Delivery, StoredEdition, stored_edition, stored_editions, undelivered
from digest.store.ledger import OUTBOX, SENT

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
class EditionDetail:
    summary: EditionSummary
    failed_sources: list[dict[str, str]]  # source, location, error
    sources: int | None
    # Ledger rows that did not end in delivery (deferred, failed, bounced, still pending, …).
    problems: list[Delivery] = field(default_factory=list)

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


def _summary(edition: StoredEdition) -> EditionSummary:
    stats = edition.stats
    timings = stats.get("timings") or {}
    return EditionSummary(
        id=edition.id, title=edition.title, status=edition.status, created=edition.created,
        stories=stats.get("articles_in_window"), regions=dict(stats.get("regions") or {}),
        deliveries=dict(sorted(edition.deliveries.items())), held_reasons=held_reasons(stats),
        run_seconds=round(sum(timings.values()), 1) if timings else None)


def list_editions(engine: Engine, limit: int | None = None) -> list[EditionSummary]:
    """Editions, newest first."""
    return [_summary(edition) for edition in stored_editions(engine, limit)]


def edition_detail(engine: Engine, edition_id: str) -> EditionDetail:
    """One edition with its failed sources and the ledger rows that were not delivered."""
    edition = stored_edition(engine, edition_id)
    stats = edition.stats
    return EditionDetail(_summary(edition), list(stats.get("errors") or []), stats.get("sources"),
                         undelivered(engine, edition_id, DELIVERED))
