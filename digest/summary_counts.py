"""The numbers a sentence states as a how-many (a toll, a score, a sum), not as a when or a label.

The summarizer prefers a sentence that gives a number the summary lacks (a toll, a score, a date);
a year, a clock time, a time relative to something ("four months later"), a house number, a
name with a number in it ("COVID-19", "G20") and a number word pointing back to things already
counted ("the two bell towers") are not such news, so those are left out. The words
the rules need (units of time, words that end a street's name) are in `data/summary_cues.toml`; a
language without them gets only the year rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from digest.fact_check import numbers
from digest.summary_data import cues

_YEAR = re.compile(r"1[5-9]\d\d|20\d\d")
# A clock time ("12:30 p.m.", "1.20pm", "14:05") and a number joined to letters ("COVID-19",
# "G20", "MH17"): shapes, the same in any language written in Latin letters.
_SHAPES = (r"\b\d{1,2}(?:[:.]\d\d)?\s?[AaPp]\.?[Mm]\b\.?", r"\b\d{1,2}:\d\d\b", r"(?<=[A-Za-z])-?\d[\d.,]*")


@cache
def _relative_time(language: str | None) -> tuple[re.Pattern[str], tuple[str, ...]] | None:
    """A number of time units before or after something ("four months later"): a when. With the
    pattern, its relative words, lower-cased."""
    section = cues().get(language or "", {})
    units, relative = section.get("time_units"), section.get("relative_time")
    if not units or not relative:
        return None
    relative = tuple(word.lower() for word in relative)
    # Matched against the lower-cased sentence: a case-blind pattern takes about twice as long.
    return re.compile(rf"\b[\w,.]+\s+(?:{'|'.join(re.escape(u.lower()) for u in units)})s?\s+"
                      rf"(?:{'|'.join(map(re.escape, relative))})\b"), relative


@cache
def _not_counts(language: str | None) -> re.Pattern[str] | None:
    """The spans whose numbers say when or which, not how many (None: the language has no cues)."""
    section = cues().get(language or "", {})
    streets = section.get("address_words")
    if not streets:
        return None
    street = "|".join(re.escape(word.capitalize()) for word in streets)
    # Every span has a digit or a hyphen first: the lookahead fails most positions in one test.
    return re.compile("(?=[-\\d])(?:" + "|".join((
        *_SHAPES,
        rf"\b\d+[A-Za-z]?\s(?:[A-Z][\w'’\-]*\.?\s){{1,3}}(?:{street})\b",  # "775 Main St."
        r"\b\d+\sblock\b",                                              # "the 3800 block of"
    )) + ")")


@cache
def _definite(language: str | None) -> re.Pattern[str] | None:
    """A number word after a determiner or a possessive ("the two", "Microsoft's two"), lower-cased."""
    section = cues().get(language or "", {})
    determiners, spelled = section.get("definite_determiners"), section.get("number_words")
    if not determiners or not spelled:
        return None
    contracted = "|".join(map(re.escape, section.get("contracted", ())))
    possessive = rf"(?!(?:{contracted})['’]s\b)\w+['’]s" if contracted else r"\w+['’]s"
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, determiners))}|{possessive})\s+"
                      rf"(?:{'|'.join(map(re.escape, sorted(spelled, key=len, reverse=True)))})\b")


def counts(sentence: str, language: str | None) -> tuple[frozenset[str], frozenset[int]]:
    """The numbers `sentence` states as a how-many, and the years it names ("in 1952")."""
    found = numbers(sentence, language)
    if not found:
        return frozenset(), frozenset()
    dated = frozenset(int(n) for n in found if _YEAR.fullmatch(n))
    plain = _not_counts(language)
    # Every span it takes out has digits: a sentence whose other numbers are words has none to lose.
    if plain and any(n[0].isdigit() and not _YEAR.fullmatch(n) for n in found):
        text = plain.sub(" ", sentence)
    else:
        text = sentence
    relative = _relative_time(language)
    lowered = text.lower() if relative else ""
    if relative and any(word in lowered for word in relative[1]):  # the pattern is costlier: most lack the words
        text = relative[0].sub(" ", lowered)
    definite = _definite(language)
    if definite and any(not n[0].isdigit() for n in found):  # digits are never taken out by it
        text = definite.sub(" ", text.lower())
    if text is not sentence:
        found = numbers(text, language)
    return frozenset(n for n in found if not _YEAR.fullmatch(n)), dated


@cache
def _obituary(language: str | None) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """A lede reporting a death, and a sentence giving an age on its own (None: no cues)."""
    section = cues().get(language or "", {})
    deaths, age = section.get("death_words"), section.get("age_sentence")
    if not deaths or not age:
        return None
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, deaths))})\b", re.IGNORECASE), re.compile(age)


def reports_death(sentence: str, language: str | None) -> bool:
    """Whether the sentence reports a death ("He died that night."; False without cues)."""
    obituary = _obituary(language)
    return obituary is not None and bool(obituary[0].search(sentence))


def obituary_ages(texts: Sequence[str], lede: int, language: str | None) -> frozenset[str]:
    """The ages an obituary gives in a sentence of their own ("He was 85."), when its lede reports the
    death: obituary headlines give the age ("dies aged 85"), so it is a figure the summary needs."""
    if not texts or not reports_death(texts[lede], language):
        return frozenset()
    age = _obituary(language)[1]
    return frozenset(m.group(1) for m in map(age.match, texts) if m)
