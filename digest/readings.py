"""What the story's wording says a candidate is, before `digest.resolve` weighs its meanings.

Two rewrites of the candidates, each from how a name is written beside other words: a qualifier
that none of a place's meanings is in is a misreading ("TBILISI, Georgia —"), and a country's name
before a word only a town goes with is that town ("a Lebanon woman"). And one test of how a name
reads: `division_name`, a division's own name ("Oregon") rather than a city's there too.
"""

from __future__ import annotations

from dataclasses import replace

from digest.gazetteer import Place
from digest.toponyms import Candidate


def fitting_qualifiers(found: list[Candidate]) -> list[Candidate]:
    """"TBILISI, Georgia —": a qualifier that none of a known place's meanings is in is a misreading
    (the state of Georgia, for the country): the place loses it, and the dateline's reading of it
    names the place's country instead, when its meanings are all in one (Tbilisi: Georgia), else
    is dropped (the story's other mentions of the name decide what it is). A town only the local
    tier knows keeps its qualifier: "Oakdale, Conn." names Connecticut even if the gazetteer
    lacks that Oakdale."""
    if not any(c.qualifier for c in found):
        return found
    out: list[Candidate] = []
    # end of a place whose qualifier was dropped → that qualifier, and the place's countries
    misread: dict[int, tuple[str, set[str]]] = {}
    for c in found:
        if c.qualifier and c.core is not None and not _fits(c, c.qualifier):
            misread[c.end] = (c.qualifier, {code[:2] for code in c.core.codes})
            c = replace(c, qualifier=None)
        elif misread and c.dateline and c.core is not None:
            countries = next((countries for end, (code, countries) in misread.items()
                              if c.core.codes == (code,) and 0 < c.start - end <= 2), None)
            if countries is not None:
                if len(countries) == 1:
                    out.append(replace(c, core=Place((countries.pop(),))))
                continue
        out.append(c)
    return out


def _fits(c: Candidate, qualifier: str) -> bool:
    """Whether one of a candidate's meanings is in the country of `qualifier` (a division's too)."""
    country = qualifier[:2]
    return (any(code[:2] == country for code in c.core.codes) if c.core else False) or any(
        p.country == country for p in c.local)


def towns_named_like_countries(found: list[Candidate]) -> list[Candidate]:
    """"A Lebanon woman", "Jordan Elementary School", "Georgia residents": a country's name before
    a word only a town (or a state) goes with means the town or state throughout the story."""
    towns = {c.name for c in found if c.town_noun and c.country_name and c.local}
    if not towns:
        return found
    changed = []
    for c in found:
        if c.name in towns:
            codes = tuple(code for code in (c.core.codes if c.core else ()) if "-" in code)
            c = replace(c, core=Place(codes) if codes else None, country_name=False)
        changed.append(c)
    return changed


def division_name(first: Candidate) -> bool:
    """Whether a name is the own name of a division its core means ("Oregon", "Georgia"), and
    not that of a city there too ("Dublin", "Paris" and "New York" name their cities first)."""
    if not first.core or not first.local:
        return False
    codes = set(first.core.codes)
    return (any(p.kind == "division" and p.division in codes for p in first.local)
            and not any(p.kind != "division" and p.division in codes for p in first.local))
