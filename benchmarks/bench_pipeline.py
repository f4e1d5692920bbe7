"""Articles per second for each stage of the pipeline on the bundled sample corpus.

The stages are the plain `digest.pipeline` functions the Prefect flow calls, without Prefect, so
the figures are the work itself. The baseline in the same run is the cheapest possible
collection: reading the same feed files with feedparser alone, no pages, no extraction.
Each stage shows wall and CPU time per item (the machine is shared: CPU time is the steadier
figure); the last lines give the whole pipeline's CPU time per article and the peak RSS.

    .venv/bin/python benchmarks/bench_pipeline.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import feedparser

from digest import pipeline
from digest.collect import collect_source
from digest.dedupe import deduplicate
from digest.config_file import load_config
from digest.credentials import Secrets
from digest.gazetteer import load_gazetteer
from digest.message import build_messages
from digest.models import EditionStats, Subscriber
from digest.regions import load_region_table
from digest.render import render_edition
from digest.stories import stories_of

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2017, 10, 18, 6, 0, tzinfo=timezone.utc)
SECRETS = Secrets(signing_key="bench-signing-key")


CPU: Counter[str] = Counter()  # CPU seconds per stage, filled by `timed`


def timed(fn, stage: str):  # noqa: ANN001, ANN201
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    CPU[stage] += time.process_time() - cpu
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one pass only")
    parser.add_argument("--repeat", type=int, default=5, help="passes over the sample (default 5)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    config = load_config(ROOT / "digest.toml")
    with tempfile.TemporaryDirectory() as tmp:
        config.output_dir = Path(tmp)
        table = load_region_table(config.edition.region_table)
        plan = pipeline.plan_edition(config, table, date(2017, 10, 18), now=NOW)
        gazetteer = load_gazetteer()
        totals: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for _ in range(repeat):
            feeds = [s for s in config.sources if s.kind == "feed"]
            parsed, seconds = timed(lambda: [feedparser.parse(s.url) for s in feeds], "baseline: feedparser only")
            totals["baseline: feedparser only"] += seconds
            counts["baseline: feedparser only"] += sum(len(p.entries) for p in parsed)

            results, seconds = timed(lambda: [collect_source(s, config, now=NOW) for s in config.sources], "collect + extract")
            articles = [a for r in results for a in r.articles]
            totals["collect + extract"] += seconds
            counts["collect + extract"] += len(articles)

            articles, seconds = timed(lambda: deduplicate(articles), "deduplicate")
            totals["deduplicate"] += seconds
            counts["deduplicate"] += len(articles)

            stories, seconds = timed(lambda: stories_of(articles), "stories")
            totals["stories"] += seconds
            counts["stories"] += len(articles)

            faces = pipeline.faces_of(stories)
            summaries, seconds = timed(lambda: pipeline.summarize_faces(faces, config.edition.sentences), "summarize")
            totals["summarize"] += seconds
            counts["summarize"] += len(faces)

            places = pipeline.places_of(stories)
            locations, seconds = timed(lambda: pipeline.locate_places(places, table, gazetteer), "locate")
            totals["locate"] += seconds
            counts["locate"] += len(places)

            edition = pipeline.assemble(plan, stories, summaries, locations, EditionStats())
            _, seconds = timed(lambda: render_edition(edition, config), "render + inline")
            totals["render + inline"] += seconds
            counts["render + inline"] += len(stories)

            subscribers = [Subscriber(f"reader{i}@example.org", id=i,
                                      regions=None if i % 2 else frozenset(table.regions[i % 7:i % 7 + 2]))
                           for i in range(200)]
            messages, seconds = timed(lambda: [m.as_bytes() for _, m in build_messages(edition, "bench", subscribers, config, SECRETS)], "messages (200 subscribers)")
            totals["messages (200 subscribers)"] += seconds
            counts["messages (200 subscribers)"] += len(messages)

    baseline = totals["baseline: feedparser only"] / max(counts["baseline: feedparser only"], 1)
    print(f"Sample corpus, {repeat} pass(es), {counts['deduplicate'] // repeat} articles per pass")
    print(f"{'stage':30} {'items/s':>10} {'ms/item':>9} {'ms CPU/item':>12} {'× baseline':>11}")
    for stage, seconds in totals.items():
        per_item = seconds / max(counts[stage], 1)
        print(f"{stage:30} {1 / per_item if per_item else float('inf'):10.1f} {per_item * 1000:9.2f} "
              f"{CPU[stage] / max(counts[stage], 1) * 1000:12.2f} {per_item / baseline:11.1f}")
    articles = counts["collect + extract"]
    work = sum(cpu for stage, cpu in CPU.items() if stage != "baseline: feedparser only")
    print(f"whole pipeline (collect to messages): {work / max(articles, 1) * 1000:.1f} ms CPU per collected article")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
