"""Where a story's dateline is: "ASTANA:", "WASHINGTON (Reuters) -", "GLASGOW, Ky. (WBKO) —".

A dateline is found by its shape (capitals, an optional ", State", an optional agency in
brackets, then a dash-like run), at the start of the text or right after the headline, a
paragraph's start or a byline's date. `toponyms` makes candidates of what these return.
"""

from __future__ import annotations

import re

from digest.gazetteer import TOKEN, Gazetteer, normal
from digest.toponym_context import CONNECTORS

# The dash is read by its shape, not listed: any run of hyphens ("COLUMBIA ---"), an em or en
# dash, U+0097 (Windows-1252's em dash read as Latin-1), or UTF-8's dash read as Windows-1252 with
# a byte lost ("KANSAS CITY, Mo. â ”"). With no dash at all, an abbreviated state followed by a
# capital ends one too ("SALINA, Kan. Strong winds …"; see _bare_ok).
_DATELINE = re.compile(
    r"\s*(?P<place>[A-Z][A-Za-z.'’ -]{1,40}?)(?:\s*,\s*(?P<more>[A-Z][A-Za-z.'’ ]{1,40}?))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?::|[—–\x97]|-{2,}|-\s|â[€\x80\s]?[”“\x93\x94]|(?P<bare>(?<=\.)\s(?=[A-Z][a-z])))"
)
_DASH = re.compile(r"[—–\x97]|--|â")
# Where a later dateline can start: after the headline's stop, a paragraph's start or a byline's
# date ("Gannett March 24, 2009 MANSFIELD -- …"); its capitals may hold one small letter ("DeKALB").
# Every branch opens with a literal (the year's \b is the look-behind after its first digit), so
# that the regex engine skips to those characters by its quick scan instead of trying every one.
_LATER_DATELINE = re.compile(r"(?:\.\s+|!\s+|\?\s+|\n\s*|1(?<!\w.)9\d\d\s+|2(?<!\w.)0\d\d\s+)([A-Z][a-z]?[A-Z])")
_APOSTROPHE_S = re.compile(r"['’]S\b")  # "ST. JOHN'S": str.title gives "John'S"
_SMALL_RUN = re.compile(r"[a-z]{2}|(?<![A-Z])[a-z]|(?<=[A-Z]{2})[a-z]")


def opening(text: str, gaz: Gazetteer) -> re.Match[str] | None:
    """The dateline the text opens with (groups `place`, `more`), if any."""
    match = _DATELINE.match(text)
    if match and all(w[0].isupper() or w in CONNECTORS for w in TOKEN.findall(match.group("place"))) and (
            not match.group("bare") or _bare_ok(match, gaz)):
        return match
    return None


def later(text: str, start: int, end: int, gaz: Gazetteer) -> re.Match[str] | None:
    """The first dateline after the headline or at a paragraph's start between `start` and `end`:
    "… fire. CHARLESTON, W.Va. — …"."""
    for found in _LATER_DATELINE.finditer(text, start, end):
        match = _DATELINE.match(text, found.start(1))
        # A state, an agency or a long dash after the capitals: "CROMWELL —", "ST. PAUL --" (a
        # local paper's datelines name no state); a colon or hyphen alone, being common, only after
        # a major place: "BEIRUT: …", "ATLANTA - …".
        if match and capitals(match.group("place")) and (
                not match.group("bare") or _bare_ok(match, gaz)) and (
                match.group("more") or "(" in match.group() or _DASH.search(match.group())
                or normal(as_written(match.group("place"))) in gaz.core):
            return match
    return None


def capitals(raw: str) -> bool:
    """A dateline's capitals, one small letter after a word's first allowed ("DeKALB", "McALLEN")."""
    return any(c.isupper() for c in raw) and not _SMALL_RUN.search(raw)


def as_written(raw: str) -> str:
    """"ISLE OF PALMS" → "Isle of Palms", "DeKALB" → "DeKalb": a dateline's capitals as the
    gazetteer writes the name."""
    words = [w[:3] + w[3:].lower() if w[1:2].islower() else _APOSTROPHE_S.sub("'s", w.title())
             for w in raw.split(" ")]
    return " ".join([words[0]] + [w.lower() if w.lower() in CONNECTORS else w for w in words[1:]])


def _bare_ok(match: re.Match[str], gaz: Gazetteer) -> bool:
    """A dateline with no dash ("SALINA, Kan. Strong winds …") only in capitals, with a state."""
    more = match.group("more")
    return capitals(match.group("place")) and bool(more) and normal(more) in gaz.abbreviations
