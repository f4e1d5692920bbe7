"""Nearness: which namesake a town is, judged by where the story's sure places are on the map.

A step of `digest.resolve`, after `digest.coherence`: the divisions the story's names vote for
cannot tell two towns of one name apart when the story's other places are in a third state, or
in none that its names agree on ("Gainesville" in a story about Norman, Okla.: Norman is in
Oklahoma, Gainesville in Florida, Georgia and Texas). Their coordinates can: the Texas town is
190 km from Norman, the Florida city 1,700 km. This is the geographic coherence of CLAVIN and
Mordecai (the reading nearest the story's other places), with population as the prior: the
larger namesake keeps the name unless the other is much nearer.
"""

from __future__ import annotations

import math
from collections import defaultdict

from digest.coherence import largest_namesakes, size
from digest.gazetteer import LocalPlace
from digest.toponyms import Candidate

NEAR_KM = 250  # a namesake this close to one of the story's sure places is beside it
NEAR_RATIO = 2.0  # how many times farther the current namesake must be, at equal size…
NEAR_SIZE_POWER = 0.5  # …times (its size / the near one's) to this power: Washington, D.C. stays
PAIR_KM = 40  # or this close to a namesake of another name of the story (see nearest)
COUNTIES_KM = 2 * PAIR_KM  # two counties' centres: a county's width apart when neighbours
NEAR_FLOOR_KM = 20  # distances below this count as this (a town beside itself is no stronger)
STAYING = 2  # see nearest
NEAR_MAX_NAMES = 60  # a story placing more names than this is a list: its map says nothing
SURE_LEAD = 10  # see _sure
_KM_PER_DEGREE = 111.2
_QUALIFIER_GAPS = (2, 1, 3)  # characters between a town and its state: ", ", ",", " (" …


def _km(a: LocalPlace, b: LocalPlace) -> float:
    """Distance on an equirectangular map: within a few percent at the distances compared here."""
    assert a.lat is not None and a.lon is not None and b.lat is not None and b.lon is not None
    across = (a.lon - b.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    return _KM_PER_DEGREE * math.hypot(a.lat - b.lat, across)


def _readings(first: Candidate, country: str) -> dict[str, LocalPlace]:
    """A name's largest town (or county) per division of `country`, among those with coordinates;
    not a county's short name ("Butte", "Laurel"): that is a town's name far more often."""
    return largest_namesakes(place for place in first.local if place.country == country
                             and place.lat is not None and place.kind != "county name")


def _sure(mentions: list[Candidate], code: str) -> bool:
    """Whether a name's division is beyond doubt: written after it ("Norman, Okla."), or where
    its towns of that country are, all of them or all but ones SURE_LEAD times smaller
    ("Nashville"; not "Gainesville", whose Florida city is four times Georgia's)."""
    if any(c.qualifier == code for c in mentions):
        return True
    mine = other = 0.0
    for place in mentions[0].local:
        if place.country == code[:2]:
            if place.division == code:
                mine = max(mine, size(place))
            else:
                other = max(other, size(place))
    return mine > 0 and mine >= SURE_LEAD * other


def _away(place: LocalPlace, sure: list[LocalPlace], unsure: list[LocalPlace]) -> float:
    """How far a namesake is from the story's other places, in km as counted for a sure place."""
    out = math.inf
    for other in sure:
        out = min(out, max(NEAR_FLOOR_KM, _km(place, other)))
    county = place.kind == "county"
    for other in unsure:
        if (county or other.kind == "county") and other.division == place.division:
            pair_km = COUNTIES_KM if county and other.kind == "county" else PAIR_KM
            out = min(out, max(NEAR_FLOOR_KM, _km(place, other)) * NEAR_KM / pair_km)
    return out


def nearest(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]]) -> None:
    """Move a name to its namesake beside the story's other places, within the country chosen
    for it, when that one is within NEAR_KM of a sure place (or PAIR_KM of some namesake of an
    unsure one in the same state, COUNTIES_KM for two counties: "Huntsville" and "Walker County"
    are both in Alabama and in Texas, but only Texas's Huntsville is in Texas's Walker County;
    Henry and Washington counties are neighbours only in Iowa) and the current one is NEAR_RATIO times
    farther (more, the larger the current one is against it). Not a qualified name, a country's
    or division's own name, a sure one or a metropolis. Every name is judged on the first choices."""
    sure, unsure, metropolises = _placed(by_name, chosen)
    if len(sure) + len(unsure) > NEAR_MAX_NAMES:
        return  # a list of places, not a story's context (and the pairs grow as its square)
    for name in [name for name, place in sure.items()
                 if any(_km(place, metropolis) <= NEAR_FLOOR_KM for metropolis in metropolises)]:
        del sure[name]
    moves: dict[str, str] = {}
    for name in unsure:
        best = _nearer(name, by_name[name], chosen[name][0], sure, unsure)
        if best:
            moves[name] = best
    if not moves:
        return
    # A name stays where STAYING other names of the story stay: "Madison" beside Columbus,
    # Dublin and Franklin County is Ohio's, though Maine's Madison is by Maine's Franklin County.
    # Not a town inside a sure county of the story: "London" beside Laurel County is London,
    # Kentucky, the county's seat, whatever California names the story has too.
    staying = _staying(by_name, chosen, moves)
    counties = [place for place in sure.values() if place.kind == "county"]
    for name, best in moves.items():
        if staying[chosen[name][0]] < STAYING or _in_county(_readings(by_name[name][0], best[:2])[best], counties):
            chosen[name] = (best, chosen[name][1])


def _in_county(place: LocalPlace, counties: list[LocalPlace]) -> bool:
    """Whether a town lies within PAIR_KM of one of these counties' centres, in its state."""
    return place.kind != "county" and any(
        county.division == place.division and _km(place, county) <= PAIR_KM for county in counties)


def _placed(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]]
            ) -> tuple[dict[str, LocalPlace], dict[str, list[LocalPlace]], list[LocalPlace]]:
    """The story's names placed in a division, on the map: the sure ones (name → its namesake
    there), the unsure ones (name → every namesake of it in that country) and the metropolises."""
    sure: dict[str, LocalPlace] = {}
    unsure: dict[str, list[LocalPlace]] = {}
    metropolises: list[LocalPlace] = []
    for name, (code, _) in chosen.items():
        if not code or "-" not in code:
            continue
        first = by_name[name][0]
        readings = _readings(first, code[:2])
        if code not in readings:
            continue
        # A metropolis or a capital is named from anywhere ("moved to New York City" in a
        # Springfield, Missouri story; "Washington"): it places nothing beside it, under any
        # of its names ("Washington D.C."), and keeps its own meaning. (Not a namesake of one:
        # Paris, Tennessee is a town like any other.)
        if first.core is not None and not first.core.minor and code in first.core.codes:
            metropolises.append(readings[code])
        elif _sure(by_name[name], code):
            sure[name] = readings[code]
        else:
            unsure[name] = list(readings.values())
    return sure, unsure, metropolises


def _nearer(name: str, mentions: list[Candidate], code: str, sure: dict[str, LocalPlace],
            unsure: dict[str, list[LocalPlace]]) -> str | None:
    """The division an unsure name moves to, if one of its namesakes is beside the story's other
    places and the current one is far enough from them (see nearest); else None."""
    first = mentions[0]
    if (first.country_name or any(c.qualifier for c in mentions)
            or any(p.kind == "division" and p.division == code for p in first.local)):
        return None
    country = code[:2]
    # Another name's sure place counts within NEAR_KM; an unsure one's namesakes only
    # as a town and its county or two counties, in one state, within PAIR_KM (COUNTIES_KM):
    # a town's county is in its state; and some namesake of a common name is near almost
    # any town ("Orange" and "Springfield" are both in New Jersey)
    sure_places = [place for other, place in sure.items() if other != name and place.country == country]
    unsure_places = [place for other, places in unsure.items() if other != name
                     for place in places if place.country == country]
    if not sure_places and not unsure_places:
        return None
    readings = _readings(first, country)
    away = {division: _away(place, sure_places, unsure_places) for division, place in readings.items()}
    best = min(sorted(away), key=lambda division: away[division])
    if best == code or away[best] > NEAR_KM:
        return None
    needed = NEAR_RATIO * max(1.0, size(readings[code]) / max(size(readings[best]), 1.0)) ** NEAR_SIZE_POWER
    return best if away[code] >= needed * away[best] else None


def _staying(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]],
             moves: dict[str, str]) -> dict[str, int]:
    """Per division, how many of the story's names stay there: every placed name not to move,
    except a state written only after a town ("Caddo, Okla."), which is that town's, no name of
    its own."""
    qualified_ends = {(c.in_title, c.end) for mentions in by_name.values() for c in mentions if c.qualifier}
    staying: dict[str, int] = defaultdict(int)
    for name, (code, _) in chosen.items():
        if code and name not in moves and not all(
                any((c.in_title, c.start - gap) in qualified_ends for gap in _QUALIFIER_GAPS)
                for c in by_name[name]):
            staying[code] += 1
    return staying
