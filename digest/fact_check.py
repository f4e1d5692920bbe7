"""A check of a summary against its article: sentences verbatim, numbers the article's own."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from digest.errors import DigestError
from digest.summary_data import cues

# "\d\d*", not "\d+": a pattern opening with a character class lets the engine skip to digits.
_NUMBER = re.compile(r"\d\d*(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]+")
_ASCII_WORD = re.compile(r"[a-z]+")  # the same in lower-cased ASCII text, a cheaper test


class FactCheckError(DigestError, ValueError):
    """A summary says something its article does not."""


@cache
def _number_words(language: str | None) -> frozenset[str]:
    return frozenset(cues().get(language or "", {}).get("number_words", ()))


def numbers(text: str, language: str | None = "english") -> set[str]:
    """The numbers a text states: digit groups ('1,200' → '1200') and number words of the language."""
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    words = _number_words(language)
    if words:
        lowered = text.lower()
        found |= words.intersection((_ASCII_WORD if lowered.isascii() else _WORD).findall(lowered))
    return found


def _squash(text: str) -> str:
    return " ".join(text.split())


def problems(text: str, summary: Sequence[str]) -> list[str]:
    """What is wrong with `summary` as a summary of `text` (nothing: an empty list).

    Each sentence must occur in the article with only its whitespace normalised (a trimmed dateline
    leaves the rest of the sentence verbatim), and every number it gives must be one of the article's.
    """
    body = _squash(text)
    stated = numbers(body, None)
    found = []
    for sentence in summary:
        if _squash(sentence) not in body:
            found.append(f"sentence is not verbatim from the article: {sentence[:80]!r}")
        extra = numbers(sentence, None) - stated
        if extra:
            found.append(f"numbers {sorted(extra)} are not in the article: {sentence[:80]!r}")
    return found


def check(text: str, summary: Sequence[str], source: str = "summary") -> None:
    """Raise FactCheckError naming `source` and each problem, if there is any."""
    found = problems(text, summary)
    if found:
        raise FactCheckError(f"{source}: " + "; ".join(found))
