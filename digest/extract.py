"""Main text and metadata from article pages (trafilatura) and article files.

HTML goes through trafilatura with its metadata (title, author, site name, date). Plain
text dumps of pages keep the site's chrome around the story (date banners, breadcrumbs,
share buttons, credits, "related posts"); the line patterns in `data/chrome_lines.txt`
remove it, and the headline is found from the page's own structure, not from a list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import trafilatura
from dateutil import parser as dateparser
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from digest.models import Extracted

CHROME_FILE = Path(__file__).resolve().parent / "data" / "chrome_lines.txt"
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
ARTICLE_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES

# Chosen by benchmarks/bench_extract.py on extraction-dev (see benchmarks/RESULTS-collect.md):
# favor_precision without comments scored F1 0.965 against 0.924 for the library defaults
# (recall-leaning settings keep captions and link lists). fast mode skips the fallback
# extractors: the same F1 there, at about 1.7x the speed.
EXTRACTION_SETTINGS: dict[str, object] = {"favor_precision": True, "include_comments": False,
                                          "include_tables": True}

# Less text than this (spaces aside: some scripts use none) is a menu or a stub left by the
# fallback extractors, not an article.
MIN_CHARS = 25

# Keep the time of day when the page gives one (htmldate's default output is the date only).
_DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": "%Y-%m-%dT%H:%M:%S%z"}

# A line that reads like body text, not a label: enough words and a sentence ending.
_PARAGRAPH = re.compile(r".*[.!?…:;\"'”’»)]$")
_PARAGRAPH_WORDS = 12


class ExtractError(Exception):
    """No main text could be found; the message names the URL or file."""


def extract_html(html: str | bytes, url: str | None = None, *, fast: bool = False) -> Extracted:
    """The main text and metadata of one page. `fast` skips trafilatura's fallback extractors."""
    where = url or "<html>"
    tree = load_html(html)
    if tree is None:
        raise ExtractError(f"{where}: not an HTML document")
    language = _declared_language(tree)
    canonical = _canonical_link(tree)
    try:
        doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, fast=fast, **EXTRACTION_SETTINGS,
                                          date_extraction_params=_DATE_PARAMS)
    except (ValueError, TypeError, AttributeError) as exc:  # trafilatura's own failures on odd markup
        raise ExtractError(f"{where}: extraction failed: {exc}") from exc
    found = len("".join((doc.text or "").split())) if doc is not None else 0
    if found < MIN_CHARS:
        raise ExtractError(f"{where}: no main text found ({found} characters)")
    title = (doc.title or "").strip()
    return Extracted(
        title=title,
        text=_tidy(doc.text, drop_first=title),
        published=parse_date(doc.date),
        author=doc.author or None,
        sitename=doc.sitename or None,
        language=language or doc.language or None,
        canonical_url=canonical,
    )


def extract_file(path: Path, *, fast: bool = False) -> Extracted:
    """An article file: `.html`/`.htm` pages or `.txt` dumps of a page."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        return extract_html(path.read_bytes(), url=path.resolve().as_uri(), fast=fast)
    if suffix in TEXT_SUFFIXES:
        return extract_text_dump(_read_text(path), where=str(path), fallback_title=_title_from_name(path))
    raise ExtractError(f"{path}: not an article file (expected one of {', '.join(sorted(ARTICLE_SUFFIXES))})")


def extract_text_dump(text: str, *, where: str = "<text>", fallback_title: str = "") -> Extracted:
    """A clean article from a plain-text dump of a page, chrome removed."""
    drop, end = _chrome_patterns()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    banner_date = next((d for line in lines[:5] if (d := _banner_date(line, drop))), None)
    start = next((i for i, line in enumerate(lines) if _is_paragraph(line) and not _matches(line, drop)), None)
    if start is None:
        raise ExtractError(f"{where}: no article text found (no paragraph of {_PARAGRAPH_WORDS}+ words)")
    header = [line for line in lines[:start] if line and not _matches(line, drop)]
    body: list[str] = []
    for line in lines[start:]:
        if _matches(line, end):
            break
        if line and not _matches(line, drop):
            body.append(line)
    return Extracted(title=_headline(header, lines[:start], drop) or fallback_title,
                     text="\n\n".join(body), published=banner_date)


def parse_date(value: str | None) -> datetime | None:
    """A timezone-aware datetime (UTC when the source gives no zone), or None."""
    if not value:
        return None
    try:
        parsed = dateparser.parse(value)
    except (ValueError, OverflowError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@lru_cache(maxsize=1)
def _chrome_patterns() -> tuple[list[re.Pattern[str]], list[re.Pattern[str]]]:
    drop: list[re.Pattern[str]] = []
    end: list[re.Pattern[str]] = []
    for raw in CHROME_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        target, pattern = (end, line[4:]) if line.startswith("end:") else (drop, line)
        target.append(re.compile(pattern, re.IGNORECASE))
    return drop, end


def _matches(line: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(line) for p in patterns)


def _is_paragraph(line: str) -> bool:
    return len(line.split()) >= _PARAGRAPH_WORDS and bool(_PARAGRAPH.match(line))


def _headline(header: list[str], raw_header: list[str], drop: list[re.Pattern[str]]) -> str:
    """The headline among the lines above the body.

    A breadcrumb ends with the headline, so a header line that closes a breadcrumb wins;
    otherwise the longest line, since section labels and bylines are short.
    """
    if not header:
        return ""
    for crumb in (line for line in raw_header if _matches(line, drop)):
        last = re.split(r"\s*(?:/|»|›|>|\|)\s*", crumb)[-1]
        if last in header:
            return last
    return max(header, key=lambda line: len(line.split()))


def _banner_date(line: str, drop: list[re.Pattern[str]]) -> datetime | None:
    if not line or not _matches(line, drop) or not re.search(r"\d{4}", line):
        return None
    return parse_date(re.sub(r"\s+,", ",", line))


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()


def _tidy(text: str, drop_first: str = "") -> str:
    """One paragraph per block, blank line between; a leading repeat of the headline goes."""
    paragraphs = [p for p in (" ".join(line.split()) for line in text.splitlines()) if p]
    if paragraphs and drop_first and paragraphs[0] == drop_first and len(paragraphs) > 1:
        paragraphs = paragraphs[1:]
    return "\n\n".join(paragraphs)


def _declared_language(tree: HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        meta = tree.xpath('//meta[translate(@http-equiv,"CONTENT-LANGUAGE","content-language")="content-language"]/@content')
        lang = meta[0] if meta else None
    return lang.strip().split(",")[0].lower()[:16] or None if lang else None


def _canonical_link(tree: HtmlElement) -> str | None:
    hrefs = tree.xpath('//link[contains(concat(" ", translate(@rel,"CANONICAL","canonical"), " "), " canonical ")]/@href')
    return hrefs[0].strip() or None if hrefs else None
