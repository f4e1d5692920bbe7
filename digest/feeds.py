"""Feeds: RSS 0.9x/1.0/2.0, Atom and JSON Feed into `FeedEntry`s, and fetching one.

Parsing never trusts the server's word alone (a wrong charset, an HTML page where a feed was
expected, tens of thousands of entries): what can be read is kept and what went wrong is said
in `ParsedFeed.problem` or a `FeedError`. A page that announces its feed is followed once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import unescape
from time import struct_time
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml.etree import ParserError

from digest.errors import DigestError
from digest.extract import parse_date
from digest.fetch import Fetcher, FetchError, FetchResult, access_for

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
