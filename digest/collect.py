"""Collection: feeds, single pages and folders of article files, into clean Articles.

Each source ends in articles or in clear per-source errors (`SourceResult.errors`), never
in an exception: one broken feed or page never spoils the rest. Articles carry canonical
URLs; `deduplicate` folds copies of the same story from several outlets into one.

What one source can cost is bounded too: a time budget for the whole source (its feed and
every entry page) and `Limits` on entries per feed, title, summary and article length.
Whatever goes over is dropped or cut and named in that source's errors; the rest of the
source, and every other source, is kept.

Every URL a source's content names (entry links, an announced feed, redirects) is fetched
with that source's `Access` and no more: a third-party feed cannot steer the collector to
local files or private addresses.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from html import unescape
from pathlib import Path
from time import struct_time
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import feedparser
import lxml.html
from datasketch import MinHash, MinHashLSH
from lxml.etree import ParserError
from sqlalchemy.engine import Engine

from digest import progress, store
from digest.config import Config, SourceConfig
from digest.errors import DigestError
from digest.extract import (
    ARTICLE_SUFFIXES,
    ExtractError,
    extract_file,
    extract_html,
    parse_date,
)
from digest.fetch import (
    Access,
    Fetcher,
    FetchError,
    FetchPolicy,
    FetchResult,
    access_for,
    is_local_location,
    local_path,
)
from digest.models import Article, Extracted, SourceError, content_hash

log = logging.getLogger(__name__)

TRACKING_FILE = Path(__file__).resolve().parent / "data" / "tracking_params.txt"
FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
               "text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.1")
FEED_LINK_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json",
                   "application/json", "application/rdf+xml", "application/xml", "text/xml")


class FeedError(DigestError):
    """The content is not a feed we can read; the message says why."""

    def __init__(self, reason: str, feed_links: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.feed_links = feed_links


@dataclass(frozen=True)
class FeedEntry:
    title: str
    link: str | None
    id: str | None
    published: datetime | None
    summary: str  # plain text
    content: str  # plain text of the fullest content the feed carries


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    problem: str | None = None  # malformed XML that still parsed ("bozo")
    dropped: int = 0  # entries beyond the `max_entries` asked for, never parsed


@dataclass(frozen=True)
class Limits:
    """The most one feed or article may bring in (characters, except `entries`)."""

    entries: int = 500
    title: int = 300
    summary: int = 20_000
    article: int = 100_000


@dataclass
class SourceResult:
    source: str
    location: str
    status: str = "ok"  # ok | not-modified | error
    articles: list[Article] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    entries: int = 0
    without_text: int = 0
    newest: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "error"

    def error(self, location: str, message: str) -> None:
        log.warning("source %s: %s: %s", self.source, location, message)
        self.errors.append(SourceError(self.source, location, message))


# --- canonical URLs -----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _tracking() -> tuple[frozenset[str], tuple[str, ...]]:
    names, prefixes = set(), []
    for raw in TRACKING_FILE.read_text(encoding="utf-8").splitlines():
        name = raw.strip().lower()
        if not name or name.startswith("#"):
            continue
        (prefixes.append(name[:-1]) if name.endswith("*") else names.add(name))
    return frozenset(names), tuple(prefixes)


def _is_tracking(param: str) -> bool:
    names, prefixes = _tracking()
    name = unquote(param.split("=", 1)[0]).lower()
    return name in names or name.startswith(prefixes)


def canonical_url(url: str, base: str | None = None) -> str:
    """The URL an article is known by: tracking parameters and fragment gone, scheme/host lowercased."""
    url = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    if scheme not in ("http", "https"):
        return urlunsplit((scheme, parts.netloc, parts.path, query, ""))
    host = (parts.hostname or "").rstrip(".")
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _usable_canonical(found: str | None, page_url: str) -> str | None:
    """A page's <link rel=canonical>, unless it is the site's home page (a common CMS slip)
    or a local file named by a page that is not one."""
    if not found:
        return None
    url = canonical_url(found, base=page_url)
    allowed = ("http", "https", "file") if is_local_location(page_url) else ("http", "https")
    if urlsplit(url).scheme not in allowed:
        return None
    if urlsplit(url).path in ("", "/") and urlsplit(page_url).path not in ("", "/"):
        return None
    return url


# --- feeds ---------------------------------------------------------------------------------

def parse_feed(content: bytes, url: str, content_type: str = "", max_entries: int | None = None) -> ParsedFeed:
    """RSS 0.9x/1.0/2.0, Atom or JSON Feed; raises FeedError (with any feed links found) otherwise.

    With `max_entries`, only the first that many entries are parsed; `dropped` counts the rest.
    """
    if not content.strip():
        raise FeedError("empty response (no feed)")
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if "json" in content_type or head == b"{":
        return _first(_parse_json_feed(content, url), max_entries)
    skipped = 0
    if max_entries is not None:
        content, skipped = _first_entries(content, max_entries)
    # Links are resolved here against the feed's own URL (feedparser mangles file:// bases).
    parsed = feedparser.parse(content, response_headers={"content-type": content_type or "application/xml"})
    charset_problem = None
    media_type, _, params = content_type.partition(";")
    if not parsed.version and not parsed.entries and "charset" in params.lower():
        # A server naming the wrong charset (UTF-16 for a UTF-8 document, say) makes the whole
        # feed unreadable; then the document's own declaration or byte-order mark decides.
        own = feedparser.parse(content, response_headers={"content-type": media_type.strip()})
        if own.version or own.entries:
            parsed = own
            charset_problem = (f"the server's Content-Type ({content_type}) names a charset this feed is not in; "
                               "read it in its own encoding")
    if not parsed.version and not parsed.entries:
        links = discover_feed_links(content, url)
        if links or _looks_like_html(content, content_type):
            raise FeedError("an HTML page, not a feed" + ("" if links else ", and it links to no feed"), links)
        problem = parsed.get("bozo_exception")
        raise FeedError(f"not a feed: {problem or 'unrecognised format'}")
    problem = charset_problem
    if parsed.bozo and not isinstance(parsed.bozo_exception, feedparser.CharacterEncodingOverride):
        problem = f"malformed feed, kept what parsed: {parsed.bozo_exception}"
    kept = parsed.entries if max_entries is None else parsed.entries[:max_entries]
    entries = tuple(_feed_entry(e, url) for e in kept)
    return ParsedFeed(title=_plain(parsed.feed.get("title", "")), entries=entries, problem=problem,
                      dropped=skipped + len(parsed.entries) - len(kept))


# An entry's start and end tag, with any namespace prefix (RSS <item>, RDF <rdf:item>, Atom <entry>).
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s/>]")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")


def _first_entries(content: bytes, limit: int) -> tuple[bytes, int]:
    """The feed document with its first `limit` entries and its closing tags, and how many
    entries were cut out: the parser takes seconds per 10,000 entries, so the rest must
    never reach it. A document whose entry tags cannot be found (UTF-16, say) stays whole
    and is capped after parsing."""
    starts = [m.start() for m in _ENTRY_START.finditer(content)]
    if len(starts) <= limit:
        return content, 0
    last_end = None
    for last_end in _ENTRY_END.finditer(content, starts[-1]):
        pass
    if last_end is None:
        return content, 0
    return content[:starts[limit]] + content[last_end.end():], len(starts) - limit


def _first(feed: ParsedFeed, limit: int | None) -> ParsedFeed:
    if limit is None or len(feed.entries) <= limit:
        return feed
    return replace(feed, entries=feed.entries[:limit], dropped=feed.dropped + len(feed.entries) - limit)


def _feed_entry(entry: feedparser.FeedParserDict, feed_url: str) -> FeedEntry:
    link = entry.get("link") or next((l.get("href") for l in entry.get("links", []) if l.get("href")), None)
    contents = [c.get("value", "") for c in entry.get("content", [])]
    summary = _plain(entry.get("summary", ""))
    content = max((_plain(c) for c in contents), key=len, default="") or summary
    return FeedEntry(
        title=_plain(entry.get("title", "")),
        link=urljoin(feed_url, link) if link else None,
        id=entry.get("id") or None,
        published=_struct_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        summary=summary,
        content=content,
    )


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})") from exc
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        raise FeedError("not a feed: JSON without a JSON Feed version")
    entries = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        summary = _plain(item.get("summary") or "")
        content = _plain(item.get("content_html") or "") or (item.get("content_text") or "").strip()
        entries.append(FeedEntry(
            title=_plain(item.get("title") or ""),
            link=urljoin(url, link) if isinstance(link, str) else None,
            id=str(item["id"]) if item.get("id") is not None else None,
            published=parse_date(item.get("date_published") or item.get("date_modified")),
            summary=summary, content=content or summary))
    return ParsedFeed(title=str(data.get("title") or ""), entries=tuple(entries))


def discover_feed_links(content: bytes, base_url: str) -> tuple[str, ...]:
    """Feed URLs an HTML page announces with <link rel="alternate" type="…">."""
    if b"<" not in content[:4096]:
        return ()
    try:
        tree = lxml.html.document_fromstring(content)
    except (ParserError, ValueError):
        return ()
    links = []
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_LINK_TYPES and link.get("href"):
            links.append(urljoin(base_url, link.get("href").strip()))
    return tuple(dict.fromkeys(links))


def _looks_like_html(content: bytes, content_type: str) -> bool:
    return "html" in content_type or bool(re.match(rb"\s*(<!doctype html|<html)", content[:512], re.I))


def _struct_time(value: struct_time | None) -> datetime | None:
    return datetime(*value[:6], tzinfo=UTC) if value else None


def _plain(fragment: str) -> str:
    """Text of an HTML fragment from a feed, one paragraph per block."""
    if not fragment or "<" not in fragment:
        return " ".join(unescape(fragment or "").split())
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())
    for block in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote", "tr"):
        block.tail = "\n" + (block.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n\n".join(line for line in lines if line)


# --- sources -------------------------------------------------------------------------------

def fetcher_for(config: Config) -> Fetcher:
    """A new fetcher with the config's politeness policy; whoever calls this closes it."""
    return Fetcher(FetchPolicy(user_agent=config.user_agent, read_timeout=config.fetch_timeout,
                               connect_timeout=min(10.0, config.fetch_timeout),
                               total_timeout=config.fetch_deadline or config.fetch_timeout * 3,
                               max_bytes=config.max_response_bytes, per_host=config.per_host_concurrency))


def limits_for(config: Config) -> Limits:
    return Limits(entries=config.max_entries_per_feed, title=config.max_title_chars,
                  summary=config.max_summary_chars, article=config.max_article_chars)


def clip(text: str, limit: int, *, ellipsis: bool = False) -> str:
    """`text` cut to at most `limit` characters, at a paragraph break or a space in the last
    fifth of the limit when there is one; `ellipsis` marks the cut (for titles and summaries)."""
    if len(text) <= limit:
        return text
    room = limit - 1 if ellipsis else limit
    head = text[:room]
    for gap in ("\n\n", "\n", " "):
        cut = head.rfind(gap)
        if cut >= room * 0.8:
            head = head[:cut]
            break
    return head.rstrip() + ("…" if ellipsis else "")


@dataclass
class _Budget:
    """One source's time: every fetch for it ends by `deadline`; entry pages it had no time
    for are counted once instead of each failing on its own."""

    seconds: float
    deadline: float
    pages_skipped: list[str] = field(default_factory=list)  # appended to from the page threads

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.deadline


def collect_source(source: SourceConfig, config: Config, *, now: datetime, engine: Engine | None = None,
                   fetcher: Fetcher | None = None, fast: bool = False) -> SourceResult:
    """Everything one source has now, or a clear error naming it. Never raises for bad input.

    With an engine, the articles (and the pages they were read from) are recorded in the
    store: this is where collected articles are stored. A fetcher passed in stays open for
    the caller; without one, a fetcher is made for this source and closed when it is done.
    """
    result = SourceResult(source=source.name, location=source.url)
    own = fetcher is None
    fetcher = fetcher or fetcher_for(config)
    raw_pages: dict[str, bytes] = {}
    budget = _Budget(config.source_budget, time.monotonic() + config.source_budget)
    limits = limits_for(config)
    try:
        if source.kind == "feed":
            _collect_feed(source, result, fetcher, engine, raw_pages, now, fast, budget, limits)
        elif source.kind == "page":
            _collect_page(source, result, fetcher, raw_pages, now, fast, budget, limits)
        else:
            _collect_folder(source, result, now, fast, limits)
    except (FetchError, FeedError, ExtractError, OSError) as exc:
        result.status = "error"
        over = f" (source_budget = {budget.seconds:g} s)" if isinstance(exc, FetchError) and budget.spent else ""
        result.error(source.url, f"{exc}{over}")
    except Exception as exc:  # noqa: BLE001 - a bug on one source's odd input must not stop the others
        log.exception("source %s: unexpected failure", source.name)
        result.status = "error"
        result.error(source.url, f"unexpected {type(exc).__name__}: {exc}")
    finally:
        if own:
            fetcher.close()
    if engine is not None:
        if result.articles:
            result.articles = store.record_articles(engine, result.articles, now, raw_html=raw_pages)
        store.save_source_state(engine, source.name, source.url, status=result.status,
                                error="; ".join(e.error for e in result.errors) or None, now=now)
    result.newest = max((a.published for a in result.articles if a.published), default=None)
    return result


def fetch_feed(fetcher: Fetcher, url: str, *, local: bool = False, etag: str | None = None,
               last_modified: str | None = None, max_entries: int | None = None,
               deadline: float | None = None) -> tuple[FetchResult, ParsedFeed | None, str | None]:
    """Fetch and parse a feed: (response, feed or None when not modified, feed URL discovered
    on an HTML page or None). `local` as in the source's configuration; `max_entries` as in
    `parse_feed`; `deadline` (time.monotonic()) ends the fetches. Raises FetchError or FeedError."""
    access = access_for(url, local)
    fetched = fetcher.get(url, access=access, etag=etag, last_modified=last_modified, accept=FEED_ACCEPT,
                          deadline=deadline)
    if fetched.not_modified:
        return fetched, None, None
    try:
        return fetched, parse_feed(fetched.content, fetched.url, fetched.headers.get("content-type", ""),
                                   max_entries), None
    except FeedError as exc:
        if not exc.feed_links:
            raise
        discovered = exc.feed_links[0]
    # A page that names its feed: follow the first one it announces, once, with the page's access.
    try:
        fetched = fetcher.get(discovered, access=access, accept=FEED_ACCEPT, deadline=deadline)
    except FetchError as exc:
        raise FetchError(exc.url, f"{exc.reason} (the feed announced by {url})", exc.status) from None
    return fetched, parse_feed(fetched.content, fetched.url, fetched.headers.get("content-type", ""),
                               max_entries), discovered


def _collect_feed(source: SourceConfig, result: SourceResult, fetcher: Fetcher, engine: Engine | None,
                  raw_pages: dict[str, bytes], now: datetime, fast: bool, budget: _Budget, limits: Limits) -> None:
    state = store.get_source_state(engine, source.name, source.url) if engine is not None else None
    fetched, feed, discovered = fetch_feed(fetcher, source.url, local=source.local,
                                           etag=state.etag if state else None,
                                           last_modified=state.last_modified if state else None,
                                           max_entries=limits.entries, deadline=budget.deadline)
    if feed is None:
        result.status = "not-modified"
        return
    if discovered:
        log.info("source %s: %s is an HTML page; using the feed it announces: %s", source.name, source.url, discovered)
        result.notes.append(f"feed discovered at {discovered}")
    if feed.problem:
        result.error(fetched.url, feed.problem)
    if feed.dropped:
        result.error(fetched.url, f"the feed has {len(feed.entries) + feed.dropped:,} entries; kept the first "
                                  f"{len(feed.entries):,} (max_entries_per_feed)")
    entries = [_short_summary(e, result, limits) for e in feed.entries]
    result.entries = len(entries)
    access = access_for(source.url, source.local)
    known = store.known_articles(engine, [canonical_url(e.link) for e in entries if e.link]) if engine is not None else {}

    tracker = progress.current()

    def one(entry: FeedEntry) -> Article | None:
        article = _entry_article(entry, source, result, fetcher, known, raw_pages, access, now, fast, budget, limits)
        tracker.advance("collect", 0, entries=1)  # a feed of 500 pages shows it is moving
        return article

    workers = max(1, min(8, fetcher.policy.per_host * 2)) if source.fetch_pages else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        articles = list(pool.map(one, entries))
    result.articles = [a for a in articles if a is not None]
    if budget.pages_skipped:
        result.error(source.url, f"the time budget of {budget.seconds:g} s ran out (source_budget): "
                                 f"{len(budget.pages_skipped)} of {len(entries)} entry pages not fetched, "
                                 "the feed's text kept where it had any")
    if engine is not None:
        store.save_source_state(engine, source.name, source.url, etag=fetched.etag,
                                last_modified=fetched.last_modified, now=now)


def _short_summary(entry: FeedEntry, result: SourceResult, limits: Limits) -> FeedEntry:
    if len(entry.summary) <= limits.summary:
        return entry
    result.error(entry.link or entry.id or "<entry>", f"summary of {len(entry.summary):,} characters cut to "
                                                      f"{limits.summary:,} (max_summary_chars)")
    return replace(entry, summary=clip(entry.summary, limits.summary, ellipsis=True))


def _within_limits(article: Article, where: str, result: SourceResult, limits: Limits) -> Article:
    """The article with its title and text cut to the limits, each cut named in the errors."""
    title, text = clip(article.title, limits.title, ellipsis=True), clip(article.text, limits.article)
    if title != article.title:
        result.error(where, f"title of {len(article.title):,} characters cut to {limits.title:,} (max_title_chars)")
    if text != article.text:
        result.error(where, f"article of {len(article.text):,} characters cut to {len(text):,} (max_article_chars)")
    return article if (title, text) == (article.title, article.text) else replace(article, title=title, text=text)


def _entry_article(entry: FeedEntry, source: SourceConfig, result: SourceResult, fetcher: Fetcher,
                   known: dict[str, Article], raw_pages: dict[str, bytes], access: Access,
                   now: datetime, fast: bool, budget: _Budget, limits: Limits) -> Article | None:
    where = entry.link or entry.id or entry.title or "<entry>"
    url = canonical_url(entry.link) if entry.link else None
    if url and url in known:
        return known[url]  # seen on an earlier run: no need to fetch its page again
    page: Extracted | None = None
    if entry.link and source.fetch_pages and budget.spent:
        budget.pages_skipped.append(entry.link)
    elif entry.link and source.fetch_pages:
        try:
            fetched = fetcher.get(entry.link, access=access, deadline=budget.deadline)
            # The feed's date wins over the page's (below): no date search when the entry has one.
            page = extract_html(fetched.content, url=fetched.url, fast=fast, with_date=entry.published is None)
            url = _usable_canonical(page.canonical_url, fetched.url) or canonical_url(fetched.url)
            raw_pages[url] = fetched.content
        except FetchError as exc:
            if budget.spent:  # cut short by the source's budget: counted with the pages never tried
                budget.pages_skipped.append(entry.link)
            else:
                result.error(entry.link, f"page not used ({_fallback(entry)}): {exc}")
        except ExtractError as exc:
            result.error(entry.link, f"page not used ({_fallback(entry)}): {exc}")
    text = page.text if page else entry.content
    if not text.strip():
        result.without_text += 1
        if page is None and not (entry.link and source.fetch_pages):
            result.error(where, "entry has no text")
        return None
    if url is None:
        url = canonical_url(entry.id, base=source.url) if entry.id else f"{source.url}#{content_hash(text)[:16]}"
    article = Article(url=url, title=entry.title or (page.title if page else "") or _first_words(text),
                      text=text, source=source.name,
                      published=entry.published or (page.published if page else None),
                      first_seen=now, author=page.author if page else None,
                      language=page.language if page else None)
    return _within_limits(article, where, result, limits)


def _fallback(entry: FeedEntry) -> str:
    return "kept the feed's text" if entry.content else "no text in the feed either"


def _collect_page(source: SourceConfig, result: SourceResult, fetcher: Fetcher, raw_pages: dict[str, bytes],
                  now: datetime, fast: bool, budget: _Budget, limits: Limits) -> None:
    fetched = fetcher.get(source.url, access=access_for(source.url, source.local), deadline=budget.deadline)
    page = extract_html(fetched.content, url=fetched.url, fast=fast)
    url = _usable_canonical(page.canonical_url, fetched.url) or canonical_url(fetched.url)
    raw_pages[url] = fetched.content
    result.entries = 1
    result.articles = [_within_limits(_article(url, page, source.name, now), url, result, limits)]


def _collect_folder(source: SourceConfig, result: SourceResult, now: datetime, fast: bool, limits: Limits) -> None:
    folder = local_path(source.url)
    if not folder.is_dir():
        raise FetchError(str(folder), "not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES)
    result.entries = len(files)
    for path in files:
        try:
            page = extract_file(path, fast=fast)
        except (ExtractError, OSError) as exc:
            result.without_text += 1
            result.error(str(path), str(exc))
            continue
        url = _usable_canonical(page.canonical_url, path.resolve().as_uri()) or path.resolve().as_uri()
        result.articles.append(_within_limits(_article(url, page, source.name, now), str(path), result, limits))


def _article(url: str, page: Extracted, source: str, now: datetime) -> Article:
    return Article(url=url, title=page.title or _first_words(page.text), text=page.text, source=source,
                   published=page.published, first_seen=now, author=page.author, language=page.language)


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


def collect_all(config: Config, *, now: datetime, engine: Engine | None = None,
                fast: bool = False) -> list[SourceResult]:
    """Every configured source, sharing one polite fetcher; results in config order."""
    with fetcher_for(config) as fetcher, ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda s: collect_source(s, config, now=now, engine=engine, fetcher=fetcher, fast=fast),
                             config.sources))


# --- the same story from several outlets ---------------------------------------------------

SHINGLE_WORDS = 5
MIN_SHINGLES = 20  # below this a text is too short to call a near-copy; only exact copies fold
NUM_PERM = 128
LSH_THRESHOLD = 0.3  # candidate pairs; each is then checked on the exact shingle sets
NEAR_JACCARD = 0.45  # the same text with small edits
NEAR_CONTAINMENT = 0.75  # one text mostly inside the other (a trimmed or extended copy)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + k]) for i in range(max(0, len(words) - k + 1))}


def is_near_copy(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return False
    common = len(a & b)
    union = len(a) + len(b) - common  # no union set built: this runs for every LSH candidate pair
    return common / union >= NEAR_JACCARD or common / min(len(a), len(b)) >= NEAR_CONTAINMENT


def deduplicate(articles: list[Article]) -> list[Article]:
    """One item per story: same URL, same text or near-copies fold into the first one seen,
    which lists the other outlets in `also_reported_by`. Order is kept."""
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_by_key: dict[str, int] = {}
    for i, article in enumerate(articles):
        for key in (article.url, article.content_hash):
            if key in first_by_key:
                join(first_by_key[key], i)
            else:
                first_by_key[key] = i
    # Shingle sets are made one article at a time and not kept (10,000 of them hold hundreds of
    # MB): an earlier article's is made again only for an LSH candidate pair, which is rare.
    # Near-copy joins only ever re-parent the current index, so which articles are roots (and
    # signed) does not depend on them; MinHash.generator shares one set of permutations.
    signed: list[tuple[int, set[str]]] = []

    def to_sign() -> Iterator[list[bytes]]:
        for i, article in enumerate(articles):
            if root(i) == i and len(shingle_set := shingles(article.text)) >= MIN_SHINGLES:
                signed.append((i, shingle_set))
                yield [s.encode("utf-8") for s in shingle_set]

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    for signature in MinHash.generator(to_sign(), num_perm=NUM_PERM):
        i, shingle_set = signed.pop()
        for j in lsh.query(signature):
            if root(j) != root(i) and is_near_copy(shingle_set, shingles(articles[j].text)):
                join(j, i)
        lsh.insert(i, signature)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    return [_fold(articles[g[0]], (articles[i] for i in g[1:])) for g in groups.values()]


def _fold(kept: Article, others: Iterable[Article]) -> Article:
    outlets = list(kept.also_reported_by)
    for other in others:
        outlets += [other.source, *other.also_reported_by]
    outlets = [o for o in dict.fromkeys(outlets) if o != kept.source]
    return replace(kept, also_reported_by=tuple(outlets)) if outlets else kept
