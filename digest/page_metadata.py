"""A page's metadata (title, author, site name, date, language, canonical URL) as trafilatura
and htmldate find it, limited to what the digest uses; dates as timezone-aware datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dateutil import parser as dateparser
from htmldate import find_date
from lxml.etree import XPath
from lxml.html import HtmlElement
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document

# Keep the time of day when the page gives one (htmldate's default output is the date only).
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": _DATE_FORMAT}

# trafilatura's author search (extract_author) runs three XPath expressions with regular
# expressions called back into Python on every element. They only test an element's own name
# and attributes, so a page none of whose attribute values holds one of their fragments has no
# author for them to find: one pass over the values says so first.
_AUTHOR_ATTRIBUTES = XPath("//@class|//@id|//@itemprop|//@rel|//@data-testid|//@data-component|//author|//rel",
                           smart_strings=False)
_AUTHOR_FRAGMENTS = re.compile(r"uthor|byl|Byl|BBL|username|zuozhe|bianji|xiaobian|channel-name|submitted-by"
                               r"|posted-by|journalist-name|screenname|writer")

_CONTENT_LANGUAGE = XPath('//meta[translate(@http-equiv,"CONTENT-LANGUAGE","content-language")="content-language"]'
                          '/@content')
_CANONICAL_HREF = XPath('//link[contains(concat(" ", translate(@rel,"CANONICAL","canonical"), " "), " canonical ")]'
                        '/@href')


def metadata(tree: HtmlElement, url: str | None, *, with_date: bool = True) -> Document:
    """Title, author, site name and date, as trafilatura's `extract_metadata` finds them,
    without what the digest does not use (categories, tags, licence, host name)."""
    meta = examine_meta(tree)
    if meta.author and " " not in meta.author:
        meta.author = None  # a single word is a handle or a site, not a byline (trafilatura's rule)
    meta = extract_meta_json(tree, meta)
    meta.title = meta.title or extract_title(tree)
    meta.author = meta.author or (extract_author(tree) if _may_name_author(tree) else None)
    meta.url = meta.url or extract_url(tree, url)
    meta.date = _date(tree, meta.url) if with_date else None
    meta.sitename = meta.sitename or extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")  # a Twitter handle
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif site := META_URL.match(meta.url or ""):
        meta.sitename = site.group(1)
    meta.clean_and_trim()
    return meta


def _may_name_author(tree: HtmlElement) -> bool:
    """False when trafilatura's author search cannot find anything on the page."""
    found = _AUTHOR_ATTRIBUTES(tree)
    return any(not isinstance(v, str) for v in found) or \
        _AUTHOR_FRAGMENTS.search("\n".join(v for v in found if isinstance(v, str))) is not None


def _date(tree: HtmlElement, url: str | None) -> str | None:
    """The quick search (markup, JSON-LD, URL); the deep one over the page text when it
    finds no date, or a date without its time of day."""
    quick = find_date(tree, url=url, **{**DATE_PARAMS, "extensive_search": False})
    if quick and not quick.endswith("T00:00:00"):
        return quick
    return find_date(tree, url=url, **DATE_PARAMS) or quick


def parse_date(value: str | None) -> datetime | None:
    """A timezone-aware datetime (UTC when the source gives no zone), or None."""
    if not value:
        return None
    try:
        parsed = dateparser.parse(value)
    except (ValueError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)



def declared_language(tree: HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        meta = _CONTENT_LANGUAGE(tree)
        lang = meta[0] if meta else None
    return lang.strip().split(",")[0].lower()[:16] or None if lang else None


def canonical_link(tree: HtmlElement) -> str | None:
    hrefs = _CANONICAL_HREF(tree)
    return hrefs[0].strip() or None if hrefs else None
