"""Coherence: which of its namesakes each name of a story is, judged by the story's other names.

Two steps of `digest.resolve`, split out along their seam. Before the names are chosen,
`shared_divisions` counts for every division (and country) the votes of the story's ambiguous
names that could be in it; after, `cohere` lets the story's own state settle what its ambiguous
names mean within the country chosen for each (CLAVIN-style coherence, weighed by the namesakes'
sizes), and `strays` gives a town placed alone elsewhere the story's clear division. `size` and
`codes_of` are the measures both modules use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from digest.gazetteer import LocalPlace
from digest.toponyms import Candidate

COHERE_MIN, COHERE_CORE, COHERE_QUALIFIED, COHERE_CHOSEN = 1.0, 3.0, 2.0, 0.1  # see cohere
COHERE_SIZE = 0.6  # see cohere: the most a namesake's size adds to its vote
COHERE_LEAD = 1.0  # see cohere: the word needed grows by this per tenfold of the current namesake's lead
STORY_LEAD = 2  # see strays: the names the story's state needs, and how many times the next one's
SHARED_MAX_DIVISIONS = 6  # a name in more divisions (or countries) than this gives no vote to any
ALTERNATE_DISCOUNT = 10  # see size
_KIND_SIZE = {"division": 100_000, "county": 20_000, "county name": 5_000}  # a place's mass when it has none


def size(place: LocalPlace) -> float:
    """A place's weight as a namesake: its population, a tenth of it under another of its names
    ("Berea", an old name of Aleppo, is not Aleppo's weight against Berea, Kentucky), or a size
    by kind for a county or division."""
    if place.kind == "alternate":
        return place.population / ALTERNATE_DISCOUNT
    if place.kind == "county":  # its people (a rough estimate) only order its namesakes
        return _KIND_SIZE["county"]
    return place.population or _KIND_SIZE.get(place.kind, 0)


def codes_of(mentions: list[Candidate]) -> tuple[str, ...] | None:
    """What an unambiguous name points at: its only core code, or a county's only state."""
    first = mentions[0]
    if first.core is not None:
        codes = first.core.codes
        if len(codes) == 1:  # most core names (asked twice a name a story): no list to build
            return None if codes[0].startswith("@") else codes
        codes = [c for c in codes if not c.startswith("@")]
        return tuple(codes) if len(codes) == 1 else None
    if first.local and first.local[0].kind == "county" and all(p.kind == "county" for p in first.local):
        divisions = {p.code for p in first.local}
        # "Henderson County" (in ten states): somewhere below the country all the same
        return (divisions.pop(),) if len(divisions) == 1 else (first.local[0].country + "*",)
    return None


def moved_evidence(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]],
                   evidence: dict[str, float], own: dict[str, dict[str, float]]) -> list[str]:
    """A big city whose one core meaning counted as evidence but which was read otherwise
    ("London" beside Sarnia is London, Ontario) withdraws that evidence; the story's other names
    are returned to be chosen again ("Brampton" is then no English hamlet on London's England).
    The withdrawn name keeps its reading: chosen again, it would flip back (as Lexington and Sligo
    did). A smaller core city (`minor`) read otherwise is more often the one misread; two big
    cities read otherwise were each read so on the other's evidence ("Edmonton" as London's,
    "London" as Ontario's on Edmonton's Alberta): `cohere` settles those."""
    moved = []
    for name, (code, from_core) in chosen.items():
        core = by_name[name][0].core
        codes = codes_of(by_name[name]) if code and not from_core and core and not core.minor else None
        if codes and code not in codes:
            moved.append(name)
    if len(moved) != 1:
        return []
    for key, vote in own[moved[0]].items():
        evidence[key] -= vote
    own[moved[0]] = defaultdict(float)
    return [name for name in by_name if name != moved[0]]


def largest_namesakes(places: Iterable[LocalPlace]) -> dict[str, LocalPlace]:
    """A name's largest namesake per division, by `size` (of equals, the more populous: places
    come most populous first). The ranking `cohere` weighs votes by and `digest.nearness` reads
    the map with."""
    out: dict[str, LocalPlace] = {}
    masses: dict[str, float] = {}
    for place in places:
        if place.division:
            mass = size(place)
            if mass > masses.get(place.division, -1.0):
                out[place.division], masses[place.division] = place, mass
    return out


def _namesake_sizes(places: Iterable[LocalPlace]) -> tuple[dict[str, float], dict[str, float]]:
    """A name's largest namesake's `size` per country and per division, in one pass (the sizes
    of `largest_namesakes`' places, without weighing each place twice)."""
    per_country: dict[str, float] = defaultdict(float)
    per_division: dict[str, float] = {}
    for place in places:
        mass = size(place)
        if mass > per_country[place.country]:  # (as max(), which costs 5x this)
            per_country[place.country] = mass
        if place.division and mass > per_division.get(place.division, -1.0):
            per_division[place.division] = mass
    return per_country, per_division


Votes = tuple[dict[str, float], dict[str, dict[str, float]]]  # per division, and each name's own


def shared_divisions(by_name: dict[str, list[Candidate]], settled: set[str]) -> tuple[Votes, Votes]:
    """For each division, the votes of ambiguous names that could be in it (each name spreads one
    vote over its divisions): those of the names that look like places, and those of all. A
    `settled` name (read as a country, not any of its namesakes) votes for none of them."""
    placed: Votes = (defaultdict(float), defaultdict(dict))
    every: Votes = (defaultdict(float), defaultdict(dict))
    for name, mentions in by_name.items():
        if name in settled or codes_of(mentions) is not None:
            continue
        # Only names with some sign of being places vote on what a core name means: otherwise
        # "Carbon", "Green" and "Atlantic" (towns in Georgia too) would make "Georgia" the state.
        # A word that only ever opens a sentence votes on nothing ("Pace yourself": Pace, Florida).
        if mentions[0].core is not None or any(c.locative or c.qualifier or c.dateline for c in mentions):
            tallies: tuple[Votes, ...] = (placed, every)
        elif all(c.sentence_start for c in mentions):
            continue
        else:
            tallies = (every,)
        if mentions[0].core is not None and all(code.startswith("@") for code in mentions[0].core.codes):
            continue  # a region ("Arab", a town in Alabama too) is no vote for its namesakes' states
        places = mentions[0].local
        # A vote over its divisions and one over its countries: coherence also where GeoNames
        # divisions are not mapped to ISO codes (Peru's "San Juan" and "Magdalena").
        for codes in ({p.division for p in places if p.division}, {p.country for p in places}):
            if len(codes) > SHARED_MAX_DIVISIONS:
                continue  # "Clinton", "Washington": in half the states, so a vote for none
            for code in codes:
                for shared, own in tallies:
                    shared[code] += 1 / len(codes)
                    own[name][code] = 1 / len(codes)
    return placed, every


def read_as_country(mentions: list[Candidate], evidence: dict[str, float], own: dict[str, float]) -> bool:
    """Whether a country's name that is also a division's core name is the country: the story
    names the country otherwise ("the war in Georgia … the Georgian war") and nothing below the
    division's country."""
    first = mentions[0]
    if not first.country_name or first.core is None:
        return False
    codes = first.core.codes
    return (any(evidence.get(c, 0.0) - own.get(c, 0.0) > 0 for c in codes if "-" not in c and not c.startswith("@"))
            and all(evidence.get(c[:2] + "*", 0.0) - own.get(c[:2] + "*", 0.0) <= 0 for c in codes if "-" in c))


def divisions_of(mentions: list[Candidate]) -> set[str]:
    """Every division a name could be in (its core codes and its local places')."""
    first = mentions[0]
    codes = {code for code in (first.core.codes if first.core else ()) if "-" in code}
    return codes | {p.division for p in first.local if p.division}


def cohere(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]]) -> None:
    """The story's own state settles what its ambiguous names mean within their country.

    Each accepted place name votes once for every division it could be in (a "Town, State" for
    its state twice); a name then takes, within the country already chosen for it, the division
    with the most votes from the *other* names, when that beats its current division. "St.
    Cloud" beside Alexandria and Douglas County is St. Cloud, Minnesota, though Florida's St.
    Cloud is about as large. A big city (core) moves only on three other names' word:
    "Washington" in a story naming one Virginia town is still the capital; and any name needs
    more word the more its current namesake outweighs the other (COHERE_LEAD). A division's or a
    country's own name never moves."""
    accepted = {name: divisions_of(by_name[name]) for name, (code, _) in chosen.items() if code}
    votes: dict[str, dict[str, float]] = {}
    sizes_of: dict[str, dict[str, float]] = {}  # name → its largest namesake's size per division
    for name, divisions in accepted.items():
        own = dict.fromkeys(divisions, 1.0)
        # A larger namesake votes a little more than a hamlet: the story naming Columbus, Dublin
        # and Franklin County (each in Ohio and in Georgia) is more likely Ohio's, whose Columbus
        # and Dublin are the larger ones.
        largest, sizes = _namesake_sizes(by_name[name][0].local)
        for code in own:
            if largest.get(code[:2]):
                own[code] += COHERE_SIZE * sizes.get(code, 0.0) / largest[code[:2]]
        for c in by_name[name]:
            if c.qualifier and "-" in c.qualifier:
                own[c.qualifier] = COHERE_QUALIFIED
        votes[name] = own
        sizes_of[name] = sizes
    tally: dict[str, float] = defaultdict(float)
    for own in votes.values():
        for code, vote in own.items():
            tally[code] += vote
    # The first choices (priors and evidence) add a little: they settle a tie of interpretations
    # ("Columbus", "Dublin", "Madison" and "Franklin County" are in Ohio and in Georgia alike).
    for code, _ in chosen.values():
        if code and "-" in code:
            tally[code] += COHERE_CHOSEN
    for name, divisions in accepted.items():
        code, from_core = chosen[name]
        first = by_name[name][0]
        # a division's own name ("Texas", "Indiana") is the division, not its namesake towns
        if (code is None or any(c.qualifier for c in by_name[name]) or first.country_name
                or any(p.kind == "division" and p.division == code for p in first.local)):
            continue
        support = {d: tally[d] - votes[name].get(d, 0.0) - (COHERE_CHOSEN if d == code else 0.0)
                   for d in divisions if d[:2] == code[:2]}
        if not support:
            continue
        best = max(sorted(support), key=lambda d: support[d])
        needed = COHERE_CORE if from_core else COHERE_MIN
        # Each tenfold the current namesake outweighs the other adds to the word needed: Atlanta,
        # Georgia does not become the Atlanta of Illinois (1,700 people) beside Chicago.
        current, other = sizes_of[name].get(code, 0.0), sizes_of[name].get(best, 0.0)
        if current > other:
            needed += COHERE_LEAD * math.log10(current / max(other, 1.0))
        if best != code and support[best] >= needed and support[best] > support.get(code, 0.0):
            chosen[name] = (best, from_core)


def _story_division(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]]) -> str | None:
    """The division the story is in, when its names say so clearly: the one the most distinct
    names were placed in, STORY_LEAD of them at least and STORY_LEAD times as many as any other."""
    names: dict[str, int] = defaultdict(int)
    for code, _ in chosen.values():
        if code and "-" in code:
            names[code] += 1
    ranked = sorted(names.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][1] < STORY_LEAD or (len(ranked) > 1 and ranked[0][1] < STORY_LEAD * ranked[1][1]):
        return None
    return ranked[0][0]


def strays(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]]) -> set[str]:
    """A town placed alone in another division of the story's country, with no namesake in the
    story's own division, is most likely a namesake the gazetteer lacks (it lists places of 500
    people and more): "Atlantic Beach" (Florida, North Carolina, New York) in a story about Myrtle
    Beach and Horry County, South Carolina. It takes the story's division. So does a big city's
    name read as a town of the story's country where that is only its largest namesake there
    ("Oxford" in an Ontario story: Oxford, Alberta; not "Manhattan", Kansas, beside Kansas City
    and Dallas, chosen over New York's). Not a big city itself, a county (the gazetteer has
    every one), a qualified name or a division's own name. A place no
    tier knows at all (a dateline's town, a lake or river: see toponyms) takes it too. Returns the
    names moved (a guess: `resolve` counts each of them once, not per mention)."""
    lead = _story_division(by_name, chosen)
    moved: set[str] = set()
    names_in: dict[str, int] = defaultdict(int)
    for code, _ in chosen.values():
        if code:
            names_in[code] += 1
    # A place that has no meaning of its own takes even a narrow lead: the division named most
    ranked = sorted((n, code) for code, n in names_in.items() if "-" in code)
    top = lead or (ranked[-1][1] if ranked and (len(ranked) == 1 or ranked[-2][0] < ranked[-1][0]) else None)
    for name, (code, from_core) in list(chosen.items()):
        mentions = by_name[name]
        first = mentions[0]
        if code is None and first.core is None and not first.local and (first.dateline or first.place_noun):
            # "HARWINTON —", "Lake Lanier": a dateline's town or a water body no tier knows at all
            if top:
                chosen[name] = (top, False)
                moved.add(name)
            continue
        if (lead is None or not code or "-" not in code or code == lead or code[:2] != lead[:2] or from_core
                or first.core is not None and _largest_division(first, code[:2]) != code
                or names_in[code] > 1 or any(c.qualifier for c in mentions)
                or any(p.kind in ("county", "division") for p in first.local)
                or any(p.division == lead for p in first.local)):
            continue
        chosen[name] = (lead, False)
        moved.add(name)
    return moved


def _largest_division(first: Candidate, country: str) -> str | None:
    """The division of a name's largest namesake in `country` (its places come most populous first)."""
    return next((p.division for p in first.local if p.country == country), None)
