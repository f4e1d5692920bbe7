"""Main text and metadata from article pages (trafilatura) and article files.

HTML goes through trafilatura with its metadata (title, author, site name, date): its
main extractor and htmldate's quick date search first, its fallback extractors and the deep
date search only for pages where those come up short. Plain text dumps of pages keep the site's chrome around the story (date banners, breadcrumbs,
share buttons, credits, "related posts"); the line patterns in `data/chrome_lines.txt`
remove it, and the headline is found from the page's own structure, not from a list.
"""

from __future__ import annotations

import hashlib
import re
from codecs import getincrementaldecoder
from collections.abc import Callable
from copy import copy
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from dateutil import parser as dateparser
from htmldate import find_date
from lxml import etree
from lxml.etree import XPath, _Element
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction, fromstring
from trafilatura.core import _forum_thread_page
from trafilatura.external import compare_extraction
from trafilatura.htmlprocessing import convert_tags, prune_unwanted_nodes, tree_cleaning
from trafilatura.main_extractor import extract_content
from trafilatura.metadata import (
    META_URL,
    examine_meta,
    extract_author,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import Document, Extractor
from trafilatura.utils import decode_file, handle_compressed_file, is_dubious_html, repair_faulty_html
from trafilatura.xml import xmltotxt
from trafilatura.xpaths import (
    RAW_TREE_PRUNE_XPATH,
    REMOVE_COMMENTS_AND_LISTS_XPATH,
    REMOVE_COMMENTS_XPATH,
    TEASER_DISCARD_XPATH,
)

from digest.errors import DigestError
from digest.models import Extracted

CHROME_FILE = Path(__file__).resolve().parent / "data" / "chrome_lines.txt"
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
ARTICLE_SUFFIXES = HTML_SUFFIXES | TEXT_SUFFIXES

# Chosen by benchmarks/bench_extract.py on extraction-dev (see benchmarks/RESULTS-collect.md):
# favor_precision without comments scored F1 0.965 against 0.924 for the library defaults
# (recall-leaning settings keep captions and link lists).
EXTRACTION_SETTINGS: dict[str, object] = {"favor_precision": True, "include_comments": False,
                                          "include_tables": True}
# The same settings as trafilatura's options, built once (reading its configuration costs more
# than some pages' extraction); per page only the URL changes.
_OPTIONS = {fast: Extractor(output_format="python", fast=fast, precision=EXTRACTION_SETTINGS["favor_precision"],
                            comments=EXTRACTION_SETTINGS["include_comments"],
                            tables=EXTRACTION_SETTINGS["include_tables"])
            for fast in (True, False)}

# Less text than this (spaces aside: some scripts use none) is a menu or a stub left by the
# fallback extractors, not an article.
MIN_CHARS = 25

# Keep the time of day when the page gives one (htmldate's default output is the date only).
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_DATE_PARAMS = {"extensive_search": True, "original_date": True, "outputformat": _DATE_FORMAT}

# trafilatura's main extractor is trusted alone unless its result is one its fallbacks
# (readability, justext) could replace: less text than its own minimum, text without
# paragraphs or mostly tables, or a short text covering little of the page (its own gates
# for the justext rescue, the readability override and the recall escalation).
_FALLBACK_BELOW_CHARS = 250  # trafilatura's MIN_EXTRACTED_SIZE
_FALLBACK_SHORT_CHARS = 3000  # its ESCALATION_MAX_LENGTH ...
_FALLBACK_PAGE_SHARE = 0.2  # ... and ESCALATION_PAGE_SHARE
# The page's text for that share: a cheaper measure than trafilatura's html2txt, and a larger
# one (menus count), so it errs towards running the fallbacks.
# Text nodes of spaces alone count for nothing: the test for them (in C) saves making Python strings of them.
_VISIBLE_TEXT = XPath("//body/descendant::text()[normalize-space()]"
                      "[not(ancestor::script or ancestor::style or ancestor::noscript)]", smart_strings=False)

# What trafilatura's load_html scrubs (INVALID_XML_CHARS): control characters, as UTF-8 bytes,
# and two noncharacters.
_CONTROL_BYTES = bytes(sorted(set(range(0x20)) - {0x09, 0x0A, 0x0D}))
_NONCHARACTERS = ("\ufffe", "\uffff")
_NONCHARACTER_BYTES = tuple(nonchar.encode() for nonchar in _NONCHARACTERS)
_UTF8_SLICE = 8192
_REPAIRED_PREFIX = 4096  # how far its repairs look (the first lines, within 4096 characters)

# trafilatura's parser (HTML_PARSER) with a class lookup done in C: lxml.html's own calls Python for
# every element Python touches (a few thousand per page), only to pick form-field classes
# trafilatura never uses.
_PARSER = etree.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                           remove_pis=True)
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))

# trafilatura's author search (extract_author) runs three XPath expressions with regular
# expressions called back into Python on every element. They only test an element's own name
# and attributes, so a page none of whose attribute values holds one of their fragments has no
# author for them to find: one pass over the values says so first.
_AUTHOR_ATTRIBUTES = XPath("//@class|//@id|//@itemprop|//@rel|//@data-testid|//@data-component|//author|//rel",
                           smart_strings=False)
_AUTHOR_FRAGMENTS = re.compile(r"uthor|byl|Byl|BBL|username|zuozhe|bianji|xiaobian|channel-name|submitted-by"
                               r"|posted-by|journalist-name|screenname|writer")


def _may_match(expressions: list[XPath], sha1: str, *, ids: tuple[str, ...], classes: tuple[str, ...]) -> XPath | None:
    """A test of whether trafilatura's `expressions` can match anything in a tree: every pattern they
    test on an id or class needs one of these fragments in it. One pass in C, against callbacks into
    Python's regular expressions for every element. None (always run them) when the expressions are
    not the ones the fragments were read from (their source's SHA-1): another trafilatura version."""
    source = "".join(" ".join(expression.path.split()) for expression in expressions)
    if hashlib.sha1(source.encode()).hexdigest() != sha1:
        return None

    def holds(fragments: tuple[str, ...]) -> str:
        return " or ".join(f"contains(., '{fragment}')" for fragment in fragments)
    return XPath(f"boolean(//@id[{holds(ids)}] | //@class[{holds(classes)}])")


# trafilatura 2.3's prunes of infinite-scroll containers and share buttons ('mvp-post-add-(?:box|wrap)|
# infinite-?scroll', 'elementor-share-buttons'), and of comment sections ('^(?:[Cc]omment(?!ary)|comol|
# disqus_thread|dsq-comments)' on ids, '^[Cc]omment(?!ary)|(?:article|post)-comments' on classes), the
# latter on the raw page (with comment lists) and again after cleaning, which adds no id or class.
_MAY_BE_APPENDED = _may_match(RAW_TREE_PRUNE_XPATH, "47b53ddb7e1300abcc47cb3a102351af77844bcb",
                              ids=("mvp-post-add-", "infinite"),
                              classes=("mvp-post-add-", "infinite", "elementor-share-buttons"))
_MAY_BE_COMMENTS = _may_match(REMOVE_COMMENTS_AND_LISTS_XPATH + REMOVE_COMMENTS_XPATH,
                              "f75643ca19a3c0ebe94f83444e95e5ecf540a2ca",
                              ids=("omment", "comol", "disqus_thread", "dsq-comments"), classes=("omment",))
# Its teaser blocks ("teaser" in an id or class, T or t): a seventh of its expression's cost.
_MAY_HAVE_TEASERS = _may_match(TEASER_DISCARD_XPATH, "c0b22696021e35a700ccbfc5a1cae802f6089143",
                               ids=("easer",), classes=("easer",))

# A line that reads like body text, not a label: enough words and a sentence ending.
_PARAGRAPH = re.compile(r".*[.!?…:;\"'”’»)]$")
_PARAGRAPH_WORDS = 12


class ExtractError(DigestError):
    """No main text could be found; the message names the URL or file."""


def extract_html(html: str | bytes, url: str | None = None, *, fast: bool = False,
                 with_date: bool = True) -> Extracted:
    """The main text and metadata of one page.

    trafilatura's main extractor and htmldate's quick date search run first; its fallback
    extractors run only when that text comes up short (`_needs_fallback`), and the deep date
    search only when the quick one finds no date or no time of day. `fast` never runs the
    fallback extractors. Without `with_date` (the caller has the date already, from a feed)
    there is no date search: on a page whose markup gives none it is most of the cost."""
    where = url or "<html>"
    tree = _load(html)
    if tree is None:
        raise ExtractError(f"{where}: not an HTML document")
    try:
        doc = _main_text(tree, url, fast=fast)
        meta = _metadata(tree, url, with_date=with_date)
    except (ValueError, TypeError, AttributeError) as exc:  # trafilatura's own failures on odd markup
        raise ExtractError(f"{where}: extraction failed: {exc}") from exc
    found = _chars(doc)
    if found < MIN_CHARS:
        raise ExtractError(f"{where}: no main text found ({found} characters)")
    return Extracted(
        title=meta.title or "",
        text=_tidy(doc.text, drop_first=meta.title or ""),
        published=parse_date(meta.date),
        author=meta.author or None,
        sitename=meta.sitename or None,
        language=_declared_language(tree),
        canonical_url=_canonical_link(tree),
    )


def _load(html: str | bytes) -> HtmlElement | None:
    """trafilatura's `load_html` (same decoding, repairs and tree), handing the page to
    libxml2 as UTF-8 bytes: parsing a Python str and scrubbing control characters with a
    regex cost 3-5x as much on large pages. Its repairs of the doctype and of a
    self-closing <html/> look at the first lines only, so they run on those, and control
    characters go from the bytes (one C pass). Bytes that need none of it go as they are."""
    untouched = _untouched_utf8(html) if isinstance(html, bytes) else None
    if untouched is not None:
        data, beginning = html, untouched
    else:
        text = decode_file(html)
        beginning = text[:50].lower()
        first_break = text.find("\n")  # the doctype repair rewrites the first line: keep it whole
        cut = len(text) if first_break < 0 else max(first_break + 1, _REPAIRED_PREFIX)
        head = text[:cut]
        repaired = repair_faulty_html(head, beginning)
        # most pages need no repair: then no copy of the rest (megabytes on some pages)
        text = text if repaired == head else repaired + text[cut:]
        # looked for in the str, where a page without characters beyond U+00FF answers at once
        for nonchar in _NONCHARACTERS:
            if nonchar in text:
                text = text.replace(nonchar, "")
        data = text.encode("utf-8", "surrogatepass")
    try:
        tree = fromstring(data.translate(None, _CONTROL_BYTES), parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None
    # trafilatura's test of whether it is HTML at all
    return None if is_dubious_html(beginning) and len(tree) < 2 else tree


def _untouched_utf8(data: bytes) -> str | None:
    """The page's first 50 characters, lower-cased (trafilatura's test of whether it is HTML), when
    `_load`'s decoding and repairs would give its bytes back unchanged: valid UTF-8, not compressed,
    no noncharacter, nothing to repair in its first lines. Most pages arrive so, and then are
    neither decoded whole (a str of megabytes: 6-14 ms for the 2.5 MB pages, against about 1 ms
    for these checks) nor encoded again. None otherwise."""
    if handle_compressed_file(data) is not data or not _is_utf8(data) or any(n in data for n in _NONCHARACTER_BYTES):
        return None
    first_break = data.find(b"\n")
    if first_break < 0:
        return None  # the doctype repair would look at the whole page: left to the full path
    # the repairs' characters (the first line, and at least the first 4096), decoded from enough
    # bytes for them (4 at most each; a character cut at the end is held back by the decoder)
    decoder = getincrementaldecoder("utf-8")()
    prefix = decoder.decode(data[:max(first_break + 1, 4 * _REPAIRED_PREFIX + 4)])
    head = prefix[:max(prefix.find("\n") + 1, _REPAIRED_PREFIX)]
    beginning = head[:50].lower()
    return beginning if repair_faulty_html(head, beginning) == head else None


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8, decoded in slices: one str of the whole page costs several
    times more (its width is set by its widest character)."""
    if data.isascii():
        return True
    decoder = getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), _UTF8_SLICE):
            decoder.decode(data[start:start + _UTF8_SLICE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _main_text(tree: HtmlElement, url: str | None, *, fast: bool) -> Document | None:
    """The main extractor's text, or the full cascade's where it comes up short (never with `fast`);
    the pruned copy of the page goes when this returns, before the metadata is read."""
    main = _MainText(tree, url)
    doc = main.fast()
    return (main.full() or doc) if not fast and _needs_fallback(doc, tree) else doc


class _MainText:
    """trafilatura's extraction cascade (`bare_extraction` and `core.trafilatura_sequence`)
    for the project's settings, in two steps: its main extractor alone (`fast`), then, when
    that comes up short, the comparison with its fallback extractors (`full`), which reuses
    the pruned page and the main extractor's result instead of running them a second time.
    With precision on and comments off the cascade has no further stages (the baseline rescue
    and the recall escalation are for other settings). `tests/test_extract.py` checks that
    both steps give what `bare_extraction` gives, so that a new trafilatura is noticed."""

    def __init__(self, tree: HtmlElement, url: str | None) -> None:
        self.url = url
        self.is_forum = _forum_thread_page(tree)
        # trafilatura's raw-tree pruning, on a copy: the page stays whole for the metadata
        raw = copy(tree)
        if _MAY_BE_APPENDED is None or _MAY_BE_APPENDED(raw):
            raw = prune_unwanted_nodes(raw, RAW_TREE_PRUNE_XPATH)
        self.comments = _MAY_BE_COMMENTS is None or _MAY_BE_COMMENTS(raw)
        self.raw = prune_unwanted_nodes(raw, REMOVE_COMMENTS_AND_LISTS_XPATH) if self.comments else raw
        self.first: tuple[_Element, str] | None = None
        self.teasers = False

    def fast(self) -> Document | None:
        """The main extractor's text (trafilatura's fast mode)."""
        options = self._options(fast=True)
        cleaned = self._converted(options)
        # the only difference between the main extractor's fast and full modes: its recovery of
        # short texts keeps teaser blocks in fast mode. Pruning only deletes, so a page with none
        # to begin with gives the same result in both.
        self.teasers = (_MAY_HAVE_TEASERS is None or _MAY_HAVE_TEASERS(cleaned)) and \
            any(expression(cleaned) for expression in TEASER_DISCARD_XPATH)
        self.first = _safely(lambda: extract_content(cleaned, options))
        return _document(self.first, options)

    def full(self) -> Document | None:
        """The text of trafilatura's full cascade (its main extractor against readability and
        justext), after `fast` or without it."""
        options = self._options(fast=False)
        first = self.first
        if first is None or self.teasers:
            first = _safely(lambda: extract_content(self._converted(options), options))
        if first is None:
            return None
        backup = tree_cleaning(copy(self.raw), options)  # justext's input: cleaned, not converted
        return _document(_safely(lambda: compare_extraction(backup, copy(self.raw), *first, options)), options)

    def _options(self, *, fast: bool) -> Extractor:
        options = copy(_OPTIONS[fast])
        options.url = options.source = self.url
        return options

    def _converted(self, options: Extractor) -> HtmlElement:
        cleaned = convert_tags(tree_cleaning(copy(self.raw), options), options, self.url)
        return prune_unwanted_nodes(cleaned, REMOVE_COMMENTS_XPATH) if self.comments and not self.is_forum else cleaned


def _safely(step: Callable[[], tuple[_Element, str]]) -> tuple[_Element, str] | None:
    """A cascade step, or None where trafilatura's `bare_extraction` gives up on the page."""
    try:
        return step()
    except (TypeError, ValueError):
        return None


def _document(found: tuple[_Element, str] | None, options: Extractor) -> Document | None:
    """The body and text as `bare_extraction` returns them (its size check; no comments)."""
    if found is None or len(found[1]) < options.min_output_size:
        return None
    doc = Document()
    doc.body = found[0]
    doc.text = doc.raw_text = xmltotxt(found[0], options.formatting)
    return doc


def _chars(doc: Document | None) -> int:
    return len("".join((doc.text or "").split())) if doc is not None else 0


def _needs_fallback(doc: Document | None, tree: HtmlElement) -> bool:
    """Whether trafilatura's fallback extractors could improve on its main extractor."""
    if doc is None or len(doc.raw_text or "") < _FALLBACK_BELOW_CHARS:
        return True
    body = doc.body
    if not body.xpath(".//p//text()") or len(body.findall(".//table")) > len(body.findall(".//p")):
        return True
    return len(doc.raw_text) < _FALLBACK_SHORT_CHARS and \
        len(doc.raw_text) < _FALLBACK_PAGE_SHARE * sum(len(" ".join(t.split())) for t in _VISIBLE_TEXT(tree))


def _metadata(tree: HtmlElement, url: str | None, *, with_date: bool = True) -> Document:
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
    quick = find_date(tree, url=url, **{**_DATE_PARAMS, "extensive_search": False})
    if quick and not quick.endswith("T00:00:00"):
        return quick
    return find_date(tree, url=url, **_DATE_PARAMS) or quick


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
