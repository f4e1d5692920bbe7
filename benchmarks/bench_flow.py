"""What Prefect costs: the `daily-digest` flow against the same stages as plain function calls.

1. Overhead: N generated articles (default 2,000; 200 with --quick) in four RSS feeds with a page
   per entry, served by a local HTTP server. The same edition is built and written to an outbox
   twice, each on a fresh store: once as plain function calls, once as the Prefect flow (on a
   temporary local Prefect API started beforehand, so only the run itself is timed). Prints both
   times and the ratio (target <= 1.5).
2. Task inputs: what Prefect does with one summarize batch's parameters before the task runs
   (look for futures in them, resolve them) and its cache key, for a batch of full Stories
   (batches of 100, the default) with a key computed per article (the baseline, as before) and for the compact `Face`
   tuples with the summarizer key computed once (as the flow now does). No API needed.
3. Start-up: `digest run` on the sample corpus in a subprocess, with no PREFECT_API_URL, so the
   ephemeral API starts inside the command; wall time with a brand-new PREFECT_HOME (cold) and
   again with the same one (warm). Target < 30 s.

    .venv/bin/python benchmarks/bench_flow.py [--quick] [--articles N]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
EDITION = date(2024, 5, 2)
FEEDS = 4
PLACES = [("Nairobi", "Kenya"), ("Lagos", "Nigeria"), ("Berlin", "Germany"), ("Madrid", "Spain"),
          ("Tokyo", "Japan"), ("Jakarta", "Indonesia"), ("Lima", "Peru"), ("Bogotá", "Colombia"),
          ("Beirut", "Lebanon"), ("Amman", "Jordan"), ("Ottawa", "Canada"), ("Chicago", "the United States"),
          ("Auckland", "New Zealand"), ("Perth", "Australia")]
TOPICS = ["the city council", "the health ministry", "farmers' unions", "the central bank",
          "port workers", "the national football team", "school teachers", "the election commission",
          "the transport authority", "hospital staff", "the energy regulator", "fishing cooperatives"]
VERBS = ["announced new measures", "reported a sharp rise in demand", "called for talks",
         "rejected the proposal", "opened an inquiry", "agreed on a budget"]
PEOPLE = ["Amina", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ivo", "Jun", "Kofi", "Lena",
          "Mateo", "Nadia", "Omar", "Priya", "Rafael", "Sofia", "Tariq", "Yuki"]
SURNAMES = ["Achebe", "Berger", "Castillo", "Demir", "Eriksen", "Fujita", "Gomez", "Haddad", "Ibrahim",
            "Jensen", "Kowalski", "Laurent", "Moreno", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi"]
THINGS = ["bridge repairs", "grain prices", "night trains", "water meters", "exam results", "harbour fees",
          "bus lanes", "clinic hours", "solar panels", "ticket sales", "rent controls", "flood barriers",
          "cargo volumes", "vaccine orders", "school meals", "power cuts"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Sentence patterns with a few slots each; a number, a name or a thing every few words keeps
# the five-word shingles of two generated stories apart, so none fold as near-copies.
PATTERNS = [
    "{person} {surname}, speaking for {topic} in {city}, said {k} plans on {thing} were shelved on {day}.",
    "Figures from {city} put spending on {thing} at {x} million, {p} percent more than in {year}.",
    "{Topic} and {topic2} met {k} times in {city} to discuss {thing} and {thing2}.",
    "About {x} households near {city} wrote to {person} {surname} about {thing} before {day}.",
    "A survey of {k} districts found {p} percent of residents unhappy with {thing}.",
    "{person} {surname} expects {topic} to settle the dispute over {thing} within {k} days.",
    "Since {year}, {thing} in {country} have cost roughly {x} million, {person} {surname} noted.",
]


def _article(rng: random.Random, n: int) -> tuple[str, str]:
    """A made-up story set in one place, distinct in wording from every other one generated."""
    city, country = rng.choice(PLACES)
    topic, verb = rng.choice(TOPICS), rng.choice(VERBS)
    title = f"{topic.capitalize()} in {country} {verb} over {rng.choice(THINGS)} ({n})"
    sentences = [f"Officials in {city}, {country}, said on {rng.choice(DAYS)} that {topic} {verb}."]
    for pattern in rng.sample(PATTERNS, k=rng.randint(4, len(PATTERNS))):
        topic2 = rng.choice(TOPICS)
        sentences.append(pattern.format(
            person=rng.choice(PEOPLE), surname=rng.choice(SURNAMES), topic=topic, Topic=topic.capitalize(),
            topic2=topic2, city=city, country=country, thing=rng.choice(THINGS), thing2=rng.choice(THINGS),
            day=rng.choice(DAYS), k=rng.randint(2, 90), x=rng.randint(3, 950), p=rng.randint(2, 60),
            year=rng.randint(1998, 2023)))
    sentences.append(f"Further meetings on story {n} are planned in {city} next month.")
    return title, " ".join(sentences)


def write_corpus(folder: Path, count: int) -> None:
    """FEEDS RSS files under folder/feeds and one HTML page per entry under folder/pages."""
    rng = random.Random(20240502)
    (folder / "feeds").mkdir(parents=True)
    (folder / "pages").mkdir()
    until = datetime(2024, 5, 2, 5, 0, tzinfo=UTC)
    items: list[list[str]] = [[] for _ in range(FEEDS)]
    for n in range(count):
        title, text = _article(rng, n)
        (folder / "pages" / f"{n}.html").write_text(
            f"<!doctype html><html lang='en'><head><title>{escape(title)}</title></head><body>"
            f"<nav>Home · World · Business</nav><article><h1>{escape(title)}</h1>"
            + "".join(f"<p>{escape(s)}</p>" for s in text.split(". "))
            + "</article><footer>© Example News</footer></body></html>", encoding="utf-8")
        published = until - timedelta(minutes=(n * 7) % (23 * 60))
        items[n % FEEDS].append(
            f"<item><title>{escape(title)}</title><link>../pages/{n}.html</link>"
            f"<guid>https://news.example/{n}</guid><pubDate>{format_datetime(published)}</pubDate>"
            f"<description>{escape(text[:200])}</description></item>")
    for i, entries in enumerate(items):
        (folder / "feeds" / f"feed{i}.rss").write_text(
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Feed {i}</title><link>https://news.example/</link><description>generated</description>"
            + "".join(entries) + "</channel></rss>", encoding="utf-8")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def write_config(folder: Path, base_url: str, name: str) -> Path:
    sources = "".join(f"""
[[sources]]
name = "Feed {i}"
kind = "feed"
url = "{base_url}/feeds/feed{i}.rss"
local = true
""" for i in range(FEEDS))
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


def plain_run(config_path: Path) -> int:
    """The flow's stages (`digest.pipeline`) as plain calls, the same inputs and outputs, no Prefect."""
    from digest import pipeline
    from digest.config import load_config
    from digest.credentials import resolve_secrets
    from digest.gazetteer import load_gazetteer
    from digest.models import EditionStats
    from digest.regions import load_region_table
    from digest.store import open_store

    config = load_config(config_path)
    engine = open_store(config.store_url)
    table = load_region_table(config.edition.region_table)
    plan = pipeline.plan_edition(config, table, EDITION)
    pipeline.collect_all(engine, config, now=plan.created)  # records every source's articles in the store
    edition, _, _ = pipeline.build_from_store(engine, plan, config, table, load_gazetteer(), record=True,
                                              stats=EditionStats(sources=len(config.sources)))
    rendered, html_path = pipeline.render(edition, config)
    verdict = pipeline.judge(edition, rendered.html, config, table, force=False)
    secrets = resolve_secrets(config, os.environ)
    delivery = pipeline.deliver(engine, edition, config, secrets, regions=None, all_regions=plan.order)
    pipeline.archive(engine, edition, verdict, delivery, html_path)
    return len(edition.items)


def flow_run(config_path: Path) -> int:
    from flows.daily_digest import daily_digest

    report = daily_digest(edition_date=EDITION, config_path=str(config_path))
    print("  flow stages (s):", ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items()))
    return sum(report.articles_per_region.values())


def bench_overhead(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        folder = Path(tmp)
        write_corpus(folder / "site", count)
        handler = functools.partial(_QuietHandler, directory=str(folder / "site"))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        os.environ["PREFECT_HOME"] = str(folder / "prefect-home")
        from prefect.testing.utilities import prefect_test_harness

        try:
            plain_run(write_config(folder, base, "warmup"))  # imports, gazetteer, first-use caches
            start = time.perf_counter()
            plain_n = plain_run(write_config(folder, base, "plain"))
            plain = time.perf_counter() - start
            with prefect_test_harness(server_startup_timeout=120):
                start = time.perf_counter()
                flow_n = flow_run(write_config(folder, base, "flow"))
                flowed = time.perf_counter() - start
        finally:
            server.shutdown()
        assert plain_n == flow_n, f"plain run built {plain_n} articles, the flow {flow_n}"
        print(f"overhead: {count} articles generated, {plain_n} in the edition")
        print(f"  plain functions : {plain:7.2f} s  ({plain_n / plain:6.1f} articles/s)")
        print(f"  Prefect flow    : {flowed:7.2f} s  ({flow_n / flowed:6.1f} articles/s)")
        print(f"  ratio flow/plain: {flowed / plain:7.2f}   (target <= 1.5)")
        return plain, flowed


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

    rng = random.Random(7)
    now = datetime.now(UTC)
    items = [Story((Article(f"https://news.example/{n}", *_article(rng, n), "Feed", now, now, None, "en"),))
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
    digest = Path(sys.executable).with_name("digest")
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "digest.toml", folder / "digest.toml")
        (folder / "sample").symlink_to(ROOT / "sample")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(folder / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   DO_NOT_TRACK="1")
        for attempt in range(repeats):
            start = time.perf_counter()
            done = subprocess.run([str(digest), "run", "--config", str(folder / "digest.toml"),
                                   "--date", "2017-10-18"], cwd=folder, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"digest run failed:\n{done.stdout}\n{done.stderr}")
            times.append(elapsed)
            label = "cold (new PREFECT_HOME)" if attempt == 0 else "warm (same PREFECT_HOME)"
            print(f"start-up: digest run on the sample, {label}: {elapsed:6.2f} s  (target < 30 s)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 articles and one start-up run")
    parser.add_argument("--articles", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.pop("PREFECT_API_URL", None)
    count = args.articles or (200 if args.quick else 2000)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    bench_task_inputs(count)
    bench_startup(1 if args.quick else 2)
    bench_overhead(count)


if __name__ == "__main__":
    main()
