"""CSS inlining (premailer, offline) and a model of the inlined size of a document.

Fitting a message to its size budget needs the inlined size of many candidate documents,
and inlining costs far more than rendering. Inlining only changes attributes (the style
attribute and the HTML attributes premailer derives from it) and uses up the stylesheets
in the head; for selectors that look at an element itself (tag, class), what it adds to an
element depends on that element's own markup. So one inlined document that holds every
kind of element tells what inlining adds to each kind (`InlineSize.learn`), and the
inlined size of a document built from the same kinds and the same head is its serialized
size plus those additions (`InlineSize.predict`), with no premailer run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from lxml import etree
from premailer import Premailer

# An element kind: tag, class, its own style attribute and which attributes it carries.
Kind = tuple[str, str | None, str | None, tuple[str, ...]]


def inline_css(document: str) -> str:
    """premailer, offline: rules from plain <style> blocks go into style attributes; blocks
    marked data-premailer="ignore" (media queries, dark mode) are kept verbatim."""
    return _premailer(document).transform(pretty_print=False)


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


def _parse(document: str) -> tuple[etree._ElementTree, Any]:
    """The tree premailer builds from a string, and the node it serializes."""
    stripped = document.strip()
    tree = etree.fromstring(stripped, etree.HTMLParser()).getroottree()
    # as premailer does: the doctype is written back only when the document had one
    return tree, tree if stripped.startswith(tree.docinfo.doctype) else tree.getroot()


def _serialized_size(node: Any) -> int:  # noqa: ANN401 - an lxml tree or element
    return len(etree.tostring(node, method="html", encoding="utf-8"))


def _kind(element: etree._Element) -> Kind:
    return element.tag, element.get("class"), element.get("style"), tuple(sorted(element.attrib.keys()))


def _attribute_bytes(name: str, value: str) -> int:
    """Bytes one attribute takes in lxml's HTML serialization (escaping included)."""
    bare = etree.Element("x")
    bare.set(name, value)
    return _serialized_size(bare) - len(b"<x></x>")


@dataclass(frozen=True)
class InlineSize:
    """What inlining adds to each kind of element, learnt from one inlined document."""

    inlined_bytes: int  # the learnt document, inlined
    serialized_bytes: int  # the same document parsed and serialized, not inlined
    added_bytes: int  # what inlining added to its elements
    added: dict[Kind, int]

    @classmethod
    def learn(cls, document: str) -> InlineSize | None:
        """One inlining pass over `document`. None when elements of one kind were inlined
        differently (selectors that look at context): the model would not hold."""
        tree, node = _parse(document)
        serialized = _serialized_size(node)
        before = [(element, _kind(element), dict(element.attrib)) for element in tree.iter()
                  if isinstance(element.tag, str)]
        _premailer(tree.getroot()).transform(pretty_print=False)  # in place
        added: dict[Kind, int] = {}
        changes: dict[Kind, dict[str, str | None] | None] = {}
        total = 0
        for element, kind, attributes in before:
            change: dict[str, str | None] | None
            if element.getparent() is None and element is not tree.getroot():
                change = None  # a stylesheet premailer used up, in the head every candidate shares
            else:
                after = dict(element.attrib)
                change = {name: after.get(name) for name in attributes.keys() | after.keys()
                          if after.get(name) != attributes.get(name)}
            if kind not in changes:
                changes[kind] = change
                added[kind] = sum((_attribute_bytes(name, new) if new is not None else 0)
                                  - (_attribute_bytes(name, attributes[name]) if name in attributes else 0)
                                  for name, new in (change or {}).items())
            elif changes[kind] != change:
                return None
            total += added[kind]
        return cls(_serialized_size(node), serialized, total, added)

    def predict(self, document: str) -> int | None:
        """The inlined size of `document` in UTF-8 bytes; None when it has a kind of
        element the learnt document had not."""
        tree, node = _parse(document)
        added = 0
        for element in tree.iter():
            if isinstance(element.tag, str):
                grows = self.added.get(_kind(element))
                if grows is None:
                    return None
                added += grows
        return self.inlined_bytes + (_serialized_size(node) - self.serialized_bytes) + (added - self.added_bytes)
