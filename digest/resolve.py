"""What each candidate name means in this story: resolution by coherence with the rest of it.

One sense per name per story. Every interpretation of a name (the core's codes, the local tier's
towns, counties and divisions) is scored by a prior plus how well it fits the story's evidence:
- the division or country written after it ("London, Ky.", "Alexandria, Minnesota") decides;
- otherwise the divisions and countries that the story's unambiguous names point at (another
  name's state counts more than its country), and the other ambiguous names that share a
  division with it (each spreads one vote over its divisions, as CLAVIN-style coherence does;
  those votes, and the story's own state settling its names afterwards, are `digest.coherence`),
  then the map: a namesake beside the story's sure places, or a town beside its county
  (`digest.nearness`);
- the prior: a core place (a country, a division, a big city) outweighs a town, and among towns
  the larger one wins.
A name only the local tier knows (a small town) needs evidence to count at all: a dateline, a
"Town, State", a county's name, its state named elsewhere or shared with other place-like names,
a locative word ("in", "near") together with its country named elsewhere, or repeated mentions
of a name whose every meaning is in one country. The gazetteer's 350,000 names hold "Police",
"Obama" and "Trump"; without this rule every capitalised word would be a place.

When nothing in the story earns its place that way, weaker evidence decides, at a lower weight: a
town after a locative word or before a place noun ("in Cottonport", "Mansfield council", "a
Danbury man"), named a few times, or named in the headline and again in the text (the
story's subject: "Preble voters can apply for absentee ballots"), counts for the country that
holds most of its namesakes' population, and for their division when they all share one
(`digest.weak_evidence`).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from digest.coherence import (
    ALTERNATE_DISCOUNT,
    Votes,
    codes_of,
    cohere,
    moved_evidence,
    read_as_country,
    shared_divisions,
    size,
    strays,
)
from digest.gazetteer import LocalPlace
from digest.nearness import nearest
from digest.readings import division_name, fitting_qualifiers, towns_named_like_countries
from digest.toponyms import Candidate
from digest.weak_evidence import weak_meaning

W_DEMONYM = 0.8  # "Syrian talks" says a little less than "Syria"
W_CUE = 0.4  # "the Bundestag" says less than any named place
W_HOME = 0.5  # the outlet's home, as evidence: half a named place (see resolve)
# Interpretation scores (see the module docstring).
CORE_PRIOR, LOCAL_PRIOR = 1.0, 0.2
FIT_DIVISION, FIT_COUNTRY, FIT_SHARED, FIT_QUALIFIER, FIT_LOCATIVE = 1.5, 0.6, 2.0, 3.0, 0.4
FIT_SHARED_COUNTRY = 0.5
FIT_COHERENT, COHERENT_MIN = 1.0, 0.5  # see _choose: "Athens" in a story naming Ohio
DWARFED = 10  # see _choose: a namesake this many times larger in the same country
LOCAL_ACCEPT = 0.9  # the evidence a local-only name needs before it counts
# A local-only name after "in"/"near" with nothing else to go on counts when its largest
# interpretation is a real town and clearly the likeliest one.
LOCATIVE_ALONE_POPULATION, LOCATIVE_ALONE_LEAD = 20_000, 5
ONE_COUNTRY_MENTIONS = 2  # mentions (not opening a sentence) that make a one-country name count alone
ONE_COUNTRY_POPULATION = 1_000  # …of a real town: "Titan Operating" is no Afghan hamlet of no one
# Weak evidence (see the module docstring and digest.weak_evidence): the weight of such a
# mention against a named place's.
W_WEAK = 0.5
W_AGREEING = 0.3  # see _towns_agreeing: the evidence a division gets from each name placed there
MINOR_ALONE_MENTIONS = 2  # a smaller city named this often places a story that names nothing else


@dataclass(slots=True, unsafe_hash=True)  # not frozen: see Candidate
class Resolved:
    """A candidate with the meaning chosen for it."""

    candidate: Candidate
    code: str | None  # country or division; None: not a place here
    weight: float
    minor: bool = False  # a core city of under a million: counts only when its country is named otherwise
    hint: str | None = None  # a region hint ("Asia") instead of a place


def resolve(found: list[Candidate], home: str | None = None) -> list[Resolved]:
    """The meaning of each candidate, in the candidates' order (a person's name and a mention
    inside another capitalised name are left out, unless the story places that name: see
    _with_inner_mentions).

    `home` (a country or ISO 3166-2 division code) is where the story's outlet is: its readers
    know "Pineville" without a state, so it counts as W_HOME of evidence, as if the story had
    named it once. It is no place of the story itself: a story that names none stays unplaced."""
    # "Michael Jordan" once: a person throughout, except where the text says it is a place
    # ("in Paris", "PARIS, Texas —"); likewise a town only the local tier knows that stands after
    # a first name once ("Hillary Clinton", "President Obama").
    # A name before another capitalised word ("Paris Hilton", "Paris Junior College") is a person
    # or an institution there alone; after a first name ("Michael Jordan") it is one throughout.
    # A county is no one's name, whatever word stands before it ("Six Clayton County students").
    # A first name before a surname the story names alone ("Mary Wheeler … Wheeler said") is one too.
    as_places = {c.name for c in found if c.written_as_place}
    people = {c.name for c in found if (c.first_name and c.name not in as_places
                                        or c.person_like and (c.verdict is False or c.core is None))
              and not (c.local and all(p.kind == "county" for p in c.local))}
    given = found = fitting_qualifiers(found)
    kept = [c.verdict is not False and (c.name not in people or c.locative or c.qualifier or c.dateline)
            for c in given]
    found = towns_named_like_countries([c for c, keep in zip(given, kept) if keep])
    by_name: dict[str, list[Candidate]] = defaultdict(list)
    for c in found:
        by_name[c.name].append(c)

    evidence, own = _evidence(by_name)
    for code in _evidence_for(home) if home else ():
        evidence[code] += W_HOME
    # Votes of names that look like places (locative, dateline, "Town, State", core) decide and accept;
    # the votes of every other name only help a town with no core meaning choose. "Georgia" read
    # as the country votes for none of the state's namesakes ("Washington" is no Georgia town).
    as_countries = {name for name, mentions in by_name.items() if read_as_country(mentions, evidence, own[name])}
    (placed_votes, own_placed), (all_votes, own_all) = shared_divisions(by_name, as_countries)
    chosen: dict[str, tuple[str | None, bool]] = {}  # name → (code, from the core tier)
    helping_towns = {code: all_votes[code] - placed_votes.get(code, 0.0) for code in all_votes}  # read only

    def choose(names: Iterable[str]) -> None:
        for name in names:
            mentions = by_name[name]
            helping = helping_towns if mentions[0].core is None else {}
            mine_placed = own_placed[name]
            own_helping = {code: vote - mine_placed.get(code, 0.0) for code, vote in own_all[name].items()}
            chosen[name] = _choose(mentions, evidence, own[name], (placed_votes, mine_placed), (helping, own_helping))

    choose(by_name)
    choose(moved_evidence(by_name, chosen, evidence, own))  # again, beside a city read otherwise ("London", Sarnia)
    cohere(by_name, chosen)
    nearest(by_name, chosen)
    _towns_agreeing(by_name, chosen, evidence, own, (placed_votes, own_placed))
    guessed = strays(by_name, chosen)
    weak: set[str] = set()
    placed = {c.name for c in found if c.locative or c.dateline or c.place_noun}
    if not any(code and not (from_core and _minor_in_passing(by_name[name], placed))
               for name, (code, from_core) in chosen.items()):
        for name, mentions in by_name.items():
            code = weak_meaning(mentions)
            if code:
                chosen[name] = (code, False)
                weak.add(name)

    qualified: dict[str, set[str]] = defaultdict(set)
    for c in found:
        if c.qualifier:
            qualified[c.name].add(c.qualifier)
    resolved = []
    counted: set[str] = set()  # the guessed names already weighed once
    for c in found:
        code, from_core = chosen.get(c.name, (None, False))
        if c.core and c.core.codes and c.core.codes[0].startswith("@") and all(code.startswith("@") for code in c.core.codes):
            resolved.append(Resolved(c, None, _weight(c), hint=c.core.codes[0][1:]))
            continue
        if code is None:
            resolved.append(Resolved(c, None, 0.0))
            continue
        # "CHARLOTTE, N.C.", "killed in Arlington", "Hartford police": the city is not alone
        minor = bool(from_core and c.core and c.core.minor and c.name not in placed
                     and not qualified.get(c.name, set()) & {code, code[:2]})
        weight = _weight(c) * (W_WEAK if c.name in weak else 1.0)
        if c.name in guessed:
            # a stray's division is a guess (see strays): it weighs as one mention, however often named
            weight = 0.0 if c.name in counted else weight
            if weight:
                counted.add(c.name)
        resolved.append(Resolved(c, code, weight, minor=minor))
    return _with_inner_mentions(given, kept, resolved, chosen, people)


def _with_inner_mentions(given: list[Candidate], kept: list[bool], resolved: list[Resolved],
                         chosen: dict[str, tuple[str | None, bool]], people: set[str]) -> list[Resolved]:
    """Every candidate's meaning, in order: a name the story uses as a place keeps that sense
    where it opens a longer capitalised name ("Paris Regional Medical Center", "the Georgia State
    Ethics Commission"), at no weight: such a mention places nothing by itself (and a person's
    "Paris Hilton" in a story about Paris, read the same way, moves nothing)."""
    out = []
    it = iter(resolved)
    for c, keep in zip(given, kept):
        if keep:
            out.append(next(it))
            continue
        code = chosen.get(c.name, (None, False))[0]
        if code and c.name not in people and not c.person_like:
            out.append(Resolved(c, code, 0.0))
    return out


def _towns_agreeing(by_name: dict[str, list[Candidate]], chosen: dict[str, tuple[str | None, bool]],
                    evidence: dict[str, float], own: dict[str, dict[str, float]], placed: Votes) -> None:
    """A second look at the towns refused for want of evidence: the divisions the story's other
    names were placed in count W_AGREEING each for a town with a namesake there ("of Pomeroy"
    beside Meigs County, Ohio: Pomeroy is in Ohio, Washington and Iowa). Not a word that only
    ever opens a sentence ("Pace yourself")."""
    stated: dict[str, float] = defaultdict(float)
    for code, _ in chosen.values():
        if code and "-" in code:
            stated[code] += W_AGREEING
    if not stated:
        return
    agreeing = {**evidence}
    for code, weight in stated.items():
        for key in _evidence_for(code):  # a division stated is its country's too, as any evidence
            agreeing[key] = agreeing.get(key, 0.0) + weight
    votes, own_votes = placed
    for name, mentions in by_name.items():
        first = mentions[0]
        if (chosen[name][0] is not None or first.core is not None
                or not any(p.division in stated for p in first.local)
                or all(c.sentence_start for c in mentions)):
            continue
        code, from_core = _choose(mentions, agreeing, own[name], (votes, own_votes[name]), ({}, {}))
        if code in stated:
            chosen[name] = (code, from_core)


def _population(place: LocalPlace, name: str) -> int:
    """A place's population as a reading of `name`: a tenth of it when the name is another of its
    names in one word ("Wal" of "at a Wal-Mart" is an old name of an Ethiopian town;
    "Athens-Clarke County" is Athens itself)."""
    if place.kind == "alternate" and " " not in name and "-" not in name:
        return place.population // ALTERNATE_DISCOUNT
    return place.population


def _minor_in_passing(mentions: list[Candidate], placed: set[str]) -> bool:
    """Whether a smaller city places nothing alone (see regions._score): never written as a
    place, nor named MINOR_ALONE_MENTIONS times mid-sentence ("administrator Brent Schleisman").
    Such a name leaves room for a town's weak evidence."""
    return bool(mentions[0].core and mentions[0].core.minor and mentions[0].name not in placed) and sum(
        not (c.person_like or c.before_capital or c.sentence_start) for c in mentions) < MINOR_ALONE_MENTIONS


def _weight(c: Candidate) -> float:
    if c.verdict is None:
        return 0.0
    factor = 1.0
    if c.core and c.core.demonym:
        factor = W_DEMONYM
    elif c.core and c.core.cue:
        factor = W_CUE
    return c.weight * factor


def _interpretations(mentions: list[Candidate]) -> list[tuple[str, float, bool, int]]:
    """(code, prior, from the core, population) for every meaning of a name, core first."""
    first = mentions[0]
    out: list[tuple[str, float, bool, int]] = []
    seen: set[str] = set()
    if first.core:
        for i, code in enumerate(c for c in first.core.codes if not c.startswith("@")):
            out.append((code, CORE_PRIOR - 0.05 * (1 if 1 < i else i), True, 0))  # min(i, 1), as in share()
            seen.add(code)
    if ((first.country_name or division_name(first))
            and not any(c.qualifier and "-" in c.qualifier for c in mentions)):
        # A country's name is the country ("Egypt" is not Egypt, Alabama), a state's the state
        # ("Oregon" is not Oregon, Illinois, beside Chicago), unless a division follows it
        # ("China, Maine"); "China, Japan" is a list.
        return out
    for place in first.local:
        code = place.code
        if code in seen or place.country in seen:
            continue
        seen.add(code)
        out.append((code, LOCAL_PRIOR * math.log10(size(place) + 1) / 7, False, _population(place, first.name)))
    return out


def _evidence(by_name: dict[str, list[Candidate]]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Weight per country and per division from unambiguous names and qualifiers, and each name's
    own share of it (a name is no evidence for itself)."""
    evidence: dict[str, float] = defaultdict(float)
    own: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for name, mentions in by_name.items():
        codes = codes_of(mentions)
        plain = tuple(dict.fromkeys(t for code in codes for t in _evidence_for(code))) if codes else ()  # unqualified
        for c in mentions:
            if c.qualifier:
                targets = list(codes or ()) + [c.qualifier]
                keys = tuple(dict.fromkeys(t for code in targets for t in _evidence_for(code)))
            elif plain:
                keys = plain
            else:
                continue  # an ambiguous name, not qualified here: most mentions
            weight = _weight(c)
            weight = 0.5 if 0.5 > weight else weight  # max(weight, 0.5), without a builtin's call (5x the cost)
            for code in keys:
                evidence[code] += weight
                own[name][code] += weight
    return evidence, own


@functools.cache  # asked for each mention with a code: the same few codes story after story
def _evidence_for(code: str) -> tuple[str, ...]:
    """What naming `code` is evidence for: itself, its country and, for a division, "US*":
    somewhere below the country (a state, a county, a dateline's state)."""
    return tuple(dict.fromkeys((code, code[:2]) + ((code[:2] + "*",) if "-" in code else ())))


def _choose(mentions: list[Candidate], evidence: dict[str, float], own: dict[str, float],
            votes: tuple[dict[str, float], dict[str, float]],
            helping: tuple[dict[str, float], dict[str, float]]) -> tuple[str | None, bool]:
    qualifiers = {c.qualifier for c in mentions if c.qualifier}
    locative = dateline = False
    for c in mentions:  # one pass for both, not a generator each (~8 names a story)
        locative, dateline = locative or c.locative, dateline or c.dateline
    counties = bool(mentions[0].local) and all(p.kind == "county" for p in mentions[0].local)
    # a single word right before another capitalised one, in every mention: more likely a name
    name_like = all(c.before_capital and " " not in c.name for c in mentions)
    if mentions[0].core is None and name_like and not (qualifiers or counties or dateline):
        return None, False  # acceptable() below refuses every meaning: not worth scoring them

    def share(tally: tuple[dict[str, float], dict[str, float]], code: str) -> float:
        vote = tally[0].get(code, 0.0) - tally[1].get(code, 0.0)
        return 1.0 if 1.0 < vote else vote  # min(vote, 1.0), without a builtin's call (5x the cost)

    def outside(code: str) -> float:  # the evidence for a code from the rest of the story
        return evidence.get(code, 0.0) - own.get(code, 0.0)

    # A big city abroad whose country the story never otherwise names, against a town of a
    # country whose states or counties it names ("Athens" in a story that names Ohio or
    # Henderson County): the town. (A country's name keeps its meaning: "Lebanon" and "Ohio" in
    # one story is a story about Lebanon as often as one about Lebanon, Ohio.)
    core_codes = [c for c in mentions[0].core.codes if not c.startswith("@")] if mentions[0].core else []
    unsupported_core = bool(core_codes) and all(outside(code[:2]) <= 0 for code in core_codes)
    interpretations = _interpretations(mentions)
    largest: dict[str, int] = defaultdict(int)
    for place in mentions[0].local:
        population = _population(place, mentions[0].name)
        if population > largest[place.country]:  # (as max(), which costs 5x this)
            largest[place.country] = population
    named_core = max((largest.get(c[:2], 0) for c in core_codes if outside(c[:2]) > 0), default=0) if core_codes else 0
    # "the war in Georgia … the Georgian war": the country, not the state
    as_country = read_as_country(mentions, evidence, own)
    scored = []
    for code, prior, from_core, population in interpretations:
        country = code[:2]
        away = outside(country)
        fit = FIT_COUNTRY * (1.0 if 1.0 < away else away)  # min(away, 1.0), as in share()
        # Country-level votes help choose, not accept: every junk word is some American town.
        choice = FIT_SHARED_COUNTRY * share(votes, country)
        if unsupported_core and not from_core and outside(country + "*") >= COHERENT_MIN:
            choice += FIT_COHERENT
        if "-" in code:
            if from_core and as_country:
                continue
            # A hamlet beside a namesake ten times its size in the same country (or in a core
            # meaning's country the story names: "Washington" beside "U.S." is no English town)
            # takes its state's evidence at half weight: "Washington" naming Maryland is the capital.
            dwarfed = not from_core and population * DWARFED < max(largest.get(country, 0), named_core)
            away = outside(code)
            fit += (FIT_DIVISION / (2 if dwarfed else 1)) * (1.0 if 1.0 < away else away)
            fit += FIT_SHARED * share(votes, code)
            choice += FIT_SHARED * share(helping, code)
        if code in qualifiers or country in qualifiers:
            fit += FIT_QUALIFIER
        scored.append((prior + fit + choice, fit, from_core, population, code))
    # A name used again and again whose every meaning is in one country ("Gainesville") is a
    # place even when the story names nothing else: the local paper's readers know where it is.
    # (Not a name of several words with one meaning: "El Niño" is a Mexican town.)
    # Not a name that is only another place's other name ("Wal", of "Wal-Mart", an old name of an
    # Ethiopian town), nor one of hamlets only ("Titan Operating").
    local = mentions[0].local
    countries = {p.country for p in local}
    one_country = (len(countries) == 1 and any(p.kind != "alternate" for p in local)
                   and max(size(p) for p in local) >= ONE_COUNTRY_POPULATION
                   and sum(not c.sentence_start for c in mentions) >= ONE_COUNTRY_MENTIONS)

    def acceptable(entry: tuple[float, float, bool, int, str]) -> bool:
        _, fit, from_core, population, code = entry
        if from_core or (unsupported_core and outside(code[:2] + "*") >= COHERENT_MIN):
            return True
        if qualifiers:  # "Cornwall, UK": only a Cornwall in the UK
            return code in qualifiers or code[:2] in qualifiers
        if counties or dateline:
            return True
        if name_like:  # "Mark Biggs", "the Supreme Court"
            return False
        if one_country:
            return True
        if fit + (FIT_LOCATIVE if locative else 0.0) >= LOCAL_ACCEPT:
            return True
        if not locative or population < LOCATIVE_ALONE_POPULATION:
            return False
        others = [s[3] for s in scored if s is not entry]
        return not others or population >= LOCATIVE_ALONE_LEAD * max(others)

    kept = [entry for entry in scored if entry[2] or acceptable(entry)]  # (a core meaning always is)
    if not kept:
        # "Greenwood, W. Va.": a town the gazetteer lacks (it lists places of 500 people and more)
        # in the state written after it is in that state all the same
        stated = {q for q in qualifiers if "-" in q}
        return (stated.pop(), False) if mentions[0].core is None and len(stated) == 1 else (None, False)
    best = kept[0] if len(kept) == 1 else max(kept, key=lambda s: (round(s[0], 9), s[2], s[3]))
    return best[4], best[2]
