"""The schema: SQLAlchemy 2 table rows and the engine. SQLite by default, PostgreSQL by URL.

Table definitions live here so that every module (collection, subscribers, delivery,
the web app) shares one schema and one set of migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from digest.models import DeliveryStatus, EditionStatus, SubscriberStatus


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
    # The other sources that listed this URL, by name: the story names them as its other outlets,
    # as it does for near-copies folded into it.
    also_listed_by: Mapped[list | None] = mapped_column(JSON)
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
    # a DeliveryStatus: outbox is written to the outbox folder, not mailed; sending is claimed by
    # `owner` until `lease_until` (see digest.store.ledger); deferred is not sent yet (a rerun
    # retries); failed is a 5xx refusal of the message, bounced a 5xx refusal of the recipient
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
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
            # delivery ledger commits once per message (digest.store.ledger): a full fsync each time
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




# Times are stored in UTC: SQLite keeps no offset, so every value is normalised on the way
# in and read back as UTC-aware.
def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
