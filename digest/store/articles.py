"""Articles as collected: every one ever seen, keyed by canonical URL, with its page as fetched."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from digest.models import Article
from digest.store.schema import ArticleRow, as_utc


def article_from_row(row: ArticleRow) -> Article:
    return Article(url=row.url, title=row.title, text=row.text, source=row.source,
                   published=as_utc(row.published), first_seen=as_utc(row.first_seen),
                   author=row.author, language=row.language, also_reported_by=tuple(row.also_listed_by or ()))


# An undated listing sorts after every dated one.
_UNDATED = datetime.max.replace(tzinfo=UTC)


def _add_listing(row: ArticleRow, source: str) -> None:
    """Remember that `source` lists the row's URL too (the row's own source is not repeated)."""
    others = sorted((set(row.also_listed_by or ()) | {source}) - {row.source})
    if others != (row.also_listed_by or []):
        row.also_listed_by = others or None


def _listing(published: datetime | None, source: str) -> tuple[datetime, str]:
    """How listings of one URL in one run are ordered: the earliest first, then by source name."""
    return as_utc(published) or _UNDATED, source


def record_articles(engine: Engine, articles: list[Article], now: datetime,
                    raw_html: Mapping[str, bytes] | None = None) -> list[Article]:
    """Remember every article (canonical URL, content hash, first-seen time, source).

    Returns the articles with `first_seen` as stored: the first run that saw an article
    keeps its time. A changed text updates the stored one; raw pages are kept compressed.
    When several sources list one URL in the same run, the earliest listing (by publication
    time, then source name) is the one kept, so the edition does not depend on which source
    finished first; a later run never moves a stored article to another source. Every other
    source that lists the URL is remembered in the article's `also_reported_by`.
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
                                 source=article.source, published=as_utc(article.published),
                                 first_seen=as_utc(article.first_seen or now), content_hash=article.content_hash,
                                 author=article.author, language=article.language,
                                 raw_html=zlib.compress(page, 6) if page else None)
                session.add(row)
                rows[article.id] = row
            elif (as_utc(row.first_seen) == as_utc(now) and article.text
                  and _listing(article.published, article.source) < _listing(row.published, row.source)):
                earlier = row.source
                row.source, row.published, row.title = article.source, as_utc(article.published), article.title
                _add_listing(row, earlier)
                row.text, row.content_hash = article.text, article.content_hash
                row.author, row.language = article.author, article.language
                if page:
                    row.raw_html = zlib.compress(page, 6)
            else:
                _add_listing(row, article.source)
                if article.text and row.content_hash != article.content_hash:
                    row.text, row.title, row.content_hash = article.text, article.title, article.content_hash
                if article.published and row.published is None:
                    row.published = as_utc(article.published)
                if page and row.raw_html is None:
                    row.raw_html = zlib.compress(page, 6)
            out.append(replace(article, first_seen=as_utc(row.first_seen)))
    return out


def known_articles(engine: Engine, urls: list[str]) -> dict[str, Article]:
    """Stored articles by canonical URL, for the URLs given that the store already has."""
    found: dict = {}
    with Session(engine) as session:
        for start in range(0, len(urls), 500):
            chunk = urls[start:start + 500]
            for row in session.scalars(select(ArticleRow).where(ArticleRow.url.in_(chunk))):
                found[row.url] = article_from_row(row)
    return found


def raw_page(engine: Engine, url: str) -> bytes | None:
    """The page as fetched for the article at `url` (decompressed), to re-extract it later."""
    with Session(engine) as session:
        data = session.scalar(select(ArticleRow.raw_html).where(ArticleRow.url == url))
    return zlib.decompress(data) if data else None
