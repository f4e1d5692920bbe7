"""What Prefect costs: the `daily-digest` flow against the same stages as plain function calls.

1. Overhead: N generated articles (default 2,000; 200 with --quick) in four RSS feeds with a page
   per entry, served by a local HTTP server in its own process. Each article is real news
   sentences from ../shared/data dealt at random (read in place), so nearly every article is a
   story of its own (2,000 → 1,988 stories; 10,000 → about 7,600). The same edition is built and
   written to an outbox twice, each on a fresh store: once as plain function calls, once as the
   Prefect flow (on a temporary local Prefect API started beforehand, so only the run itself is
   timed; the API in a process of its own, `api_server`, started as `digest run` starts it). Prints both times and the ratio (target <= 1.15), the plain path's CPU per article
   (target <= 10 ms) by stage and its peak RSS (target <= 400 MB at 10,000). `--plain-only`: just that.
   `--flow-only --embedded`: the flow as `digest run` in a process of its own (no PREFECT_API_URL,
   so the temporary API starts inside it), its wall time and peak RSS.
2. Task inputs: what Prefect does with one summarize batch's parameters before the task runs
   (look for futures in them, resolve them) and its cache key, for a batch of full Stories
   (batches of 100, the default) with a key computed per article (the baseline, as before) and for the compact `Face`
   tuples with the summarizer key computed once (as the flow now does). No API needed.
3. Start-up: `digest run` on the sample corpus in a subprocess, with no PREFECT_API_URL, so the
   ephemeral API starts inside the command; wall time with a brand-new PREFECT_HOME (cold) and
   again with the same one (warm). Target < 30 s.

4. `--repeat K`: only the ratio, as K plain and flow runs alternated in one process (see
   `bench_repeat`); the figure to quote is the median of the pairs.

    .venv/bin/python benchmarks/bench_flow.py [--quick] [--articles N] [--plain-only | --flow-only [--embedded]]
        [--no-startup] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from flow_harness import MemoryView, api_server, digest_run, peak_rss_mb

from digest.allocator import long_lived_frozen

ROOT = Path(__file__).resolve().parent.parent
EDITION = date(2024, 5, 2)
FEEDS = 4  # at least; more for a larger corpus, at most PER_FEED entries each
PER_FEED = 500  # max_entries_per_feed's default: a larger feed would be cut
DATA = ROOT.parent / "shared" / "data"
# News text read in place (never copied into the repository): its sentences are the corpus's raw material.
TEXTS = ["wikinews/articles.jsonl", "summaries-dev/bbc_dev.jsonl", "geoparsing-dev/lgl.jsonl",
         "clustering-dev/events.jsonl", "regions-dev/labeled.jsonl"]
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"])")


def sentence_pool() -> list[str]:
    """Every sentence of 8–45 words in the dev sets' news texts, each once, in a fixed order."""
    missing = [name for name in TEXTS if not (DATA / name).is_file()]
    if missing:
        raise SystemExit(f"bench_flow needs the dev data beside the clone: {', '.join(str(DATA / m) for m in missing)}")
    seen: dict[str, None] = {}
    for name in TEXTS:
        for line in filter(None, (DATA / name).read_text(encoding="utf-8").split("\n")):
            for paragraph in json.loads(line)["text"].split("\n"):
                for sentence in _SENTENCE_END.split(paragraph.strip()):
                    if 8 <= len(sentence.split()) <= 45:
                        seen.setdefault(sentence, None)
    return list(seen)


class Deck:
    """The sentences dealt in a shuffled order, reshuffled once all are dealt: no sentence repeats
    until the pool is used up (about 2,000 stories), and then rarely in the same company."""

    def __init__(self, pool: list[str], rng: random.Random) -> None:
        self.pool, self.rng, self.left = pool, rng, []

    def deal(self, k: int) -> list[str]:
        while len(self.left) < k:
            more = self.pool[:]
            self.rng.shuffle(more)
            self.left = more + self.left
        dealt, self.left = self.left[-k:], self.left[:-k]
        return dealt


def _article(deck: Deck, n: int) -> tuple[str, str]:
    """A made-up story: real news sentences dealt from the deck, so each story has its own
    names, places and numbers and none fold as copies or as one event. The title is the start
    of the lead."""
    sentences = deck.deal(deck.rng.randint(6, 14))
    title = " ".join(sentences[0].split()[:deck.rng.randint(6, 11)]).rstrip(",;:")
    return f"{title} ({n})", " ".join(sentences)


def feeds_for(count: int) -> int:
    return max(FEEDS, -(-count // PER_FEED))


def write_corpus(folder: Path, count: int) -> None:
    """`feeds_for(count)` RSS files under folder/feeds and one HTML page per entry under folder/pages."""
    deck = Deck(sentence_pool(), random.Random(20240502))
    (folder / "feeds").mkdir(parents=True)
    (folder / "pages").mkdir()
    until = datetime(2024, 5, 2, 5, 0, tzinfo=UTC)
    feeds = feeds_for(count)
    items: list[list[str]] = [[] for _ in range(feeds)]
    for n in range(count):
        title, text = _article(deck, n)
        (folder / "pages" / f"{n}.html").write_text(
            f"<!doctype html><html lang='en'><head><title>{escape(title)}</title></head><body>"
            f"<nav>Home · World · Business</nav><article><h1>{escape(title)}</h1>"
            + "".join(f"<p>{escape(s)}</p>" for s in text.split(". "))
            + "</article><footer>© Example News</footer></body></html>", encoding="utf-8")
        published = until - timedelta(minutes=(n * 7) % (23 * 60))
        items[n % feeds].append(
            f"<item><title>{escape(title)}</title><link>../pages/{n}.html</link>"
            f"<guid>https://news.example/{n}</guid><pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(text[:200])}</description></item>")
    for i, entries in enumerate(items):
        (folder / "feeds" / f"feed{i}.rss").write_text(
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Feed {i}</title><link>https://news.example/</link><description>generated</description>"
            + "".join(entries) + "</channel></rss>", encoding="utf-8")


def write_config(folder: Path, base_url: str, name: str, count: int) -> Path:
    sources = "".join(f"""
[[sources]]
name = "Feed {i}"
kind = "feed"
url = "{base_url}/feeds/feed{i}.rss"
local = true
""" for i in range(feeds_for(count)))
    path = folder / f"{name}.toml"
    path.write_text(f"""
output_dir = "{name}-out"
store_url = "sqlite:///{name}.db"

[edition]
timezone = "UTC"
window_hours = 24

[quality]
max_html_bytes = 100000000

[[subscribers]]
email = "ana@example.org"
regions = ["Europe"]

[[subscribers]]
email = "bo@example.org"
{sources}""", encoding="utf-8")
    return path


PEAKS: dict[str, float] = {}  # peak RSS (MB) at the end of each stage of the last plain run
WALLS: dict[str, float] = {}  # wall seconds of each stage of the last plain run (to set beside the flow's)
SELECTED = [0]  # articles the last plain run selected for its edition
STORIES_FILE: list[Path] = []  # where to write the last plain run's stories (--save-stories)


def plain_run(config_path: Path, cpu: dict[str, float] | None = None) -> int:
    """The flow's stages (`digest.pipeline`) as plain calls, the same inputs and outputs, no Prefect.
    `cpu` gets each stage's CPU seconds (this process: the HTTP server runs in its own)."""
    from digest import pipeline
    from digest.config_file import load_config
    from digest.credentials import resolve_secrets
    from digest.gazetteer import load_gazetteer
    from digest.models import EditionStats
    from digest.regions import load_region_table
    from digest.store import open_store

    cpu = {} if cpu is None else cpu
    mark = [time.process_time(), time.perf_counter()]

    def done(stage: str) -> None:
        now, wall = time.process_time(), time.perf_counter()
        cpu[stage] = cpu.get(stage, 0.0) + now - mark[0]
        WALLS[stage] = wall - mark[1]
        mark[:] = now, wall
        PEAKS[stage] = peak_rss_mb()

    config = load_config(config_path)
    engine = open_store(config.store_url)
    table = load_region_table(config.edition.region_table)
    gazetteer = load_gazetteer()
    plan = pipeline.plan_edition(config, table, EDITION)
    done("setup")
    pipeline.collect_all(engine, config, now=plan.created)  # records every source's articles in the store
    done("collect")
    selection = pipeline.select(engine, plan, record=True)
    done("select")
    stories = pipeline.group(engine, selection)
    done("stories")
    SELECTED[0] = len(selection.selected)
    if STORIES_FILE:  # one line a story: its articles' URL paths (the port differs), to compare two runs
        STORIES_FILE[0].write_text("".join(" ".join(urlsplit(a.url).path for a in s.articles) + f" {s.update_of}\n"
                                           for s in stories), encoding="utf-8")
    summaries = pipeline.summarize_faces(pipeline.faces_of(stories), config.edition.sentences)
    done("summarize")
    locations = pipeline.locate_places(pipeline.places_of(stories), table, gazetteer)
    done("locate")
    edition = pipeline.assemble(plan, stories, summaries, locations, EditionStats(sources=len(config.sources)))
    del selection, stories, summaries, locations  # as the flow does: the edition holds what is left to do
    rendered, html_path = pipeline.render(edition, config)
    verdict = pipeline.judge(edition, rendered.html, config, table, force=False)
    done("render")
    secrets = resolve_secrets(config, os.environ)
    delivery = pipeline.deliver(engine, edition, config, secrets, regions=None, all_regions=plan.order)
    pipeline.archive(engine, edition, verdict, delivery, html_path)
    done("deliver")
    return len(edition.items)


def flow_run(config_path: Path) -> int:
    from digest import progress
    from flows.daily_digest import daily_digest

    memory = MemoryView()
    with progress.tracking(progress.Tracker(memory)):
        report = daily_digest(edition_date=EDITION, config_path=str(config_path))
    print("  flow stages (s):", ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items()))
    print("  flow peak / current RSS at each stage's end (MB):",
          ", ".join(f"{k} {peak:.0f}/{now:.0f}" for k, (peak, now) in memory.at_end.items()))
    return sum(report.articles_per_region.values())


@contextmanager
def corpus_site(count: int) -> Iterator[tuple[Path, str]]:
    """`count` generated articles (and a 50-article warm-up corpus under /warmup) served by a local
    HTTP server in its own process; yields the folder and the server's URL, after the warm-up run
    (imports, gazetteer, first-use caches)."""
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        folder = Path(tmp)
        write_corpus(folder / "site", count)
        write_corpus(folder / "site" / "warmup", min(count, 50))
        server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                                   "--directory", str(folder / "site"), "0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            base = "http://127.0.0.1:" + re.search(r"port (\d+)", server.stdout.readline())[1]
            os.environ["PREFECT_HOME"] = str(folder / "prefect-home")
            plain_run(write_config(folder, base + "/warmup", "warmup", min(count, 50)))
            yield folder, base
        finally:
            server.terminate()
            server.wait()


def timed_plain(folder: Path, base: str, name: str, count: int, cpu: dict[str, float]) -> tuple[float, float, int]:
    """The plain path on a fresh store `name`: wall and CPU seconds, stories in the edition."""
    start, cpu_start = time.perf_counter(), time.process_time()
    with long_lived_frozen():  # as the flow does
        stories = plain_run(write_config(folder, base, name, count), cpu)
    return time.perf_counter() - start, time.process_time() - cpu_start, stories


def timed_flow(folder: Path, base: str, name: str, count: int) -> tuple[float, float, int]:
    """The flow on a fresh store `name` and fresh result storage (no summary cached by an earlier
    run), against the API already running: wall and CPU seconds of the flow's process, stories."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: folder / f"{name}-results"}):
        start, cpu_start = time.perf_counter(), time.process_time()
        stories = flow_run(write_config(folder, base, name, count))
        return time.perf_counter() - start, time.process_time() - cpu_start, stories


def _load() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def bench_overhead(count: int, *, flow: bool = True, plain: bool = True,
                   embedded: bool = False) -> tuple[float | None, float | None]:
    """Plain functions, then (with `flow`) the Prefect flow, on `count` generated articles served by
    a local HTTP server in its own process. Prints wall time, CPU per article, peak RSS. Without
    `plain` only the flow runs, so the process's peak RSS is the flow's own. `embedded`: the flow
    as `digest run` in a process of its own, Prefect's temporary API started inside it."""
    with corpus_site(count) as (folder, base):
        warm_rss = peak_rss_mb()
        cpu: dict[str, float] = {}
        plained = plain_n = flowed = flow_n = None
        if plain:
            plained, plain_cpu, plain_n = timed_plain(folder, base, "plain", count, cpu)
            plain_rss = peak_rss_mb()
        if flow and embedded:
            flowed, run_rss = digest_run(write_config(folder, base, "flow", count), EDITION.isoformat(),
                                         folder / "run-home")
        elif flow:
            with api_server(folder):
                flowed, flow_cpu, flow_n = timed_flow(folder, base, "flow", count)
    print(f"overhead: {count} articles generated in {feeds_for(count)} feeds, {SELECTED[0]} selected, "
          f"{plain_n if plain else flow_n} stories in the edition; "
          f"load average {os.getloadavg()[0]:.1f}")
    if plained is not None:
        print(f"  plain functions : {plained:7.2f} s  ({count / plained:6.1f} articles/s), "
              f"CPU {plain_cpu * 1000 / count:.1f} ms/article (target <= 10), peak RSS {plain_rss:.0f} MB "
              f"(target <= 400 at 10,000; {warm_rss:.0f} MB after the 50-article warm-up)")
        print("    CPU per stage (s):", ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
        print("    wall per stage (s):", ", ".join(f"{k} {v:.2f}" for k, v in WALLS.items()))
        print("    peak RSS after each stage (MB):", ", ".join(f"{k} {v:.0f}" for k, v in PEAKS.items()))
    if flowed is not None and embedded:
        print(f"  digest run      : {flowed:7.2f} s  (its API's start-up included), peak RSS of the command "
              f"{run_rss:.0f} MB (target <= 400 at 10,000)")
    elif flowed is not None:
        assert plained is None or plain_n == flow_n, f"plain run built {plain_n} stories, the flow {flow_n}"
        print(f"  Prefect flow    : {flowed:7.2f} s  ({count / flowed:6.1f} articles/s), "
              f"CPU {flow_cpu * 1000 / count:.1f} ms/article (the flow's process, not the API's), "
              f"peak RSS of the process {peak_rss_mb():.0f} MB"
              + ("" if plained else f" (the flow's own; {warm_rss:.0f} MB after the warm-up)"))
    if flowed is not None and plained is not None and not embedded:
        print(f"  ratio flow/plain: {flowed / plained:7.2f}   (target <= 1.15); CPU {flow_cpu / plain_cpu:.2f}")
    return plained, flowed


def bench_repeat(count: int, pairs: int) -> list[tuple[float, float]]:
    """`pairs` plain and flow runs alternated in one process (plain first in odd pairs, the flow
    first in even ones, so neither always runs on the other's warmed machine), each on a fresh
    store, against one API; after a full-size plain run, so that every timed run finds the same
    warm caches. Prints every pair and the median wall and CPU ratios with their spread: one
    pair on this shared VM swings far more than the 15 % the target allows.
    Returns each pair's (wall ratio, CPU ratio)."""
    ratios: list[tuple[float, float]] = []
    with corpus_site(count) as (folder, base):
        timed_plain(folder, base, "full-warmup", count, {})
        with api_server(folder):
            print(f"repeat: {count} articles, {pairs} alternated pairs, one API; {_load()}")
            for i in range(1, pairs + 1):
                order = ("plain", "flow") if i % 2 else ("flow", "plain")
                runs = {kind: timed_plain(folder, base, f"plain-{i}", count, {}) if kind == "plain"
                        else timed_flow(folder, base, f"flow-{i}", count) for kind in order}
                (plain_wall, plain_cpu, plain_n), (flow_wall, flow_cpu, flow_n) = runs["plain"], runs["flow"]
                assert plain_n == flow_n, f"plain run built {plain_n} stories, the flow {flow_n}"
                print("  plain stages (s):", ", ".join(f"{k} {v:.2f}" for k, v in WALLS.items()))
                ratios.append((flow_wall / plain_wall, flow_cpu / plain_cpu))
                print(f"  pair {i} ({order[0]} first): plain {plain_wall:6.2f} s, CPU {plain_cpu * 1000 / count:.1f} "
                      f"ms/article; flow {flow_wall:6.2f} s, CPU {flow_cpu * 1000 / count:.1f} ms/article; "
                      f"ratio {ratios[-1][0]:.3f}, CPU {ratios[-1][1]:.3f}; {_load()}")
    for label, values in (("wall", [w for w, _ in ratios]), ("CPU", [c for _, c in ratios])):
        q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
        print(f"  median {label} ratio flow/plain: {statistics.median(values):.3f} (target <= 1.15); "
              f"quartiles {q[0]:.3f}-{q[2]:.3f}, range {min(values):.3f}-{max(values):.3f}")
    return ratios


def bench_task_inputs(stories: int, batch: int = 100, rounds: int = 3) -> None:
    import hashlib

    from prefect.utilities.engine import (
        collect_task_run_inputs_sync,
        resolve_inputs_sync,
    )

    from digest import pipeline
    from digest.models import Article
    from digest.stories import Story
    from digest.summarize import summarizer_key

    deck = Deck(sentence_pool(), random.Random(7))
    now = datetime.now(UTC)
    items = [Story((Article(f"https://news.example/{n}", *_article(deck, n), "Feed", now, now, None, "en"),))
             for n in range(stories)]

    def old_key(chunk: list[Story]) -> str:  # the flow's key before: summarizer_key per article
        digest = hashlib.sha256()
        for story in chunk:
            a = story.face
            digest.update(f"{a.content_hash}\x1f{a.title}\x1f{summarizer_key(2, a.language)}\x1e".encode())
        return digest.hexdigest()

    def new_key(chunk: list[pipeline.Face], keys: dict[str | None, str]) -> str:
        digest = hashlib.sha256()
        for face in chunk:
            digest.update(f"{face.content_hash}\x1f{face.title}\x1f{keys[face.language]}\x1e".encode())
        return digest.hexdigest()

    def handled(parameters: dict) -> None:
        collect_task_run_inputs_sync(parameters)
        resolve_inputs_sync(parameters)

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    story_batches = [items[i:i + batch] for i in range(0, stories, batch)]
    before = best(lambda: [(handled({"stories": chunk, "sentences": 2}), old_key(chunk)) for chunk in story_batches])

    def compact() -> None:
        faces = pipeline.faces_of(items)
        keys = {lang: summarizer_key(2, lang) for lang in {f.language for f in faces}}
        for i in range(0, stories, batch):
            chunk = faces[i:i + batch]
            handled({"faces": chunk, "sentences": 2, "summarizer_keys": keys})
            new_key(chunk, keys)

    after = best(compact)
    print(f"task inputs: {stories} stories in batches of {batch}, Prefect's input handling + cache key")
    print(f"  baseline, Story batches, key per article: {before * 1000:8.1f} ms")
    print(f"  compact Face batches, key once          : {after * 1000:8.1f} ms  ({before / after:.1f}x less)")


def bench_startup(repeats: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "digest.toml", folder / "digest.toml")
        (folder / "sample").symlink_to(ROOT / "sample")
        for attempt in range(repeats):
            elapsed, _ = digest_run(folder / "digest.toml", "2017-10-18", folder / "prefect-home")
            times.append(elapsed)
            label = "cold (new PREFECT_HOME)" if attempt == 0 else "warm (same PREFECT_HOME)"
            print(f"start-up: digest run on the sample, {label}: {elapsed:6.2f} s  (target < 30 s)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 articles and one start-up run")
    parser.add_argument("--articles", type=int, default=None)
    parser.add_argument("--plain-only", action="store_true",
                        help="only the plain functions' time, CPU and memory (no Prefect, no start-up)")
    parser.add_argument("--flow-only", action="store_true",
                        help="only the flow's time and its own peak RSS (no plain run, no start-up)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up runs")
    parser.add_argument("--embedded", action="store_true",
                        help="with --flow-only: the flow as `digest run` (Prefect's temporary API inside it)")
    parser.add_argument("--repeat", type=int, default=None, metavar="K",
                        help="only the ratio: K plain and flow runs alternated in one process, every pair "
                             "and the median ratios printed")
    parser.add_argument("--save-stories", type=Path, default=None,
                        help="write the plain run's stories here, one line each (to compare two versions)")
    args = parser.parse_args()
    STORIES_FILE[:] = [args.save_stories] if args.save_stories else []
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.pop("PREFECT_API_URL", None)
    count = args.articles or (200 if args.quick else 2000)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.1f}")
    if args.repeat:
        bench_repeat(count, args.repeat)
        return
    if args.plain_only or args.flow_only:
        bench_overhead(count, flow=args.flow_only, plain=args.plain_only, embedded=args.embedded)
        return
    bench_task_inputs(count)
    if not args.no_startup:
        bench_startup(1 if args.quick else 2)
    bench_overhead(count)


if __name__ == "__main__":
    main()
