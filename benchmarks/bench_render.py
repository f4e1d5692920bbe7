"""Benchmark: per-subscriber MIME messages from segments rendered once, against rendering
and inlining for every subscriber (the baseline), measured in the same run.

    .venv/bin/python benchmarks/bench_render.py            # 100,000 subscribers, 24 segments
    .venv/bin/python benchmarks/bench_render.py --quick    # 10,000 subscribers
    .venv/bin/python benchmarks/bench_render.py --write    # also record the figures

It also times the size fit of one oversized segment (--fit-stories, 10,000 stories; 1,000
with --quick) against main's step-by-step search, counting premailer passes.

Content: 40 Wikinews articles (CC BY 2.5) from ../shared/data, or synthetic stories of the
same size when ../shared is absent. Prints the figures; only --write replaces the committed
benchmarks/RESULTS-render.md, so quick CI runs leave it alone.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from premailer import Premailer  # noqa: E402

from digest import render  # noqa: E402
from digest.config import Config  # noqa: E402
from digest.credentials import Secrets  # noqa: E402
from digest.message import build_mime  # noqa: E402
from digest.models import Article, DigestItem, Edition, EditionStats, Location, Section, Subscriber  # noqa: E402
from digest.subscribers import links_for  # noqa: E402

REGIONS = ("Africa", "Asia", "Australia & Oceania", "Europe", "Latin America", "Middle East", "US & Canada")
WIKINEWS = ROOT.parent / "shared" / "data" / "wikinews" / "articles.jsonl"


def stories(count: int) -> tuple[list[tuple[str, str, tuple[str, ...]]], str]:
    if WIKINEWS.is_file():
        # past the 284 articles of the file, the stories repeat
        rows = list(itertools.islice(itertools.cycle(json.loads(line) for line in WIKINEWS.open(encoding="utf-8")),
                                     count))
        return [(r["title"], r["url"], tuple(s.rstrip(".") + "." for s in r["text"].split("\n\n")[0].split(". ")[:2]))
                for r in rows], "Wikinews (CC BY 2.5)"
    sentence = "Officials said the talks would resume next week after a long day of meetings in the capital."
    return [(f"Synthetic story {i}", f"https://news.example.org/{i}", (sentence, sentence)) for i in range(count)], \
        "synthetic (../shared absent)"


def make_edition(count: int) -> tuple[Edition, str]:
    rows, origin = stories(count)
    sections: dict[str, list[DigestItem]] = {r: [] for r in REGIONS}
    for i, (title, url, summary) in enumerate(rows):
        article = Article(url=url, title=title, text=" ".join(summary), source="Wikinews",
                          published=datetime(2019, 1, 4, 5, tzinfo=UTC) - timedelta(minutes=9 * i))
        sections[REGIONS[i % len(REGIONS)]].append(DigestItem(article, summary, Location(None, REGIONS[i % len(REGIONS)])))
    return Edition("World Digest", date(2019, 1, 4), datetime(2019, 1, 4, 6, tzinfo=UTC),
                   tuple(Section(r, tuple(items)) for r, items in sections.items()), EditionStats()), origin


def segments(count: int) -> list[frozenset[str] | None]:
    """`count` distinct region sets: everything, each single region, then pairs and triples."""
    sets: list[frozenset[str] | None] = [None]
    for size in (1, 2, 3):
        sets += [frozenset(c) for c in itertools.combinations(REGIONS, size)]
    return sets[:count]


def subscribers(count: int, region_sets: list[frozenset[str] | None]) -> list[Subscriber]:
    return [Subscriber(f"reader{i}@example.org", name=f"Reader {i}" if i % 3 else None,
                       regions=region_sets[i % len(region_sets)], id=i + 1) for i in range(count)]


def main_fit(attempt, page, total: int):  # noqa: ANN001, ANN201
    """The size fit as on main: the full page inlined, then one inlining per search step."""
    attempt(None, False)
    return render._fit_by_search(attempt, total)


def fit(count: int) -> list[str]:
    """CPU time and premailer passes of `render_segment` for one oversized segment."""
    config = Config()
    edition, _ = make_edition(count)
    passes = 0
    transform = Premailer.transform

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        nonlocal passes
        passes += 1
        return transform(self, *args, **kwargs)

    Premailer.transform = counted
    figures = {}
    try:
        for name, fitter in (("main (inline each search step)", main_fit), ("predicted sizes", render._fit)):
            passes = 0
            render_fit, render._fit = render._fit, fitter
            try:
                cpu = time.process_time()
                rendered = render.render_segment(edition, config, None)
                figures[name] = (time.process_time() - cpu, passes, rendered.stories, len(rendered.html.encode()))
            finally:
                render._fit = render_fit
    finally:
        Premailer.transform = transform
    (old, *_), (new, *_) = figures.values()
    return [f"- size fit of one segment of {count:,} stories, {name}: {cpu:.2f} s CPU, {n} premailer passes, "
            f"{shown} stories shown, {size / 1000:.1f} kB" for name, (cpu, n, shown, size) in figures.items()] + \
        [f"- size fit: **x{old / new:.1f}** less CPU than main's search"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 subscribers, a smaller baseline sample")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--segments", type=int, default=24)
    parser.add_argument("--fit-stories", type=int, help="stories in the oversized segment of the size-fit run")
    parser.add_argument("--write", action="store_true", help="replace benchmarks/RESULTS-render.md with these figures")
    args = parser.parse_args()
    total = args.subscribers or (10_000 if args.quick else 100_000)
    sample = 20 if args.quick else 60

    config = Config()
    secrets = Secrets(signing_key="bench-signing-key")
    edition, origin = make_edition(40)
    region_sets = segments(args.segments)
    people = subscribers(total, region_sets)

    # The fast path: one render per segment, then bytes per subscriber.
    # Rates use CPU time of this process (one core): wall time on a shared machine also counts
    # other processes; both are printed.
    start, cpu = time.perf_counter(), time.process_time()
    size = count = 0
    for _, raw in build_mime(edition, "2019-01-04", people, config, secrets):
        size += len(raw)
        count += 1
    fast_wall, fast = time.perf_counter() - start, time.process_time() - cpu

    # The baseline: render, inline and fill for each subscriber (a sample, same segments).
    start, cpu = time.perf_counter(), time.process_time()
    for person in people[:sample]:
        rendered = render.render_segment(edition, config, person.regions)
        links = links_for(config, person, "bench-signing-key")
        rendered.fill({"greeting": "Hello", "email": person.email, "unsubscribe": links.unsubscribe,
                       "preferences": links.preferences, "web_url": render.edition_url(config, "2019-01-04")})
    slow_wall, slow = time.perf_counter() - start, time.process_time() - cpu

    fast_rate, slow_rate = count / fast, sample / slow
    lines = [
        f"- content: 40 stories, {origin}; {len(region_sets)} segments; {count:,} subscribers",
        f"- build_mime: {count:,} messages, {size / 1e6:,.1f} MB of MIME in {fast:.2f} s CPU "
        f"({fast_wall:.2f} s wall): **{fast_rate:,.0f} messages/s** (wall: {count / fast_wall:,.0f}/s; "
        f"mean {size / count / 1000:.1f} kB per message; includes rendering the {len(region_sets)} segments)",
        f"- baseline, render + inline + fill per subscriber ({sample} subscribers): {slow_rate:,.1f} messages/s "
        f"(wall: {sample / slow_wall:,.1f}/s)",
        f"- ratio: **{fast_rate / slow_rate:,.0f}x** faster than rendering per subscriber",
        *fit(args.fit_stories or (1_000 if args.quick else 10_000)),
    ]
    print("\n".join(lines))
    if args.write:
        results = ROOT / "benchmarks" / "RESULTS-render.md"
        # the figures' own sections ("## ...", kept for comparison) stay below the new run
        kept = results.read_text(encoding="utf-8").partition("\n## ")[1:] if results.is_file() else ()
        results.write_text(
            "# Render and message benchmark\n\n"
            f"`benchmarks/bench_render.py{' --quick' if args.quick else ''}` on "
            f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, one process "
            f"(one core), {time.strftime('%Y-%m-%d')}. Target: >= 5,000 messages/s.\n\n"
            + "\n".join(lines) + "\n\nStories from Wikinews (https://en.wikinews.org), CC BY 2.5 "
            "(https://creativecommons.org/licenses/by/2.5/), summaries shortened.\n" + "".join(kept),
            encoding="utf-8")


if __name__ == "__main__":
    main()
