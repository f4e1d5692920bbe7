"""Where is a story? A focus country, division and region from its title and text.

The geoparser has three steps, each its own module: `digest.toponyms` finds candidate names
(against the index of `digest.gazetteer`), `digest.resolve` decides what each means from the rest
of the story, and this module weighs them into a focus. Every mention adds a weight to its
country and division (headline > lead > body > dateline; demonyms and institutions less); the
country with the most weight is the focus (on a tie, the one in the region with more weight, then
the one named first), its leading division is given when it holds most of the country's weight,
and regions come from a replaceable country→region table that also accepts ISO 3166-2 rows.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from digest.data_files import DATA_DIR, csv_rows
from digest.errors import DigestError
from digest.gazetteer import Gazetteer
from digest.models import GLOBAL_REGION, Location
from digest.resolve import MINOR_ALONE_MENTIONS, Resolved, resolve
from digest.toponyms import candidates

DEFAULT_TABLE = DATA_DIR / "regions.csv"

W_HINT = 0.5  # "Asian", "Latin America": a region without a country
SECONDARY_SHARE = 0.75  # another region this close to the first is shown as "also: …"
# A story spread over many countries and regions with no clear leader is global.
GLOBAL_MIN_COUNTRIES, GLOBAL_TOP_SHARE = 5, 0.25
DIVISION_SHARE = 0.5  # a division holding this share of its country's weight is the story's division


class RegionTableError(DigestError, ValueError):
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
    for number, fields in csv_rows(lines):
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


def _is_known_code(code: str) -> bool:
    """An ISO 3166-1 alpha-2 country ("US", and Kosovo's "XK") or ISO 3166-2 division ("US-LA")."""
    import pycountry

    if re.fullmatch(r"[A-Z]{2}", code):
        return code == "XK" or pycountry.countries.get(alpha_2=code) is not None
    return "-" in code and pycountry.subdivisions.get(code=code) is not None


def home_code(value: str) -> str:
    """A source's home as `locate` takes it ("us-la " → "US-LA"); ValueError naming it if it is
    no ISO 3166 country or division code."""
    code = value.strip().upper()
    if not _is_known_code(code):
        raise ValueError(f"unknown home {value!r}: give an ISO 3166 country (\"GB\") or division (\"US-LA\") code")
    return code


# --- focus ----------------------------------------------------------------------------------


def locate(title: str, text: str, table: RegionTable, gazetteer: Gazetteer, home: str | None = None) -> Location:
    """The story's focus country, division and region, with the ranked countries behind the choice.

    `table` is the country→region table (`load_region_table()`), `gazetteer` the opened index
    (`load_gazetteer()`); nothing is read or written here beyond the index itself. `home` is the
    outlet's country or division code when the operator gave one (`[[sources]] home`): it helps
    read the names a local paper leaves bare, and places nothing by itself."""
    return focus(resolve(candidates(title, text, gazetteer), home), table)


def focus(resolved: list[Resolved], table: RegionTable) -> Location:
    """Weigh the resolved mentions: the country with most weight is the focus."""
    return _decide(*_score(resolved), table)


def _score(resolved: list[Resolved]) -> tuple[dict[str, float], dict[str, float]]:
    """Weight per code, in the order the codes are first named (headline first), and per region
    hinted at. A minor city counts only when its country is also named some other way."""
    scores: dict[str, float] = defaultdict(float)
    hints: dict[str, float] = defaultdict(float)
    names: dict[str, set[str]] = defaultdict(set)  # country → distinct names that pointed at it
    for r in resolved:
        if r.code:
            names[r.code[:2]].add(r.candidate.name)
    first_named: dict[str, int] = {}
    for i, r in enumerate(resolved):
        if r.hint:
            hints[r.hint] += r.weight * W_HINT
        # a mention weighed at nothing (a firm's home, an unclear name in a Title-Case headline) ranks nothing
        elif r.code and r.weight > 0 and (not r.minor or len(names[r.code[:2]]) > 1):
            scores[r.code] += r.weight
            first_named.setdefault(r.code, i)
    if not scores:
        # Nothing else places the story: a smaller city does when it looks like a place ("in
        # Springfield", "Springfield schools") or is named again and again mid-sentence, not
        # beside another name; "President Bush … Bush spoke", "Brent Schleisman" do not.
        minor = [(i, r) for i, r in enumerate(resolved) if r.minor and r.code and r.weight > 0]
        placed = {r.candidate.name for _, r in minor if r.candidate.locative or r.candidate.place_noun}
        mentions = Counter(r.candidate.name for _, r in minor if not (
            r.candidate.person_like or r.candidate.before_capital or r.candidate.sentence_start))
        for i, r in minor:
            if r.candidate.name in placed or mentions[r.candidate.name] >= MINOR_ALONE_MENTIONS:
                scores[r.code] += r.weight
                first_named.setdefault(r.code, i)
    return dict(sorted(scores.items(), key=lambda item: first_named[item[0]])), hints


def _decide(scores: dict[str, float], hints: dict[str, float], table: RegionTable) -> Location:
    countries: dict[str, float] = defaultdict(float)
    regions: dict[str, float] = defaultdict(float)
    regions.update((region, weight) for region, weight in hints.items() if region in table.regions)
    for code, weight in scores.items():
        countries[code[:2]] += weight
        regions[table.region_of(code)] += weight
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
    country = ranked[0][0]
    divisions = [(w, c) for c, w in scores.items() if c[:2] == country and "-" in c]
    division = None
    if divisions:
        weight, code = max(divisions, key=lambda d: d[0])  # the first named on a tie
        division = code if weight >= DIVISION_SHARE * countries[country] else None
    primary = table.region_of(division or country)
    shown = [primary] + [r for r, w in by_region if r != primary and w >= SECONDARY_SHARE * regions[primary]]
    return Location(country=country, region=primary, countries=ranked, regions=tuple(shown[:2]),
                    division=division)
