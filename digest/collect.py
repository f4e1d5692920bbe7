"""Collection: each source, by its kind, into clean Articles; what it found is returned, not stored.

Each source ends in articles or in clear per-source errors (`SourceResult.errors`), never
in an exception: one broken feed or page never spoils the rest. Articles carry canonical
URLs (`digest.urls`); feeds are read by `digest.feeds`; copies of one story from several
outlets are folded later (`digest.dedupe`).

A source's kind names its collector in `COLLECTORS`: adding a kind is a function here (or in a
module of its own) taking a `SourceRun`, its entry in that dict, and its name in
`SourceConfig.kind`. What the store remembers of a source comes in as a `SourceMemory`, and
what collection found (articles, the raw pages they were read from, conditional-GET
validators) goes out in the `SourceResult`: `digest.pipeline.collect` records it.

What one source can cost is bounded too: a time budget for the whole source (its feed and
every entry page) and `Limits` on entries per feed, title, summary and article length.
Whatever goes over is dropped or cut and named in that source's errors; the rest of the
source, and every other source, is kept.

Every URL a source's content names (entry links, an announced feed, redirects) is fetched
with that source's `Access` and no more: a third-party feed cannot steer the collector to
local files or private addresses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from digest import progress
from digest.config import Config, SourceConfig
from digest.extract import ARTICLE_SUFFIXES, ExtractError, extract_file, extract_html
from digest.feeds import FeedEntry, FeedError, fetch_feed
from digest.fetch import Access, Fetcher, FetchError, FetchPolicy, access_for, local_path
from digest.models import Article, Extracted, SourceError, content_hash
from digest.urls import canonical_url, usable_canonical

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """The most one feed or article may bring in (characters, except `entries`)."""

    entries: int = 500
    title: int = 300
    summary: int = 20_000
    article: int = 100_000


class Validators(NamedTuple):
    """A feed response's conditional-GET validators, sent back on the next fetch."""

    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class SourceMemory:
    """What the store remembers of a source: the validators of its last feed response, and which
    of a list of canonical URLs are articles already recorded (their pages are not fetched again)."""

    etag: str | None = None
    last_modified: str | None = None
    known: Callable[[list[str]], dict[str, Article]] = lambda _urls: {}


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
    raw_pages: dict[str, bytes] = field(default_factory=dict)  # canonical URL → the page as fetched
    validators: Validators | None = None  # of a feed read in full; None: keep the remembered ones

    @property
    def failed(self) -> bool:
        return self.status == "error"

    def error(self, location: str, message: str) -> None:
        log.warning("source %s: %s: %s", self.source, location, message)
        self.errors.append(SourceError(self.source, location, message))


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


@dataclass(frozen=True)
class SourceRun:
    """Everything a kind's collector works with; it fills `result` (articles, errors, counts)."""

    source: SourceConfig
    result: SourceResult
    fetcher: Fetcher
    memory: SourceMemory
    now: datetime
    fast: bool  # the faster extractor (benchmarks, `sources check`)
    budget: _Budget
    limits: Limits


def collect_source(source: SourceConfig, config: Config, *, now: datetime, memory: SourceMemory = SourceMemory(),
                   fetcher: Fetcher | None = None, fast: bool = False, budget: float | None = None) -> SourceResult:
    """Everything one source has now, or a clear error naming it. Never raises for bad input.

    `budget` is the seconds it may take (default `source_budget`; a retry gets what is left).

    Nothing is stored here (`digest.pipeline.collect` records the result). A fetcher passed in
    stays open for the caller; without one, a fetcher is made for this source and closed when
    it is done.
    """
    result = SourceResult(source=source.name, location=source.url)
    own = fetcher is None
    fetcher = fetcher or fetcher_for(config)
    seconds = config.source_budget if budget is None else budget
    budget = _Budget(seconds, time.monotonic() + seconds)
    try:
        COLLECTORS[source.kind](SourceRun(source, result, fetcher, memory, now, fast, budget, limits_for(config)))
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
    result.newest = max((a.published for a in result.articles if a.published), default=None)
    return result


def collect_feed(run: SourceRun) -> None:
    """kind = "feed": a feed's entries, each from its page's main text unless `fetch_pages` is off
    (or the page fails: then the feed's own text). Pages of entries already recorded are not
    fetched again, and an unchanged feed (conditional GET) is `not-modified`."""
    source, result, limits, budget = run.source, run.result, run.limits, run.budget
    memory = run.memory
    fetched, feed, discovered = fetch_feed(run.fetcher, source.url, local=source.local, etag=memory.etag,
                                           last_modified=memory.last_modified, max_entries=limits.entries,
                                           deadline=budget.deadline)
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
    known = memory.known([canonical_url(e.link) for e in entries if e.link])

    tracker = progress.current()

    def one(entry: FeedEntry) -> Article | None:
        article = _entry_article(run, entry, known, access)
        tracker.advance("collect", 0, entries=1)  # a feed of 500 pages shows it is moving
        return article

    workers = max(1, min(8, run.fetcher.policy.per_host * 2)) if source.fetch_pages else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        articles = list(pool.map(one, entries))
    result.articles = [a for a in articles if a is not None]
    if budget.pages_skipped:
        result.error(source.url, f"the time budget of {budget.seconds:g} s ran out (source_budget): "
                                 f"{len(budget.pages_skipped)} of {len(entries)} entry pages not fetched, "
                                 "the feed's text kept where it had any")
    result.validators = Validators(fetched.etag, fetched.last_modified)


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


def _entry_article(run: SourceRun, entry: FeedEntry, known: dict[str, Article], access: Access) -> Article | None:
    source, result, budget = run.source, run.result, run.budget
    where = entry.link or entry.id or entry.title or "<entry>"
    url = canonical_url(entry.link) if entry.link else None
    if url and url in known:
        return known[url]  # seen on an earlier run: no need to fetch its page again
    page: Extracted | None = None
    if entry.link and source.fetch_pages and budget.spent:
        budget.pages_skipped.append(entry.link)
    elif entry.link and source.fetch_pages:
        try:
            fetched = run.fetcher.get(entry.link, access=access, deadline=budget.deadline)
            # The feed's date wins over the page's (below): no date search when the entry has one.
            page = extract_html(fetched.content, url=fetched.url, fast=run.fast, with_date=entry.published is None)
            url = usable_canonical(page.canonical_url, fetched.url) or canonical_url(fetched.url)
            result.raw_pages[url] = fetched.content
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
                      first_seen=run.now, author=page.author if page else None,
                      language=page.language if page else None)
    return _within_limits(article, where, result, run.limits)


def _fallback(entry: FeedEntry) -> str:
    return "kept the feed's text" if entry.content else "no text in the feed either"


def collect_page(run: SourceRun) -> None:
    """kind = "page": one web page (or local HTML file), one article."""
    source, result = run.source, run.result
    fetched = run.fetcher.get(source.url, access=access_for(source.url, source.local), deadline=run.budget.deadline)
    page = extract_html(fetched.content, url=fetched.url, fast=run.fast)
    url = usable_canonical(page.canonical_url, fetched.url) or canonical_url(fetched.url)
    result.raw_pages[url] = fetched.content
    result.entries = 1
    result.articles = [_within_limits(_article(url, page, source.name, run.now), url, result, run.limits)]


def collect_folder(run: SourceRun) -> None:
    """kind = "folder": every article file (HTML, text) in a local folder."""
    source, result, limits, now, fast = run.source, run.result, run.limits, run.now, run.fast
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
        url = usable_canonical(page.canonical_url, path.resolve().as_uri()) or path.resolve().as_uri()
        result.articles.append(_within_limits(_article(url, page, source.name, now), str(path), result, limits))


def _article(url: str, page: Extracted, source: str, now: datetime) -> Article:
    return Article(url=url, title=page.title or _first_words(page.text), text=page.text, source=source,
                   published=page.published, first_seen=now, author=page.author, language=page.language)


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + ("…" if len(words) > n else "")


# The source kinds (`SourceConfig.kind`): each name's collector.
COLLECTORS: dict[str, Callable[[SourceRun], None]] = {
    "feed": collect_feed,
    "page": collect_page,
    "folder": collect_folder,
}
