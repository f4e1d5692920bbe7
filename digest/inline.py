"""CSS inlining (premailer, offline) and a model of the inlined size of a document.

Fitting a message to its size budget needs the inlined size of many candidate documents,
and inlining costs far more than rendering. Inlining only changes attributes (the style
attribute and the HTML attributes premailer derives from it) and uses up the stylesheets
in the head; for selectors that look at an element itself (tag, class), what it adds to an
element depends on that element's own markup. So one inlined document that holds every
kind of element tells what inlining adds to each kind (`InlineSize.learn`), and the
inlined size of a document built from the same kinds and the same head is its serialized
size plus those additions (`InlineSize.predict`), with no premailer run.

The same holds for inlining itself when the rules select by tag and class alone: then
premailer runs on one specimen of each kind of element (`_inline_by_kind`) and every other
element gets what its kind got, which on a page of thousands of stories saves most of
premailer's time and memory (it keeps a record per styled element).
"""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cssutils
from lxml import etree
from premailer import Premailer
from premailer.premailer import FILTER_PSEUDOSELECTORS

# An element kind: tag, class, its own style attribute and which attributes it carries.
Kind = tuple[str, str | None, str | None, tuple[str, ...]]
# What inlining did to one kind of element: (attribute, value before, value after), None for absent.
Change = tuple[tuple[str, str | None, str | None], ...]
CHUNK_CHARS = 1 << 16  # fed to the parser at a time: few calls, and no page-sized string
OPENING_CHARS = 1024  # of a document, kept to see whether it begins with its doctype
# A selector that looks at nothing but the element's own tag and classes.
_OWN_MARKUP = re.compile(r"[A-Za-z][\w-]*(\.[\w-]+)*|(\.[\w-]+)+")


def inline_css(document: str | Parsed) -> str:
    """premailer, offline: rules from plain <style> blocks go into style attributes; blocks
    marked data-premailer="ignore" (media queries, dark mode) are kept verbatim.

    When every inlined rule selects by tag and class alone, premailer runs on one specimen
    of each kind of element and the others get the specimen's attributes (`_inline_by_kind`): the
    same document, without premailer's per-element bookkeeping on a page of thousands.
    """
    parsed = _parsed(document)  # a Parsed one is inlined in place, then taken apart
    if _inline_by_kind(parsed.tree) is None:
        _premailer(parsed.tree.getroot()).transform(pretty_print=False)  # in place
    return _written_out(parsed.node)


def _premailer(document: Any) -> Premailer:  # noqa: ANN401 - a str or an lxml tree
    return Premailer(
        document,
        allow_network=False,
        allow_loading_external_files=False,
        disable_link_rewrites=True,
        remove_classes=False,  # the kept media queries and dark-mode rules select by class
        keep_style_tags=False,
        strip_important=True,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        method="html",
    )


@dataclass(frozen=True)
class Parsed:
    """A document as premailer parses it: the tree, the node premailer serializes (the tree,
    doctype included, when the document begins with its doctype, else the root) and the
    document's size in UTF-8 bytes."""

    tree: etree._ElementTree
    node: Any
    size: int


def parse(pieces: Iterable[str]) -> Parsed:
    """The document the pieces make up (a template's stream), parsed as they come in chunks
    of UTF-8, so that a large page never exists as one string next to its tree."""
    parser = etree.HTMLParser(encoding="utf-8")
    opening, size, chunk, held = "", 0, [], 0

    def feed() -> None:
        nonlocal opening, size, held
        text = "".join(chunk)
        chunk.clear()
        held = 0
        opening = opening or text.lstrip()[:OPENING_CHARS]
        data = text.encode("utf-8")
        size += len(data)
        parser.feed(data)

    for piece in pieces:
        chunk.append(piece)
        held += len(piece)
        if held >= CHUNK_CHARS:
            feed()
    feed()
    tree = parser.close().getroottree()
    # as premailer does: the doctype is written back only when the document had one
    return Parsed(tree, tree if opening.startswith(tree.docinfo.doctype) else tree.getroot(), size)


def _parsed(document: str | Parsed) -> Parsed:
    return parse((document,)) if isinstance(document, str) else document


def _outside_head(tree: etree._ElementTree) -> Iterator[etree._Element]:
    """Every element but the head's, the root first. A template's pages share their head,
    and inlining changes it as a whole (stylesheets used up), not element by element."""
    root = tree.getroot()
    yield root
    for child in root:
        if child.tag != "head":
            yield from (element for element in child.iter() if isinstance(element.tag, str))


@lru_cache(maxsize=32)
def _selects_by_own_markup(css: str) -> bool:
    """Whether every rule premailer would inline from `css` selects by tag and class alone.
    Pseudo-classes other than premailer's filters (:first-child …) stay in the head and `*`
    rules are not inlined, as premailer does."""
    for rule in cssutils.parseString(css, validate=False):
        if rule.type != rule.STYLE_RULE:
            continue  # @media and the like stay in the head
        for selector in filter(None, (part.strip() for part in rule.selectorText.split(","))):
            kept_in_head = ":" in selector and ":" + selector.split(":", 1)[1] not in FILTER_PSEUDOSELECTORS
            if not (kept_in_head or "*" in selector or selector.startswith(":") or _OWN_MARKUP.fullmatch(selector)):
                return False
    return True


def _change(before: Mapping[str, str], after: Mapping[str, str]) -> Change:
    """The attributes set (in the order they stand after) and removed."""
    names = [*after.keys(), *(name for name in before.keys() if name not in after)]
    return tuple((name, before.get(name), after.get(name)) for name in names if before.get(name) != after.get(name))


def _inline_by_kind(tree: etree._ElementTree) -> dict[Kind, Change] | None:
    """Inline `tree` in place by kind of element: premailer on the head, the root and the
    body holding, for that pass, one specimen of each kind of its elements alone; then each
    element gets its kind's change. Returns the change of every kind outside the head, or
    None (the tree left as it was) when what an element gets could depend on more than its
    own markup: a rule not by tag and class alone, or a stylesheet outside the head."""
    root = tree.getroot()
    head, body = root.find("head"), root.find("body")
    if head is None or body is None or any(child not in (head, body) for child in root if isinstance(child.tag, str)):
        return None
    stylesheets = list(root.iter("style"))
    if any(style.getparent() is not head for style in stylesheets) or not all(
            _selects_by_own_markup(style.text or "") for style in stylesheets
            if style.get("data-premailer") != "ignore" and (style.get("media") or "all") in ("all", "screen")):
        return None
    content = list(body)
    exemplars: dict[Kind, etree._Element] = {}
    for child in content:
        for element in child.iter():
            if isinstance(element.tag, str):
                exemplars.setdefault(_kind(element), element)
    own = {_kind(element): (element, dict(element.attrib)) for element in (root, body)}
    for child in content:
        body.remove(child)  # its tail text goes with it, and comes back with it
    specimens = {kind: etree.SubElement(body, element.tag, dict(element.attrib)) for kind, element in exemplars.items()}
    try:
        _premailer(root).transform(pretty_print=False)  # in place
    finally:
        for specimen in specimens.values():
            body.remove(specimen)
        body.extend(content)
    changes = {kind: _change(exemplars[kind].attrib, specimen.attrib) for kind, specimen in specimens.items()}
    changes.update((kind, _change(before, element.attrib)) for kind, (element, before) in own.items())
    for child in content:
        for element in child.iter():
            if isinstance(element.tag, str):
                for name, _, value in changes[_kind(element)]:
                    if value is None:
                        del element.attrib[name]
                    else:
                        element.set(name, value)
    return changes


class _Count:
    """A file that keeps only the number of bytes written to it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)


def _serialize(node: Any, file: io.BytesIO | _Count) -> None:  # noqa: ANN401 - an lxml tree or element
    """lxml's HTML serialization in UTF-8, as premailer makes it. A tree is written out in
    chunks, not built in one growing buffer that is then copied (twice the page at once)."""
    if isinstance(node, etree._ElementTree):
        node.write(file, method="html", encoding="utf-8")
    else:
        file.write(etree.tostring(node, method="html", encoding="utf-8"))


def _written_out(node: Any) -> str:  # noqa: ANN401 - an lxml tree or element
    """The node's serialization (`_serialize`) as text, taking the tree apart as it goes: the
    element with the most children (a page's stories) has them written out one by one, each
    taken out of the tree once written, so that the text reuses the memory the tree gives
    back; then the rest of the page, around a marker where they were."""
    root = node.getroot() if isinstance(node, etree._ElementTree) else node
    container = max(root.iter(etree.Element), key=len)
    pieces = []
    while (child := next(iter(container), None)) is not None:
        pieces.append(etree.tostring(child, method="html", encoding="utf-8").decode("utf-8"))  # with its tail
        container.remove(child)
    marker = f"<!--{secrets.token_hex(12)}-->"
    container.append(etree.Comment(marker[4:-3]))
    rest = io.BytesIO()
    _serialize(node, rest)
    before, after = rest.getvalue().decode("utf-8").split(marker)
    return "".join([before, *pieces, after])


def _serialized_size(node: Any) -> int:  # noqa: ANN401 - an lxml tree or element
    count = _Count()
    _serialize(node, count)
    return count.bytes


def _kind(element: etree._Element) -> Kind:
    return element.tag, element.get("class"), element.get("style"), tuple(sorted(element.attrib.keys()))


def _attribute_bytes(name: str, value: str) -> int:
    """Bytes one attribute takes in lxml's HTML serialization (escaping included)."""
    bare = etree.Element("x")
    bare.set(name, value)
    return _serialized_size(bare) - len(b"<x></x>")


def _change_bytes(change: Change | None) -> int:
    """Bytes a change adds to an element's serialization."""
    return sum((_attribute_bytes(name, new) if new is not None else 0)
               - (_attribute_bytes(name, old) if old is not None else 0) for name, old, new in change or ())


@dataclass(frozen=True)
class InlineSize:
    """What inlining adds to each kind of element outside the head, and to the rest of the
    document (the head, which every page of a template shares), learnt from one document."""

    added: dict[Kind, int]
    fixed: int

    @classmethod
    def learn(cls, document: str | Parsed) -> InlineSize | None:
        """One inlining pass over `document` (a Parsed one is inlined in place). None when
        elements of one kind were inlined differently (selectors that look at context): the
        model would not hold."""
        tree, node = (parsed := _parsed(document)).tree, parsed.node
        head = tree.getroot().find("head")
        head_bytes = _serialized_size(head) if head is not None else 0
        changes = _inline_by_kind(tree)
        if changes is not None:  # each kind changed alike, by construction
            return cls({kind: _change_bytes(change) for kind, change in changes.items()},
                       _serialized_size(head) - head_bytes)
        serialized = _serialized_size(node)
        before = [(element, _kind(element), dict(element.attrib)) for element in _outside_head(tree)]
        _premailer(tree.getroot()).transform(pretty_print=False)  # in place
        seen: dict[Kind, Change | None] = {}
        added: dict[Kind, int] = {}
        total = 0
        for element, kind, attributes in before:
            used_up = element.getparent() is None and element is not tree.getroot()  # a stylesheet
            change = None if used_up else _change(attributes, element.attrib)
            if kind not in seen:
                seen[kind], added[kind] = change, _change_bytes(change)
            elif seen[kind] != change:
                return None
            total += added[kind]
        return cls(added, _serialized_size(node) - serialized - total)

    def predict(self, document: str | Parsed) -> int | None:
        """The inlined size of `document` in UTF-8 bytes; None when it has a kind of
        element the learnt document had not."""
        tree, node = (parsed := _parsed(document)).tree, parsed.node
        added = 0
        for element in _outside_head(tree):
            grows = self.added.get(_kind(element))
            if grows is None:
                return None
            added += grows
        return _serialized_size(node) + added + self.fixed
