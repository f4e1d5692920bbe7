"""How well and how fast the geoparser (`digest.regions.locate`) places stories.

Three methods side by side in one run: today's `locate` (the code at commit TODAY_REF, before the
geoparser, loaded from git), the geoparser, and a "first place named" baseline (the first
candidate in the headline or text, with its default meaning). Two data sets:
- ../shared/data/regions-dev/labeled.jsonl (noisy labels; see its README): country and region
  accuracy per label source, and a confusion table of regions for the geoparser;
- ../shared/data/geoparsing-dev/lgl.jsonl (US local news, hand-resolved toponyms): per-toponym
  country and first-level division accuracy (geoparser and baseline: today's code does not say
  which name it resolved where), and article focus country where one country leads the
  annotations. Reported for two halves split by a hash of the article id (A: development, B:
  held out, never read while building the rules) and both together.
Then articles per second on 3,000-character articles, start-up with the index built, the index
build time and peak memory.

    .venv/bin/python benchmarks/bench_regions.py [--quick] [--misses]

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
import resource
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.gazetteer import Gazetteer, default_index_path, load_gazetteer
from digest.models import Location
from digest.regions import RegionTable, focus, load_region_table, locate
from digest.resolve import Resolved, resolve
from digest.toponyms import candidates

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lgl_gold import same_division, gold_divisions, half, lgl_focus, outlet_homes  # noqa: E402

TODAY_REF = "7cde175"  # the last commit before the geoparser
LGL = ROOT.parent / "shared" / "data" / "geoparsing-dev" / "lgl.jsonl"
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


def default_meanings(title: str, text: str, gaz: Gazetteer) -> list[Resolved]:
    """Every candidate with its default meaning (the core's first code, else the most populous
    local place) and no context: the baseline's toponyms."""
    resolved = []
    for c in candidates(title, text, gaz):
        codes = [code for code in (c.core.codes if c.core else ()) if not code.startswith("@")]
        code = codes[0] if codes else (c.local[0].code if c.local and not c.core else None)
        if code:
            resolved.append(Resolved(c, code, 1.0))
    return resolved


def first_place(title: str, text: str, table: RegionTable, gaz: Gazetteer) -> Location:
    """The baseline: the first place named, in its default meaning."""
    return focus(default_meanings(title, text, gaz)[:1], table)


def today_locate() -> object | None:
    """`locate` as it was at TODAY_REF (from git), or None without git history."""
    try:
        source = subprocess.run(["git", "show", f"{TODAY_REF}:digest/regions.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("today_regions")
    module.__file__ = str(ROOT / "digest" / "regions.py")  # its data files are still there, unchanged
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, f"{TODAY_REF}:digest/regions.py", "exec"), module.__dict__)
    return lambda title, text, table: module.locate(title, text, module.load_region_table(table.path))


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


def evaluate_lgl(records: list[dict], table: RegionTable, gaz: Gazetteer, methods: dict) -> dict:
    """Per half: toponym country and division accuracy (where a method says which name it resolved
    where) and article focus-country accuracy."""
    tally: dict[tuple[str, str], Counter] = defaultdict(Counter)
    misses: list[tuple] = []
    codes = gold_divisions(records)
    for record in records:
        part, gold_focus = half(record["id"]), lgl_focus(record)
        for name, (resolver, locator) in methods.items():
            if resolver is not None:
                resolved = resolver(record["title"], record["text"], gaz)
                spans = [(r.candidate.start, r.candidate.end, r.code) for r in resolved
                         if not r.candidate.in_title and r.code]
                for t in record["toponyms"]:
                    if not t.get("country"):
                        continue
                    code = next((code for start, end, code in spans if start < t["end"] and t["start"] < end), None)
                    for key in (part, "all"):
                        tally[(name, key)]["toponyms"] += 1
                        tally[(name, key)]["toponym_country"] += bool(code) and code[:2] == t["country"]
                        if t.get("admin1") and t["fcode"] not in ("PCLI", "PCLS", "PCLD", "PCLIX", "CONT"):
                            tally[(name, key)]["divisional"] += 1
                            tally[(name, key)]["toponym_division"] += (bool(code) and code[:2] == t["country"]
                                                                     and same_division(code, t["country"], t["admin1"], codes))
            if gold_focus is None:
                continue
            found = locator(record["title"], record["text"], table)
            for key in (part, "all"):
                tally[(name, key)]["articles"] += 1
                tally[(name, key)]["focus"] += found.country == gold_focus
            if name == "geoparser" and found.country != gold_focus:
                misses.append((record["id"], part, gold_focus, found.country, _top3(found)))
    return {"tally": tally, "misses": misses}


def startup(index: Path) -> tuple[float, float]:
    """Seconds for a fresh interpreter to import, open the built index and place one story, and
    for a bare interpreter."""
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                       env={**os.environ, "DIGEST_GAZETTEER": str(index)})
        return time.perf_counter() - start
    first_story = ("from digest.gazetteer import load_gazetteer; from digest.regions import load_region_table, "
                   "locate; locate('Talks in Syria', 'Syria talks.', load_region_table(), load_gazetteer())")
    bare = run("pass")
    return run(first_story) - bare, bare


def build(path: Path) -> float:
    """Seconds for a full index build at `path` in a fresh interpreter (so that this process's
    peak memory is the geoparser's at work, not the build's)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digest.gazetteer", str(path)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter speed run, no timed index build (CI)")
    parser.add_argument("--misses", action="store_true",
                        help="list the records placed in another region or country")
    args = parser.parse_args()
    if not DATA.exists() or not LGL.exists():
        print(f"skipped: {DATA} or {LGL} is not there (../shared is absent)")
        return 0
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    lgl = [json.loads(line) for line in LGL.read_text(encoding="utf-8").split("\n") if line.strip()]
    table = load_region_table()
    index = default_index_path()
    if not args.quick or not index.exists():
        if args.quick:
            seconds = build(index)
        else:
            with tempfile.TemporaryDirectory() as scratch:
                seconds = build(Path(scratch) / "gazetteer.sqlite")
            if not index.exists():
                build(index)
        build_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"index build: {seconds:.1f} s, peak memory {build_peak:,.0f} MB (in a fresh interpreter)")
    gaz = load_gazetteer(index)
    warm, bare = startup(gaz.path)
    print(f"start-up (import + open the built index + first story): {warm:.3f} s "
          f"(on top of {bare:.3f} s for a bare interpreter)")

    ours = lambda title, text, table: locate(title, text, table, gaz)  # noqa: E731
    baseline = lambda title, text, table: first_place(title, text, table, gaz)  # noqa: E731
    methods = {"geoparser": ours, "baseline: first place named": baseline}
    today = today_locate()
    if today is not None:
        methods = {f"today's locate ({TODAY_REF})": today, **methods}
    else:
        print(f"(today's locate skipped: no git history with {TODAY_REF})")

    results = {name: evaluate(records, table, method) for name, method in methods.items()}
    print(f"\nregions-dev\n{'method':30} {'labels':9} {'n':>4} {'region acc':>10} {'country acc':>12}")
    for name, result in results.items():
        for source, t in sorted(result["per_source"].items()):
            print(f"{name:30} {source:9} {t['n']:>4} {t['region_ok'] / t['n']:>10.1%} "
                  f"{t['country_ok'] / max(t['country_n'], 1):>11.1%} (of {t['country_n']})")

    confusion = results["geoparser"]["confusion"]
    names = list(table.regions)
    print("\nconfusion of regions for the geoparser (rows: label, columns: predicted)")
    short = [n[:9] for n in names]
    print(f"{'':22}" + "".join(f"{s:>10}" for s in short))
    for truth in names:
        print(f"{truth:22}" + "".join(f"{confusion.get((truth, p), 0):>10}" for p in names))

    resolvers = {name: (None, method) for name, method in methods.items()}
    resolvers["geoparser"] = (lambda title, text, g: resolve(candidates(title, text, g)), ours)
    resolvers["baseline: first place named"] = (default_meanings, baseline)
    # The same geoparser told each outlet's home (as an operator of a local paper would).
    homes = outlet_homes(lgl, gold_divisions(lgl))
    home_of = {(r["title"], r["text"]): homes.get(r["id"]) for r in lgl}
    resolvers["geoparser, outlet's home given"] = (
        lambda title, text, g: resolve(candidates(title, text, g), home_of.get((title, text))),
        lambda title, text, table: locate(title, text, table, gaz, home_of.get((title, text))))
    lgl_result = evaluate_lgl(lgl, table, gaz, resolvers)
    print("\nLGL (half A: development, B: held out)")
    print(f"{'method':30} {'half':4} {'articles':>8} {'focus':>7} {'toponyms':>8} {'country':>8} {'division':>9}")
    for name in resolvers:
        for key in ("A", "B", "all"):
            t = lgl_result["tally"][(name, key)]
            per_toponym = (f"{t['toponyms']:>8} {t['toponym_country'] / t['toponyms']:>8.1%} "
                           f"{t['toponym_division'] / max(t['divisional'], 1):>9.1%}") if t["toponyms"] else f"{'-':>8} {'-':>8} {'-':>9}"
            print(f"{name:30} {key:4} {t['articles']:>8} {t['focus'] / max(t['articles'], 1):>7.1%} {per_toponym}")
    print("(country: of resolved gold toponyms, the share we found and put in the right country; division: of "
          "those below country level with a gold first-level division, the share in the right one)")
    print(f"(outlet's home: the division or country most of the outlet's other articles are about, "
          f"for {len(homes)} of {len(lgl)} articles)")

    if args.misses:
        print("\nregion misses (regions-dev):")
        for miss in results["geoparser"]["misses"]:
            print("  ", *miss)
        print("\ncountry misses (regions-dev; label countries, our country, our top three):")
        for miss in results["geoparser"]["country_misses"]:
            print("  ", *miss)
        print("\nLGL focus misses (id, half, gold, ours, our top three):")
        for miss in lgl_result["misses"]:
            print("  ", *miss)

    seconds = 1.0 if args.quick else 5.0
    rates = {name: speed(records, table, method, seconds) for name, method in methods.items()}
    print("\nspeed on 3,000-character articles (after start-up): " + "; ".join(
        f"{name} {rate:,.0f} articles/s" for name, rate in rates.items()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (the three methods and both data sets loaded, index open): {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
