"""Weak evidence: the meaning of a town named in a story that earns no place otherwise.

A step of `digest.resolve`, for stories in which nothing earns its place by the stronger rules:
a town after a locative word or before a place noun ("in Cottonport", "a Danbury man"), named
WEAK_MENTIONS times, or named in the headline and again in the text counts for the country that
holds most of its namesakes' population (WEAK_SHARE of it), and for their division when they all
share one.
"""

from __future__ import annotations

from collections import defaultdict

from digest.coherence import size
from digest.toponyms import Candidate

WEAK_SHARE = 0.8  # the share of a name's population mass its country needs
WEAK_MENTIONS = 3  # or named this often (a person named once with a first name is no town at all)


def weak_meaning(mentions: list[Candidate]) -> str | None:
    """The country (or shared division) of a town with only weak evidence, or None."""
    first = mentions[0]
    if first.core is not None or not first.local or first.country_name:
        return None
    headline = any(c.in_title for c in mentions) and not all(c.in_title for c in mentions)
    if (not any(c.locative or c.place_noun for c in mentions if c.verdict) and len(mentions) < WEAK_MENTIONS
            and not headline):
        return None
    mass: dict[str, float] = defaultdict(float)
    for place in first.local:
        mass[place.country] += size(place)
    country, top = max(sorted(mass.items()), key=lambda item: item[1])
    if top <= 0 or top < WEAK_SHARE * sum(mass.values()):
        return None
    divisions = {p.division for p in first.local if p.country == country}
    return divisions.pop() if len(divisions) == 1 and None not in divisions else country
