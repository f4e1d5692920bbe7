"""Edition windows: which articles an edition takes, how it ended, and what readers already had."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.models import Article, EditionStatus
from digest.store.articles import article_from_row
from digest.store.schema import ArticleRow, EditionArticle, EditionRow, as_utc


def select_edition(engine: Engine, edition_id: str, edition_time: datetime, window_hours: float,
                   max_lookback_hours: float, *, title: str | None = None,
                   record: bool = True) -> tuple[list[Article], datetime, datetime]:
    """The edition's articles and its window (since, until].

    until is the edition time; since is the previous edition's until (no gap after a missed
    run), never further back than the look-back, or until - window_hours for a first edition.
    An article belongs when its time (published, else first seen) is in the window, or, after
    a previous edition, when it is older than the window but was first seen in it, within the
    look-back (a late arrival: a feed that lists a story hours after publishing it).
    Articles of earlier editions, and copies of their text, are left out. Membership is
    recorded, so building the same edition again gives the same articles, in the same order
    (newest first, then by URL). Copies of one story within the edition are all returned:
    folding them is the caller's (`digest.dedupe.deduplicate`), and the stable order makes
    a rebuild fold them the same way. With `record=False` (a preview or dry run) nothing is
    written, so a preview made before the edition time does not freeze the real edition.
    """
    until = as_utc(edition_time)
    lookback = timedelta(hours=max_lookback_hours)
    with Session(engine) as session, session.begin():
        row = session.get(EditionRow, edition_id)
        if row is not None:
            ids = select(EditionArticle.article_id).where(EditionArticle.edition_id == edition_id)
            chosen = [article_from_row(r) for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))]
            return _edition_order(chosen), as_utc(row.since), as_utc(row.until)
        earlier = [as_utc(u) for u in session.scalars(select(EditionRow.until)) if as_utc(u) < until]
        if earlier:
            since = max(max(earlier), until - lookback)
        else:
            since = until - timedelta(hours=window_hours)
        taken = select(EditionArticle.article_id)
        taken_hashes = set(session.scalars(select(ArticleRow.content_hash).where(ArticleRow.id.in_(taken))))
        candidates = session.scalars(select(ArticleRow).where(
            or_(ArticleRow.first_seen > since, ArticleRow.published > since), ArticleRow.id.not_in(taken)))
        chosen = []
        for r in candidates:
            when, seen = as_utc(r.published or r.first_seen), as_utc(r.first_seen)
            late = bool(earlier) and since < seen <= until and until - lookback < when <= since
            in_window = since < when <= until or late
            if in_window and r.content_hash not in taken_hashes:
                chosen.append(article_from_row(r))
        chosen = _edition_order(chosen)
        if record:
            session.add(EditionRow(id=edition_id, title=title or edition_id, created=datetime.now(UTC),
                                   since=since, until=until))
            session.flush()
            if chosen:  # one multi-row INSERT, not one ORM object (and its cascade) per article
                session.execute(insert(EditionArticle), [{"edition_id": edition_id, "article_id": a.id} for a in chosen])
    return chosen, since, until


def sent_articles(engine: Engine, after: datetime, before: datetime) -> list[tuple[str, Article]]:
    """(edition id, article) for every article of the editions sent with their end in
    (after, before], oldest edition first: the stories readers have already had."""
    with Session(engine) as session:
        rows = session.execute(
            select(EditionRow.id, ArticleRow)
            .join(EditionArticle, EditionArticle.edition_id == EditionRow.id)
            .join(ArticleRow, ArticleRow.id == EditionArticle.article_id)
            .where(EditionRow.status == EditionStatus.SENT,
                   EditionRow.until > as_utc(after), EditionRow.until <= as_utc(before))
            .order_by(EditionRow.until, ArticleRow.url))
        return [(edition_id, article_from_row(row)) for edition_id, row in rows]


def save_edition(engine: Engine, edition_id: str, *, status: str, html_path: str, stats: dict,
                 keep: Sequence[str] = ()) -> None:
    """Record how an edition (already selected with `record=True`) ended: built, held or sent.
    The stored stats named in `keep` stay as they were (a run that finishes an earlier
    edition's delivery collected nothing: the collection figures are the first run's)."""
    with Session(engine) as session, session.begin():
        row = session.get(EditionRow, edition_id)
        if row is None:
            raise LookupError(f"edition {edition_id} was never selected into the store")
        before = row.stats or {}
        row.status, row.html_path = status, html_path
        row.stats = stats | {key: before[key] for key in keep if key in before}


def _edition_order(articles: list[Article]) -> list[Article]:
    """Newest first, then by URL: a stable order, so a rebuild folds copies the same way."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(articles, key=lambda a: (-(a.published or a.first_seen or oldest).timestamp(), a.url))
