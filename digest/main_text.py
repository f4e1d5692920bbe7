"""The main text of a page: trafilatura's extraction cascade for the project's settings,
its main extractor first and its fallback extractors only where that comes up short."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from copy import copy

from lxml.etree import XPath, _Element
from lxml.html import HtmlElement
from trafilatura.core import _forum_thread_page
from trafilatura.external import compare_extraction
from trafilatura.htmlprocessing import convert_tags, prune_unwanted_nodes, tree_cleaning
from trafilatura.main_extractor import extract_content
from trafilatura.settings import Document, Extractor
from trafilatura.xml import delete_element, xmltotxt
from trafilatura.xpaths import (
    RAW_TREE_PRUNE_XPATH,
    REMOVE_COMMENTS_AND_LISTS_XPATH,
    REMOVE_COMMENTS_XPATH,
    TEASER_DISCARD_XPATH,
)

from digest import regex_xpaths

# trafilatura's expressions answer their regular-expression tests more cheaply (same matches)
regex_xpaths.install()

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
# trafilatura's tests of its main extractor's result, answered in C (no list of strings made)
_HAS_PARAGRAPH_TEXT = XPath("boolean(.//p//text())")
_MOSTLY_TABLES = XPath("count(.//table) > count(.//p)")


def _may_match(expressions: list[XPath], sha1: str, *, ids: tuple[str, ...], classes: tuple[str, ...]) -> XPath | None:
    """A test of whether trafilatura's `expressions` can match anything in a tree: every pattern they
    test on an id or class needs one of these fragments in it. One pass in C, against callbacks into
    Python's regular expressions for every element. None (always run them) when the expressions are
    not the ones the fragments were read from (their source's SHA-1): another trafilatura version."""
    source = "".join(" ".join(regex_xpaths.original(expression).path.split()) for expression in expressions)
    if hashlib.sha1(source.encode()).hexdigest() != sha1:
        return None

    def holds(fragments: tuple[str, ...]) -> str:
        return " or ".join(f"contains(., '{fragment}')" for fragment in fragments)
    return XPath(f"boolean(//@id[{holds(ids)}]) or boolean(//@class[{holds(classes)}])")


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

def main_text(tree: HtmlElement, url: str | None, *, fast: bool) -> Document | None:
    """The main extractor's text, or the full cascade's where it comes up short (never with `fast`);
    the pruned copy of the page goes when this returns, before the metadata is read."""
    main = MainText(tree, url)
    doc = main.fast()
    return (main.full() or doc) if not fast and needs_fallback(doc, tree) else doc


class MainText:
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
        # trafilatura's raw-tree pruning. (Tested before the appended articles go, the comment test
        # may say yes more often than trafilatura's order would: then its prune runs, as it may.)
        appended = _MAY_BE_APPENDED is None or _MAY_BE_APPENDED(tree)
        self.comments = _MAY_BE_COMMENTS is None or _MAY_BE_COMMENTS(tree)
        self.raw = _pruned(tree, (RAW_TREE_PRUNE_XPATH if appended else [])
                           + (REMOVE_COMMENTS_AND_LISTS_XPATH if self.comments else []))
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


def _pruned(tree: HtmlElement, expressions: list[XPath]) -> HtmlElement:
    """trafilatura's `prune_unwanted_nodes(copy(tree), expressions)`, copying the page only once an
    expression finds something to delete (the page stays whole for the metadata; the later steps
    work on copies of the result, so most pages are not copied here)."""
    pruned = tree
    for expression in expressions:
        found = expression(pruned)
        if found and pruned is tree:
            paths = [_child_path(tree, element) for element in found]
            pruned = copy(tree)
            found = [_follow(pruned, path) for path in paths]
        for element in found:
            delete_element(element)  # as prune_unwanted_nodes does: the tail text is kept
    return pruned


def _child_path(root: _Element, element: _Element) -> list[int]:
    """The child indexes leading from `root` down to `element`."""
    path = []
    while element is not root:
        parent = element.getparent()
        path.append(parent.index(element))
        element = parent
    return path[::-1]


def _follow(root: _Element, path: list[int]) -> _Element:
    for index in path:
        root = root[index]
    return root


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


def chars(doc: Document | None) -> int:
    return len("".join((doc.text or "").split())) if doc is not None else 0


def needs_fallback(doc: Document | None, tree: HtmlElement) -> bool:
    """Whether trafilatura's fallback extractors could improve on its main extractor."""
    if doc is None or len(doc.raw_text or "") < _FALLBACK_BELOW_CHARS:
        return True
    body = doc.body
    if not _HAS_PARAGRAPH_TEXT(body) or _MOSTLY_TABLES(body):
        return True
    return len(doc.raw_text) < _FALLBACK_SHORT_CHARS and \
        len(doc.raw_text) < _FALLBACK_PAGE_SHARE * sum(len(" ".join(t.split())) for t in _VISIBLE_TEXT(tree))
