"""Places no tier of the gazetteer knows, found by their shape: lakes, rivers, creeks and
townships ("Lake Lanier", "the Naugatuck River", "St. Clair Twp."), and the other mentions of a
dateline's unknown town ("HARWINTON — … the Harwinton Senior Center"). `digest.toponyms` makes
candidates with no meaning of these spans; `digest.coherence.strays` gives them the story's
division.
"""

from __future__ import annotations

import re

from digest.toponym_context import is_letter

MAX_MENTIONS = 50  # mentions of a dateline's unknown town read
_WATER = re.compile(r"\bLake [A-Z][a-z]+\b|\b[A-Z][a-z]+ (?:River|Creek|Lake|Township|Twp)\b")
_WATER_WORDS = ("Lake ", " River", " Creek", " Township", " Twp")  # a story with none is not searched


def waters(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of each lake, river, creek or township written in `text`."""
    if not any(word in text for word in _WATER_WORDS):
        return []
    return [(match.group(), match.start(), match.end()) for match in _WATER.finditer(text)]


def mentions(text: str, name: str, after: int) -> list[tuple[int, int]]:
    """(start, end) of the whole-word mentions of `name` after offset `after` (MAX_MENTIONS at most)."""
    found = []
    at = text.find(name, after)
    while at >= 0 and len(found) < MAX_MENTIONS:
        end = at + len(name)
        if not is_letter(text[at - 1]) and (end == len(text) or not is_letter(text[end])):
            found.append((at, end))
        at = text.find(name, end)
    return found
