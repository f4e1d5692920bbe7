"""Save, or compare against a saved file, the full `locate` output for every article of the dev sets.

For speed work that must not change a single answer: save before, compare after each change.
Each article of ../shared/data/geoparsing-dev (LGL), ../shared/data/regions-dev and
../shared/data/wikinews, whole and padded to the 3,000 characters of bench_regions' speed run
(which moves the lead/body cut), and the sample articles; per article the country, division,
region, ranked countries and regions.

    .venv/bin/python benchmarks/locate_snapshot.py save /tmp/before.json
    .venv/bin/python benchmarks/locate_snapshot.py compare /tmp/before.json   # exit 1 on any difference
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.gazetteer import load_gazetteer
from digest.regions import load_region_table, locate

SETS = ("geoparsing-dev/lgl.jsonl", "regions-dev/labeled.jsonl", "wikinews/articles.jsonl")


def articles() -> Iterator[tuple[str, str, str]]:
    for name in SETS:
        path = ROOT.parent / "shared" / "data" / name
        if not path.exists():
            print(f"skipped: {path} is not there", file=sys.stderr)
            continue
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                record = json.loads(line)
                yield record["id"], record["title"], record["text"]
                text = record["text"]
                while len(text) < 3000:
                    text += "\n\n" + record["text"]
                yield record["id"] + "#3000", record["title"], text[:3000]
    for path in sorted((ROOT / "sample" / "articles").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        yield path.name, text.split("\n", 1)[0], text


def snapshot() -> dict[str, list]:
    gaz, table = load_gazetteer(), load_region_table()
    out = {}
    for key, title, text in articles():
        found = locate(title, text, table, gaz)
        out[key] = [found.country, found.division, found.region, [list(c) for c in found.countries],
                    list(found.regions)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("save", "compare"))
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    now = snapshot()
    if args.mode == "save":
        args.path.write_text(json.dumps(now, indent=0), encoding="utf-8")
        print(f"saved {len(now)} articles to {args.path}")
        return 0
    before = json.loads(args.path.read_text(encoding="utf-8"))
    differences = [key for key in before.keys() | now.keys() if before.get(key) != now.get(key)]
    for key in sorted(differences)[:20]:
        print(f"{key}\n  before: {before.get(key)}\n  now:    {now.get(key)}")
    print(f"{len(differences)} differences in {len(before)} articles")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
