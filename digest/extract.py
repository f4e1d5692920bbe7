"""Main text and metadata from article pages (trafilatura) and article files.

HTML goes through trafilatura with its metadata (title, author, site name, date): its main
extractor and htmldate's quick date search first, its fallback extractors and the deep date
search only for pages where those come up short. The steps live beside this module: parsing
(`page_load`), the main text (`main_text`), the metadata and dates (`page_metadata`). Plain
text dumps of pages keep the site's chrome around the story; `chrome` tells it from the story.
"""

from __future__ import annotations

from pathlib import Path

from digest import chrome
from digest.errors import DigestError
from digest.main_text import EXTRACTION_SETTINGS, chars, main_text
from digest.models import Extracted
from digest.page_load import load_page
from digest.page_metadata import canonical_link, declared_language, metadata, parse_date

__all__ = ["ARTICLE_SUFFIXES", "EXTRACTION_SETTINGS", "ExtractError", "extract_file", "extract_html",
           "extract_text_dump", "parse_date"]

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
ARTICLE_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES

# Less text than this (spaces aside: some scripts use none) is a menu or a stub left by the
# fallback extractors, not an article.
MIN_CHARS = 25


class ExtractError(DigestError):
    """No main text could be found; the message names the URL or file."""


def extract_html(html: str | bytes, url: str | None = None, *, fast: bool = False,
                 with_date: bool = True) -> Extracted:
    """The main text and metadata of one page.

    trafilatura's main extractor and htmldate's quick date search run first; its fallback
    extractors run only when that text comes up short (`main_text.needs_fallback`), and the deep date
    search only when the quick one finds no date or no time of day. `fast` never runs the
    fallback extractors. Without `with_date` (the caller has the date already, from a feed)
    there is no date search: on a page whose markup gives none it is most of the cost."""
    where = url or "<html>"
    tree = load_page(html)
    if tree is None:
        raise ExtractError(f"{where}: not an HTML document")
    try:
        doc = main_text(tree, url, fast=fast)
        meta = metadata(tree, url, with_date=with_date)
    except (ValueError, TypeError, AttributeError) as exc:  # trafilatura's own failures on odd markup
        raise ExtractError(f"{where}: extraction failed: {exc}") from exc
    found = chars(doc)
    if found < MIN_CHARS:
        raise ExtractError(f"{where}: no main text found ({found} characters)")
    return Extracted(
        title=meta.title or "",
        text=_tidy(doc.text, drop_first=meta.title or ""),
        published=parse_date(meta.date),
        author=meta.author or None,
        sitename=meta.sitename or None,
        language=declared_language(tree),
        canonical_url=canonical_link(tree),
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
    drop, end = chrome.chrome_patterns()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    banner_date = next((d for line in lines[:5] if (d := chrome.banner_date(line, drop))), None)
    start = next((i for i, line in enumerate(lines) if chrome.is_paragraph(line) and not chrome.matches(line, drop)),
                 None)
    if start is None:
        raise ExtractError(f"{where}: no article text found (no paragraph of {chrome.PARAGRAPH_WORDS}+ words)")
    header = [line for line in lines[:start] if line and not chrome.matches(line, drop)]
    body: list[str] = []
    for line in lines[start:]:
        if chrome.matches(line, end):
            break
        if line and not chrome.matches(line, drop):
            body.append(line)
    return Extracted(title=chrome.headline(header, lines[:start], drop) or fallback_title,
                     text="\n\n".join(body), published=banner_date)


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
