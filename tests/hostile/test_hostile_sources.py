"""Hostile sources: servers and feeds built to hold a run or swamp an edition.

Each case is served by a real local server next to a healthy feed on another host name
(127.0.0.1 against localhost, so the per-host limit does not couple them). Each asserts that
collection ends within the source's budget, that the offender is named in its source's
errors, and that the healthy source's stories are all collected.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from local_http import header_trickle, respond, serve_file, silent, trickle

from digest.collect import SourceResult
from digest.pipeline import collect_all
from digest.config import Config, SourceConfig
from digest.edition import build_edition
from digest.gazetteer import load_gazetteer
from digest.models import DigestItem, EditionStats
from digest.quality import evaluate
from digest.regions import load_region_table, locate
from digest.render import render_edition
from digest.summarize import summarize

pytestmark = pytest.mark.timeout(90)

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
NOW = datetime(2017, 10, 17, 5, 0, tzinfo=UTC)
BUDGET = 3.0  # source_budget, seconds
DEADLINE = 2.0  # fetch_deadline, seconds
SLACK = 3.0  # parsing, extraction and thread start-up on a loaded 2-core machine


def hostile_config(*sources: SourceConfig, **limits) -> Config:  # noqa: ANN003
    settings = {"fetch_timeout": 1.0, "fetch_deadline": DEADLINE, "source_budget": BUDGET,
                "per_host_concurrency": 2, "max_response_bytes": 10_000_000, **limits}
    return Config(sources=list(sources), **settings)


def rss(items: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Hostile</title>'
            f"{items}</channel></rss>").encode()


def item(n: int, title: str | None = None, text: str | None = None, link: str | None = None) -> str:
    return (f"<item><title>{title or f'Story {n} from the coast'}</title>"
            f"<link>{link or f'https://hostile.example/{n}'}</link><guid>hostile-{n}</guid>"
            f"<description>{text or f'Fishermen in Kenya counted their catch on day {n}. Prices rose again.'}"
            "</description></item>")


def collect_beside_healthy(server, hostile: SourceConfig, **limits) -> tuple[SourceResult, float]:  # noqa: ANN001, ANN003
    """Collect the hostile source with a healthy feed (whose entry pages are fetched) beside it."""
    for page in (FEEDS / "pages").iterdir():
        server.add(f"/pages/{page.name}", serve_file(page, "text/html; charset=utf-8"))
    server.add("/world.rss", serve_file(FEEDS / "world.rss", "application/rss+xml"))
    healthy = SourceConfig(name="desk", kind="feed", url=server.loopback_url("/world.rss"), local=True)
    start = time.monotonic()
    results = {r.source: r for r in collect_all(None, hostile_config(healthy, hostile, **limits), now=NOW)}
    elapsed = time.monotonic() - start
    desk = results["desk"]
    assert desk.status == "ok" and len(desk.articles) == 3, desk.errors
    assert all(e.source == hostile.name for e in results[hostile.name].errors)
    return results[hostile.name], elapsed


def feed(name: str, url: str, fetch_pages: bool = False) -> SourceConfig:
    return SourceConfig(name=name, kind="feed", url=url, local=True, fetch_pages=fetch_pages)


def errors(result: SourceResult) -> str:
    return "\n".join(f"{e.location}: {e.error}" for e in result.errors)


def test_a_server_trickling_header_bytes_is_cut_off_at_the_fetch_deadline(server):
    url = server.add("/headers", header_trickle(0.2))  # each byte well inside the 1 s read timeout
    result, elapsed = collect_beside_healthy(server, feed("trickler", url))
    assert elapsed < DEADLINE + SLACK
    assert result.status == "error"
    assert f"took longer than {DEADLINE:g} s in total" in errors(result)


def test_a_feed_of_never_answering_entry_pages_costs_one_budget_and_keeps_the_feeds_text(server):
    for n in range(20):
        server.add(f"/silent/{n}", silent())
    items = "".join(item(n, link=server.url(f"/silent/{n}")) for n in range(20))
    url = server.add("/silent.rss", respond(200, rss(items), "application/rss+xml"))
    result, elapsed = collect_beside_healthy(server, feed("silent-pages", url, fetch_pages=True))
    assert elapsed < BUDGET + SLACK  # not 20 pages x 3 attempts x the read timeout
    assert len(result.articles) == 20  # each with its feed text
    assert "time budget of 3 s ran out (source_budget)" in errors(result)
    assert "of 20 entry pages not fetched" in errors(result)
    assert len(result.errors) <= 5  # one line for the budget, not one per page


def test_entry_pages_with_endless_slow_bodies_cost_one_budget(server):
    for n in range(20):
        server.add(f"/endless/{n}", trickle(0.05))
    items = "".join(item(n, link=server.url(f"/endless/{n}")) for n in range(20))
    url = server.add("/endless.rss", respond(200, rss(items), "application/rss+xml"))
    result, elapsed = collect_beside_healthy(server, feed("endless-pages", url, fetch_pages=True))
    assert elapsed < BUDGET + SLACK
    assert len(result.articles) == 20
    assert "entry pages not fetched" in errors(result)


def test_fifty_thousand_entries_are_cut_to_the_limit_quickly_and_the_cut_is_named(server):
    items = "".join(f"<item><title>Story {n}</title><guid>flood-{n}</guid><description>Catch counted on day {n}."
                    "</description></item>" for n in range(50_000))  # 5 MB, inside the size limit
    url = server.add("/many.rss", respond(200, rss(items), "application/rss+xml"))
    result, elapsed = collect_beside_healthy(server, feed("flood", url), max_entries_per_feed=200)
    assert elapsed < BUDGET + SLACK  # parsing all 50,000 would take many seconds
    assert [a.title for a in result.articles[:2]] == ["Story 0", "Story 1"]
    assert len(result.articles) == 200
    assert "the feed has 50,000 entries; kept the first 200 (max_entries_per_feed)" in errors(result)


def test_a_wrong_charset_header_does_not_make_a_feed_unreadable(server):
    # The document says UTF-8 (and is); the server claims UTF-16.
    url = server.add("/liar.rss", serve_file(FEEDS / "world.rss", "application/rss+xml; charset=utf-16"))
    result, elapsed = collect_beside_healthy(server, feed("liar", url))
    assert result.status == "ok" and len(result.articles) == 3
    assert "Farmers count losses after late frost" in [a.title for a in result.articles]
    assert "names a charset this feed is not in" in errors(result)


def test_a_giant_title_summary_and_article_are_cut_and_named(server):
    paragraph = "Officials in Chile said the port would reopen on Monday after the storm. " * 20
    story = f"<html><body><article><p>{paragraph}</p></article></body></html>".encode()
    server.add("/story/1", respond(200, story))
    server.add("/story/2", respond(200, story))
    paragraphs = "".join(f"<p>Report {n}. {paragraph}</p>" for n in range(400))
    server.add("/story/3", respond(200, f"<html><body><article>{paragraphs}</article></body></html>".encode()))
    title, summary = "x" * 5_000_000, "Wind and rain. " * 40_000
    items = (item(1, title=title, link=server.url("/story/1"))
             + item(2, text=summary, link=server.url("/story/2"))
             + item(3, link=server.url("/story/3")))  # a page with 600,000 characters of text
    url = server.add("/giant.rss", respond(200, rss(items), "application/rss+xml"))
    result, elapsed = collect_beside_healthy(server, feed("giant", url, fetch_pages=True))
    assert elapsed < BUDGET + SLACK
    assert len(result.articles) == 3
    by_url = {a.url: a for a in result.articles}
    cut_title = by_url[server.url("/story/1")].title
    assert len(cut_title) == 300 and cut_title.endswith("…")
    assert "title of 5,000,000 characters cut to 300 (max_title_chars)" in errors(result)
    assert f"summary of {len(summary.strip()):,} characters cut to 20,000 (max_summary_chars)" in errors(result)
    long = by_url[server.url("/story/3")].text
    assert 80_000 < len(long) <= 100_000 and long.endswith("storm.")  # cut between paragraphs, not in a word
    assert f"characters cut to {len(long):,} (max_article_chars)" in errors(result)


def test_an_edition_with_a_giant_title_entry_goes_out(server):
    """The gate judges the edition: one entry with a 5 MB title does not hold everyone's."""
    items = item(1, title="x" * 5_000_000) + item(2) + item(
        3, title="Vineyards in France", text="Growers in France said the harvest was the smallest in decades.")
    url = server.add("/giant.rss", respond(200, rss(items), "application/rss+xml"))
    config = hostile_config(feed("desk", url), feed("giant", url))
    results = collect_all(None, config, now=NOW)
    articles = [a for r in results for a in r.articles]
    table, gazetteer = load_region_table(config.edition.region_table), load_gazetteer()
    digest_items = [DigestItem(a, tuple(summarize(a.text, title=a.title)), locate(a.title, a.text, table, gazetteer))
                    for a in articles]
    edition = build_edition("World Digest", date(2017, 10, 18), NOW, digest_items, [],
                            EditionStats(sources=2, articles_collected=len(articles)))
    report = evaluate(edition, render_edition(edition, config).html, config.quality, fallback_region=table.fallback)
    assert report.passed, [c.detail for c in report.failed]
