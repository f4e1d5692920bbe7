"""trafilatura's XPath expressions with cheaper regular-expression tests and the same matches.

Its expressions test ids and classes with EXSLT's `re:test(@class, 'pattern')`, which lxml
answers by calling Python for every element tested and handing it the attribute as a node-set
(a list of strings that each hold a proxy of their element). `re:test(string(@class), 'pattern')`
is the same test by lxml's definition (the value of the node-set's first node, in document order,
as `string()` takes it; '' without one) and hands over a plain string; when the pattern cannot
match '' an element without the attribute cannot match either, so `@class and` first skips the
call for it, in C. `install` rewrites trafilatura's lists in place, since they are what its
functions read: the ids, classes and patterns stay its own.
"""

from __future__ import annotations

import re

from lxml.etree import XPath
from trafilatura import xpaths

_NAMESPACES = {"re": "http://exslt.org/regular-expressions"}
# re:test(<attributes>, '<pattern>'[, '<flags>']) on attributes of the element tested
_RE_TEST = re.compile(r"re:test\(\s*(@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,\s*'([^']*)'\s*(?:,\s*'([^']*)'\s*)?\)")

# rewritten expression -> trafilatura's own (its source is what the prune guards were read from)
_ORIGINALS: dict[XPath, XPath] = {}


def cheaper(expression: XPath) -> XPath:
    """`expression` with its `re:test` calls on attributes rewritten; itself when it has none."""
    def rewrite(call: re.Match[str]) -> str:
        attributes, pattern, flags = call.groups()
        test = f"re:test(string({attributes}), '{pattern}'" + (f", '{flags}')" if flags is not None else ")")
        # lxml compiles the pattern so: IGNORECASE with an 'i' among the flags
        if re.search(pattern, "", re.IGNORECASE if flags and "i" in flags else 0):
            return test
        return f"(({' or '.join(name.strip() for name in attributes.split('|'))}) and {test})"

    source = _RE_TEST.sub(rewrite, expression.path)
    return expression if source == expression.path else XPath(source, namespaces=_NAMESPACES)


def original(expression: XPath) -> XPath:
    """trafilatura's own expression for one `install` rewrote (or the expression itself)."""
    return _ORIGINALS.get(expression, expression)


def install() -> None:
    """Rewrite the expression lists of trafilatura's `xpaths` module in place (once)."""
    if _ORIGINALS:
        return
    for value in vars(xpaths).values():
        if isinstance(value, list) and value and all(isinstance(item, XPath) for item in value):
            for index, expression in enumerate(value):
                rewritten = cheaper(expression)
                if rewritten is not expression:
                    _ORIGINALS[rewritten] = expression
                    value[index] = rewritten


def rewritten() -> dict[XPath, XPath]:
    """Each expression `install` put in trafilatura's lists, with the one it replaced."""
    return dict(_ORIGINALS)
