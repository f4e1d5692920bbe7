"""Pages parsed to the tree trafilatura's `load_html` gives, at less cost (see `load_page`)."""

from __future__ import annotations

from codecs import getincrementaldecoder

from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction, fromstring
from trafilatura.utils import decode_file, handle_compressed_file, is_dubious_html, repair_faulty_html

# What trafilatura's load_html scrubs (INVALID_XML_CHARS): control characters, as UTF-8 bytes,
# and two noncharacters.
_CONTROL_BYTES = bytes(sorted(set(range(0x20)) - {0x09, 0x0A, 0x0D}))
_NONCHARACTERS = ("\ufffe", "\uffff")
_UTF8_SLICE = 8192
_REPAIRED_PREFIX = 4096  # how far its repairs look (the first lines, within 4096 characters)

# trafilatura's parser (HTML_PARSER) with a class lookup done in C: lxml.html's own calls Python for
# every element Python touches (a few thousand per page), only to pick form-field classes
# trafilatura never uses.
_PARSER = etree.HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                           remove_pis=True)
_PARSER.set_element_class_lookup(etree.ElementDefaultClassLookup(
    element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))

def load_page(html: str | bytes) -> HtmlElement | None:
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
    `load_page`'s decoding and repairs would give its bytes back unchanged: valid UTF-8, not compressed,
    no noncharacter, nothing to repair in its first lines. Most pages arrive so, and then are
    neither decoded whole (a str of megabytes: 6-14 ms for the 2.5 MB pages, against about 1 ms
    for these checks) nor encoded again. None otherwise."""
    if handle_compressed_file(data) is not data or not _is_plain_utf8(data):
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


def _is_plain_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 without a noncharacter, decoded in slices: one str of the whole
    page costs several times more (its width is set by its widest character). The noncharacters are
    looked for in the slices, where one without characters beyond U+00FF answers at once: searching
    the bytes for them took 3 ms on a 2.5 MB page."""
    if data.isascii():
        return True
    decoder = getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), _UTF8_SLICE):
            text = decoder.decode(data[start:start + _UTF8_SLICE])
            if _NONCHARACTERS[0] in text or _NONCHARACTERS[1] in text:
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True
