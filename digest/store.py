"""Persistence: SQLAlchemy 2 models and the engine. SQLite by default, PostgreSQL by URL.

Table definitions live here so that every module (collection, subscribers, delivery,
the web app) shares one schema and one set of migrations.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from digest.models import Article, EditionStatus, SubscriberStatus


class Base(DeclarativeBase):
    pass


class SourceState(Base):
    """Per-source HTTP state for conditional GET, and the last outcome."""

    __tablename__ = "source_state"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_fetched: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)


class ArticleRow(Base):
    """Every article ever seen, keyed by canonical URL."""

    __tablename__ = "articles"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200))
    published: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    # zlib-compressed page as fetched, so any edition can be re-extracted later. Deferred: read
    # only when asked for, not with every article an edition selects (10,000 pages of 100 kB).
    raw_html: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)


class EditionRow(Base):
    __tablename__ = "editions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "2026-11-27"
    title: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # built | held | sent | partial (some messages still to send) | deferred (none sent yet)
    status: Mapped[str] = mapped_column(String(20), default=EditionStatus.BUILT)
    html_path: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict] = mapped_column(JSON, default=dict)


class EditionArticle(Base):
    __tablename__ = "edition_articles"
    edition_id: Mapped[str] = mapped_column(ForeignKey("editions.id"), primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id"), primary_key=True)


class SubscriberRow(Base):
    __tablename__ = "subscribers"
    # Ids are never reused, even after `forget` deletes the newest row: signed links name a
    # subscriber by id. Without this SQLite hands a deleted row's id to the next insert.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    regions: Mapped[list | None] = mapped_column(JSON)  # None: every region
    status: Mapped[str] = mapped_column(String(20), default=SubscriberStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Pausing keeps the subscription (status stays active) but skips deliveries until resumed.
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    bounced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """The delivery ledger: one row per (edition, subscriber)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("edition_id", "subscriber_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    edition_id: Mapped[str] = mapped_column(ForeignKey("editions.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    # pending | outbox (written to the outbox folder, not mailed) | sending (claimed by `owner`
    # until `lease_until`, see digest.ledger) | sent | deferred (not sent yet; a rerun retries)
    # | failed (5xx refusal of the message) | bounced (5xx refusal of the recipient)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str | None] = mapped_column(String(100))  # host:pid:token of the claiming run
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def make_engine(url: str, *, transactional_ddl: bool = False) -> Engine:
    """An engine for `url`; creates the SQLite file's folder and turns on WAL (synchronous=NORMAL) for it.

    `transactional_ddl` (for migrations): pysqlite opens transactions only before
    INSERT/UPDATE/DELETE, so a failed CREATE/DROP would stay half done; with it, every
    transaction starts with an explicit BEGIN. Not the default: a transaction that reads
    first and writes later would then fail at once, instead of waiting, when another
    connection wrote in between.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            if transactional_ddl:
                dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the
            # process being killed, only an OS crash or power loss can undo the last few. The
            # delivery ledger commits once per message (digest.ledger): a full fsync each time
            # cost 7x the wall time of the commit on this machine.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        if transactional_ddl:
            @event.listens_for(engine, "begin")
            def _sqlite_begin(conn):  # noqa: ANN001
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def open_store(url: str) -> Engine:
    """An engine on a database brought up to date by the Alembic migrations."""
    from digest.migrate import upgrade  # migrate imports this module's models

    upgrade(url)
    return make_engine(url)


# --- articles, source state and edition windows (owned by the collection helper) ---------
#
# Times are stored in UTC: SQLite keeps no offset, so every value is normalised on the way
# in and read back as UTC-aware.


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _article_from_row(row: ArticleRow) -> Article:
    return Article(url=row.url, title=row.title, text=row.text, source=row.source,
                   published=_utc(row.published), first_seen=_utc(row.first_seen),
                   author=row.author, language=row.language)


def record_articles(engine: Engine, articles: list[Article], now: datetime,
                    raw_html: Mapping[str, bytes] | None = None) -> list[Article]:
    """Remember every article (canonical URL, content hash, first-seen time, source).

    Returns the articles with `first_seen` as stored: the first run that saw an article
    keeps its time. A changed text updates the stored one; raw pages are kept compressed.
    """
    raw_html = raw_html or {}
    for _ in range(2):  # parallel collectors may insert the same URL at once: re-read and go on
        try:
            return _record_once(engine, articles, now, raw_html)
        except IntegrityError:
            continue
    return _record_once(engine, articles, now, raw_html)  # a third clash is an error


def _record_once(engine: Engine, articles: list[Article], now: datetime,
                 raw_html: Mapping[str, bytes]) -> list[Article]:
    with Session(engine) as session, session.begin():
        ids = list(dict.fromkeys(a.id for a in articles))
        rows: dict[str, ArticleRow] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows.update((r.id, r) for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(chunk))))
        out = []
        for article in articles:
            row = rows.get(article.id)
            page = raw_html.get(article.url)
            if row is None:
                row = ArticleRow(id=article.id, url=article.url, title=article.title, text=article.text,
                                 source=article.source, published=_utc(article.published),
                                 first_seen=_utc(article.first_seen or now), content_hash=article.content_hash,
                                 author=article.author, language=article.language,
                                 raw_html=zlib.compress(page, 6) if page else None)
                session.add(row)
                rows[article.id] = row
            else:
                if article.text and row.content_hash != article.content_hash:
                    row.text, row.title, row.content_hash = article.text, article.title, article.content_hash
                if article.published and row.published is None:
                    row.published = _utc(article.published)
                if page and row.raw_html is None:
                    row.raw_html = zlib.compress(page, 6)
            out.append(replace(article, first_seen=_utc(row.first_seen)))
    return out


def known_articles(engine: Engine, urls: list[str]) -> dict[str, Article]:
    """Stored articles by canonical URL, for the URLs given that the store already has."""
    found: dict = {}
    with Session(engine) as session:
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            for row in session.scalars(select(ArticleRow).where(ArticleRow.url.in_(chunk))):
                found[row.url] = _article_from_row(row)
    return found


def raw_page(engine: Engine, url: str) -> bytes | None:
    """The page as fetched for the article at `url` (decompressed), to re-extract it later."""
    with Session(engine) as session:
        data = session.scalar(select(ArticleRow.raw_html).where(ArticleRow.url == url))
    return zlib.decompress(data) if data else None


def get_source_state(engine: Engine, name: str, url: str) -> SourceState | None:
    """The conditional-GET state of a source, unless its URL has changed since."""
    with Session(engine, expire_on_commit=False) as session:
        state = session.get(SourceState, name)
    return state if state is not None and state.url == url else None


def save_source_state(engine: Engine, name: str, url: str, *, now: datetime, **fields: str | None) -> None:
    """Update a source's state: any of etag, last_modified, status, error."""
    columns = {"etag": "etag", "last_modified": "last_modified", "status": "last_status", "error": "last_error"}
    with Session(engine) as session, session.begin():
        state = session.get(SourceState, name)
        if state is None:
            state = SourceState(name=name, url=url)
            session.add(state)
        elif state.url != url:
            state.url, state.etag, state.last_modified = url, None, None
        for key, value in fields.items():
            setattr(state, columns[key], value)
        state.last_fetched = _utc(now)


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
    until = _utc(edition_time)
    lookback = timedelta(hours=max_lookback_hours)
    with Session(engine) as session, session.begin():
        row = session.get(EditionRow, edition_id)
        if row is not None:
            ids = select(EditionArticle.article_id).where(EditionArticle.edition_id == edition_id)
            chosen = [_article_from_row(r) for r in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(ids)))]
            return _edition_order(chosen), _utc(row.since), _utc(row.until)
        earlier = [_utc(u) for u in session.scalars(select(EditionRow.until)) if _utc(u) < until]
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
            when, seen = _utc(r.published or r.first_seen), _utc(r.first_seen)
            late = bool(earlier) and since < seen <= until and until - lookback < when <= since
            in_window = since < when <= until or late
            if in_window and r.content_hash not in taken_hashes:
                chosen.append(_article_from_row(r))
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
                   EditionRow.until > _utc(after), EditionRow.until <= _utc(before))
            .order_by(EditionRow.until, ArticleRow.url))
        return [(edition_id, _article_from_row(row)) for edition_id, row in rows]


def save_edition(engine: Engine, edition_id: str, *, status: str, html_path: str, stats: dict) -> None:
    """Record how an edition (already selected with `record=True`) ended: built, held or sent."""
    with Session(engine) as session, session.begin():
        row = session.get(EditionRow, edition_id)
        if row is None:
            raise LookupError(f"edition {edition_id} was never selected into the store")
        row.status, row.html_path, row.stats = status, html_path, stats


def _edition_order(articles: list[Article]) -> list[Article]:
    """Newest first, then by URL: a stable order, so a rebuild folds copies the same way."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(articles, key=lambda a: (-(a.published or a.first_seen or oldest).timestamp(), a.url))


# --- the public archive (owned by the web helper) -----------------------------------------


@dataclass(frozen=True)
class ArchivedStory:
    title: str
    url: str
    source: str
    summary: tuple[str, ...] = ()
    update: bool = False  # the story went out before and came back with news


@dataclass(frozen=True)
class ArchivedEdition:
    """An edition that went out, as the archive shows it. `sections` is empty for editions
    stored before their stories were kept with them: only their email's HTML file is left."""

    id: str
    title: str
    until: datetime
    html_path: str | None
    sections: tuple[tuple[str, tuple[ArchivedStory, ...]], ...]
    stories: int

    @property
    def leads(self) -> list[ArchivedStory]:
        """The first story of each section, in section order: the edition's top headlines."""
        return [stories[0] for _, stories in self.sections if stories]


def _archived(row: EditionRow) -> ArchivedEdition:
    stats = row.stats or {}
    sections = tuple(
        (section["region"], tuple(ArchivedStory(s["title"], s["url"], s["source"], tuple(s.get("summary") or ()),
                                                bool(s.get("update"))) for s in section["stories"]))
        for section in stats.get("sections") or [])
    stories = (sum(len(items) for _, items in sections) or sum((stats.get("regions") or {}).values())
               or stats.get("articles_in_window") or 0)
    return ArchivedEdition(row.id, row.title, _utc(row.until), row.html_path, sections, stories)


def _readable(edition: ArchivedEdition) -> bool:
    return bool(edition.sections) or bool(edition.html_path and Path(edition.html_path).is_file())


def sent_editions(engine: Engine, limit: int | None = None) -> list[ArchivedEdition]:
    """Editions that went out and can still be shown, newest first. Only what was sent is
    public: built editions are dry runs and previews, held ones were stopped."""
    with Session(engine) as session:
        rows = session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                               .order_by(EditionRow.until.desc()))
        found = (e for e in map(_archived, rows) if _readable(e))
        return list(itertools.islice(found, limit))


def sent_edition(engine: Engine, edition_id: str) -> ArchivedEdition | None:
    """One edition of the archive, or None when it was not sent or nothing of it is left."""
    with Session(engine) as session:
        row = session.get(EditionRow, edition_id)
        edition = _archived(row) if row is not None and row.status == EditionStatus.SENT else None
    return edition if edition is not None and _readable(edition) else None
