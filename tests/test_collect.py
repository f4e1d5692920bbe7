"""Collection: feeds in every format and encoding, bad sources, canonical URLs, duplicates,
and the store's memory of articles and edition windows (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
from local_http import (
    endless,
    fail_then,
    hung_resolver,
    redirect,
    respond,
    serve_file,
    trickle,
)

from digest.collect import COLLECTORS, clip, collect_source, fetcher_for
from digest.config import Config, SourceConfig
from digest.config_file import ConfigError, load_config
from digest.dedupe import deduplicate
from digest.feeds import FeedError, parse_feed
from digest.fetch import Fetcher, FetchPolicy
from digest.models import Article, DigestItem, Location
from digest.pipeline import collect, collect_all
from digest.store import get_source_state, known_articles, raw_page, record_articles, select_edition
from digest.urls import canonical_url

pytestmark = pytest.mark.timeout(120)

FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"
DEDUP = Path(__file__).resolve().parent / "fixtures" / "dedup"
NOW = datetime(2017, 10, 17, 5, 0, tzinfo=UTC)


def config(*sources: SourceConfig, timeout: float = 1.0) -> Config:
    return Config(sources=list(sources), fetch_timeout=timeout, max_response_bytes=2_000_000)


def feed_source(name: str, url: str, **kw) -> SourceConfig:  # noqa: ANN003
    return SourceConfig(name=name, kind="feed", url=url, **kw)


@pytest.fixture()
def as_public(server):
    """A fetcher that counts the test server (127.0.0.1:port) as a third-party public site;
    the same server by the name localhost stays what it is, loopback."""
    with Fetcher(FetchPolicy(connect_timeout=1, read_timeout=1, total_timeout=3),
                 treat_as_public=[server.authority]) as fetcher:
        yield fetcher


def announcing(feed_href: str) -> bytes:
    """A home page that names its feed."""
    return (f'<!DOCTYPE html><html><head><title>Home</title><link rel="alternate" '
            f'type="application/rss+xml" href="{feed_href}"></head><body><p>Front page.</p></body></html>').encode()


def serve_world_desk(server) -> str:  # noqa: ANN001
    for page in (FEEDS / "pages").iterdir():
        server.add(f"/pages/{page.name}", serve_file(page, "text/html; charset=utf-8"))
    return server.add("/world.rss", serve_file(FEEDS / "world.rss", "application/rss+xml"))


# --- canonical URLs ---------------------------------------------------------------------------

def test_canonical_url_strips_tracking_parameters_and_fragment():
    assert (canonical_url("HTTPS://News.Example.ORG:443/a/b?id=7&utm_source=rss&fbclid=x&UTM_Campaign=y#comments")
            == "https://news.example.org/a/b?id=7")


def test_canonical_url_keeps_meaningful_parameters_in_order_and_resolves_relative_links():
    assert canonical_url("story?b=2&a=1&gclid=z", base="http://example.com/news/") == "http://example.com/news/story?b=2&a=1"
    assert canonical_url("http://example.com") == "http://example.com/"
    assert canonical_url("http://example.com:8080/x") == "http://example.com:8080/x"


# --- feeds in every format and encoding ---------------------------------------------------------

@pytest.mark.parametrize(("path", "expect"), [
    ("miniflux/encoding_ISO-8859-1.xml", "ä"),
    ("miniflux/encoding_WINDOWS-1251.xml", "и"),
    ("miniflux/no_encoding_ISO-8859-1.xml", "é"),
    ("miniflux/urdu_UTF8.xml", "ا"),
    ("miniflux/rdf_UTF8.xml", None),
    ("miniflux/small_atom.xml", None),
    ("miniflux/large_atom.xml", None),
    ("miniflux/large_rss.xml", None),
    ("rss2email/gmane/feed.rss", None),
    ("rss2email/bbc-chinese/feed.atom", None),
    ("rss2email/tails/feed.rss", None),
])
def test_real_feeds_parse_with_their_encodings(shared_data, path, expect):
    file = shared_data / "feeds" / path
    feed = parse_feed(file.read_bytes(), file.as_uri())
    assert feed.entries, path
    text = " ".join(e.title + " " + e.summary + " " + e.content for e in feed.entries)
    assert "Ã" not in text and "\ufffd" not in text  # no mojibake
    if expect:
        assert expect in text
    assert all(e.link is None or e.link.startswith(("http://", "https://")) for e in feed.entries)


def test_a_wrong_charset_header_still_yields_readable_entries():
    latin1 = (FEEDS / "world.rss").read_text(encoding="utf-8").replace(
        "Farmers count", "Bauern zählen").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1")
    feed = parse_feed(latin1, "http://example.org/feed", "application/rss+xml; charset=utf-8")
    assert any("zählen" in e.title for e in feed.entries)


def test_json_feed_entries_with_relative_links_and_missing_dates():
    feed = parse_feed((FEEDS / "world.json").read_bytes(), "https://news.example.org/feed.json")
    ferry, bridge = feed.entries
    assert ferry.published == datetime(2017, 10, 17, 5, 0, tzinfo=UTC)
    assert "extra sailings" in ferry.content
    assert bridge.link == "https://news.example.org/world/bridge"
    assert bridge.published is None


def test_truncated_xml_keeps_what_parsed_and_reports_the_problem_once():
    feed = parse_feed((FEEDS / "truncated.rss").read_bytes(), "http://example.org/feed")
    assert feed.entries[0].title == "Harbour cranes idle as dock strike enters third day"
    assert feed.problem and "malformed feed" in feed.problem


@pytest.mark.parametrize("path", ["miniflux/rdf_UTF8.xml", "miniflux/large_atom.xml", "miniflux/large_rss.xml",
                                  "rss2email/bbc-chinese/feed.atom"])
def test_a_capped_feed_keeps_its_first_entries_in_every_format(shared_data, path):
    content = (shared_data / "feeds" / path).read_bytes()
    whole = parse_feed(content, "https://example.org/feed")
    capped = parse_feed(content, "https://example.org/feed", max_entries=1)
    assert len(whole.entries) > 1
    assert capped.entries == whole.entries[:1]
    assert capped.dropped == len(whole.entries) - 1
    assert capped.problem == whole.problem  # the cut document is as well-formed as the whole one


def test_a_capped_json_feed_keeps_its_first_entries():
    feed = parse_feed((FEEDS / "world.json").read_bytes(), "https://news.example.org/feed.json", max_entries=1)
    assert [e.title for e in feed.entries] == ["Ferry service resumes after storm"]
    assert feed.dropped == 1


def test_a_server_naming_the_wrong_charset_is_overruled_by_the_document_and_said_so():
    feed = parse_feed((FEEDS / "world.rss").read_bytes(), "http://example.org/feed", "application/rss+xml; charset=utf-16")
    assert len(feed.entries) == 3
    assert "names a charset this feed is not in" in feed.problem


def test_clip_cuts_at_a_paragraph_break_or_a_space_near_the_limit():
    text = "First paragraph here.\n\nSecond paragraph, which is long enough to be cut somewhere."
    assert clip(text, 200) == text
    assert clip(text, 25) == "First paragraph here."
    assert clip(text, 60) == "First paragraph here.\n\nSecond paragraph, which is long"
    assert clip(text, 60, ellipsis=True) == "First paragraph here.\n\nSecond paragraph, which is long…"
    assert clip("x" * 100, 10, ellipsis=True) == "x" * 9 + "…"  # no gap near the limit: cut mid-word


def test_an_html_page_announces_its_feed_and_one_without_a_feed_is_a_clear_error():
    with pytest.raises(FeedError) as found:
        parse_feed((FEEDS / "discover.html").read_bytes(), "https://news.example.org/")
    assert found.value.feed_links == ("https://news.example.org/world.rss",)
    with pytest.raises(FeedError, match="links to no feed"):
        parse_feed((FEEDS / "no-feed.html").read_bytes(), "https://blog.example.org/")


# --- collecting sources -----------------------------------------------------------------------------

def test_a_local_feed_collects_pages_beside_it_with_canonical_urls_and_page_dates():
    result = collect_source(feed_source("desk", str(FEEDS / "world.rss")), config(), now=NOW)
    by_title = {a.title: a for a in result.articles}
    strike = by_title["Harbour cranes idle as dock strike enters third day"]
    assert strike.url == "https://news.example.org/world/dock-strike"  # <link rel=canonical>, cleaned
    assert strike.author == "Jane Doe"
    assert strike.text.startswith("Container ships queued")
    assert "Most read" not in strike.text and "All rights reserved" not in strike.text
    frost = by_title["Farmers count losses after late frost"]
    assert frost.published == datetime(2017, 10, 16, 7, 30, tzinfo=UTC)  # no feed date: the page's
    library = by_title["Library reopens after two-year restoration"]
    assert library.text.startswith("The city library reopened")  # page missing: the feed's text
    assert [e.location for e in result.errors] == [(FEEDS / "pages" / "missing-page.html").as_uri()]
    assert result.status == "ok" and result.entries == 3


def test_an_entry_without_any_date_gets_its_first_seen_time():
    result = collect_source(feed_source("json", str(FEEDS / "world.json"), fetch_pages=False), config(), now=NOW)
    bridge = next(a for a in result.articles if "Bridge" in a.title)
    assert bridge.published is None and bridge.first_seen == NOW


def test_a_folder_of_article_files_yields_clean_articles(tmp_path):
    root = Path(__file__).resolve().parent.parent
    result = collect_source(SourceConfig(name="seed", kind="folder", url=str(root / "sample" / "articles")),
                            config(), now=NOW)
    seed = next(a for a in result.articles if a.url.endswith("syrian-peace-talks-astana.txt"))
    assert seed.title == "First day of Syrian peace talks end without breakthrough"
    assert seed.text.startswith("ASTANA: A first day of indirect talks")


# --- what a third-party source can make the collector reach --------------------------------------

def test_feed_links_to_private_addresses_are_refused_for_third_party_feeds(server, as_public):
    serve_world_desk(server)
    inward = (FEEDS / "world.rss").read_bytes().replace(b"<link>pages/", f"<link>{server.loopback_url('/pages/')}".encode())
    url = server.add("/inward.rss", respond(200, inward, "application/rss+xml"))
    result = collect_source(feed_source("remote", url), config(), now=NOW, fetcher=as_public)
    assert not any(path.startswith("/pages/") for path in server.hits)
    assert len(result.errors) == 3
    assert all("refused: localhost resolves to" in e.error and e.source == "remote" for e in result.errors)
    assert len(result.articles) == 3  # each kept with the feed's own text


@pytest.mark.parametrize("local", [False, True])
def test_a_page_announcing_a_local_file_as_its_feed_is_refused(server, as_public, tmp_path, local):
    secret = tmp_path / "x" / "secret-feed.rss"
    secret.parent.mkdir()
    secret.write_bytes((FEEDS / "world.rss").read_bytes())
    page = server.add("/", respond(200, announcing(secret.as_uri())))
    result = collect_source(feed_source("remote", page, local=local), config(), now=NOW, fetcher=as_public)
    assert (result.status, result.articles, result.entries) == ("error", [], 0)
    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.source == "remote" and error.location == page
    assert error.error.startswith(f"{secret.as_uri()}: refused: a local file")
    assert error.error.endswith(f"(the feed announced by {page})")


@pytest.mark.parametrize("feed_href", ["loopback", "http://169.254.169.254/latest/meta-data/feed.rss",
                                       "http://10.0.0.1/feed.rss", "http://[::1]:9/feed.rss"])
def test_a_page_announcing_a_feed_on_a_private_address_is_refused(server, as_public, feed_href):
    serve_world_desk(server)
    href = server.loopback_url("/world.rss") if feed_href == "loopback" else feed_href
    page = server.add("/", respond(200, announcing(href)))
    result = collect_source(feed_source("remote", page), config(), now=NOW, fetcher=as_public)
    assert "/world.rss" not in server.hits
    assert (result.status, result.articles) == ("error", [])
    assert len(result.errors) == 1 and result.errors[0].source == "remote"
    assert result.errors[0].error.startswith(f"{href}: refused:")
    assert "loopback, private or link-local" in result.errors[0].error


def test_a_redirect_from_a_third_party_feed_to_loopback_is_refused(server, as_public):
    serve_world_desk(server)
    moved = server.add("/moved.rss", redirect(server.loopback_url("/world.rss")))
    result = collect_source(feed_source("remote", moved), config(), now=NOW, fetcher=as_public)
    assert "/world.rss" not in server.hits
    assert result.status == "error" and len(result.errors) == 1
    assert "refused: localhost resolves to" in result.errors[0].error


def test_a_source_on_a_private_address_needs_local_true(server):
    url = serve_world_desk(server)
    refused = collect_source(feed_source("intranet", url, fetch_pages=False), config(), now=NOW)
    assert "/world.rss" not in server.hits
    assert refused.status == "error" and "only sources configured with local = true" in refused.errors[0].error
    allowed = collect_source(feed_source("intranet", url, fetch_pages=False, local=True), config(), now=NOW)
    assert allowed.status == "ok" and len(allowed.articles) == 3


def test_a_web_page_cannot_name_a_local_file_as_its_canonical_url(server):
    body = ("<html><head><title>Quay strike</title><link rel='canonical' href='file:///etc/passwd'></head><body>"
            "<article><h1>Quay strike</h1>" + "<p>Dock workers stayed out for a third day on Monday.</p>" * 8
            + "</article></body></html>").encode()
    url = server.add("/story.html", respond(200, body))
    result = collect_source(SourceConfig(name="page", kind="page", url=url, local=True), config(), now=NOW)
    assert [a.url for a in result.articles] == [url]


def test_a_page_that_links_to_its_feed_is_followed_and_said_so(server):
    serve_world_desk(server)
    url = server.add("/", serve_file(FEEDS / "discover.html", "text/html"))
    result = collect_source(feed_source("home", url, local=True), config(), now=NOW)
    assert result.notes == [f"feed discovered at {server.url('/world.rss')}"]
    assert len(result.articles) == 3


def test_a_feed_whose_host_name_lookup_hangs_ends_within_the_sources_budget_naming_the_source():
    source = feed_source("hung-dns", "http://feeds.example.org/world.rss")
    policy = FetchPolicy(connect_timeout=5, read_timeout=5, total_timeout=10)
    with hung_resolver() as (getaddrinfo, _), Fetcher(policy, getaddrinfo=getaddrinfo) as fetcher:
        start = time.monotonic()
        result = collect_source(source, config(source), now=NOW, fetcher=fetcher, budget=1.0)
        assert time.monotonic() - start < 1.5
    assert result.status == "error"
    [error] = result.errors
    assert (error.source, error.location) == ("hung-dns", source.url)
    assert "looking up feeds.example.org did not finish" in error.error and "(source_budget = 1 s)" in error.error


def test_bad_sources_end_in_clear_errors_and_healthy_ones_lose_nothing(server, shared_data):
    healthy = {"desk": serve_world_desk(server)}
    real = ["miniflux/encoding_ISO-8859-1.xml", "miniflux/encoding_WINDOWS-1251.xml", "miniflux/rdf_UTF8.xml",
            "miniflux/small_atom.xml", "rss2email/tails/feed.rss"]
    for i, path in enumerate(real):
        healthy[f"real{i}"] = server.add(f"/real{i}.xml", serve_file(shared_data / "feeds" / path))
    latin1 = (FEEDS / "world.rss").read_bytes().replace(b"Farmers count", "Bauern zählen".encode("latin-1"))
    bad = {
        "empty-body": server.add("/empty", respond(200, b"", "application/rss+xml")),
        "junk": server.add("/junk", respond(200, bytes(range(256)) * 40, "application/octet-stream")),
        "loop": server.add("/loop", redirect("/loop2")),
        "missing": server.url("/nothing-here"),
        "trickle": server.add("/trickle", trickle(0.1)),
        "huge": server.add("/huge", endless()),
        "bomb": server.add("/bomb", respond(200, gzip.compress(b"<rss>" + b" " * 50_000_000),
                                             "application/rss+xml", {"Content-Encoding": "gzip"})),
    }
    server.add("/loop2", redirect("/loop"))
    recovering = {
        "flaky": server.add("/flaky", fail_then(500, 1, serve_file(FEEDS / "world.rss"))),
        "wrong-charset": server.add("/latin1", respond(200, latin1, "application/rss+xml; charset=utf-8")),
        "empty-feed": server.add("/empty.rss", serve_file(FEEDS / "empty.rss")),
        "truncated": server.add("/truncated.rss", serve_file(FEEDS / "truncated.rss")),
    }
    sources = [feed_source(n, u, local=True, fetch_pages=n == "desk")
               for n, u in {**healthy, **bad, **recovering}.items()]
    start = time.monotonic()
    results = {r.source: r for r in collect_all(None, config(*sources), now=NOW)}
    assert time.monotonic() - start < 30
    for name in bad:
        assert results[name].status == "error", name
        assert results[name].errors[0].source == name and results[name].errors[0].error
    assert "redirect loop" in results["loop"].errors[0].error
    assert "HTTP 404" in results["missing"].errors[0].error
    assert "longer than" in results["trickle"].errors[0].error
    assert "larger than" in results["huge"].errors[0].error and "larger than" in results["bomb"].errors[0].error
    assert len(results["desk"].articles) == 3
    for i, path in enumerate(real):
        assert len(results[f"real{i}"].articles) == parse_feed((shared_data / "feeds" / path).read_bytes(), "x").entries.__len__() - results[f"real{i}"].without_text
        assert results[f"real{i}"].articles
    assert len(results["flaky"].articles) == 3
    assert any("zählen" in a.title for a in results["wrong-charset"].articles)
    assert results["empty-feed"].status == "ok" and results["empty-feed"].articles == []
    assert results["truncated"].articles and "malformed" in results["truncated"].errors[0].error


def test_conditional_get_and_raw_pages_are_kept_in_the_store(server, engine):
    state = {"etag": '"rev1"'}

    def feed(h):  # noqa: ANN001
        if h.headers.get("If-None-Match") == state["etag"]:
            respond(304)(h)
        else:
            respond(200, (FEEDS / "world.rss").read_bytes(), "application/rss+xml", {"ETag": state["etag"]})(h)

    for page in (FEEDS / "pages").iterdir():
        server.add(f"/pages/{page.name}", serve_file(page, "text/html"))
    url = server.add("/world.rss", feed)
    source = feed_source("desk", url, local=True)
    first = collect(engine, source, config(), now=NOW)
    assert len(first.articles) == 3
    assert b"Container ships queued" in raw_page(engine, "https://news.example.org/world/dock-strike")
    second = collect(engine, source, config(), now=NOW + timedelta(hours=1))
    assert second.status == "not-modified" and second.articles == []
    state["etag"] = '"rev2"'
    third = collect(engine, source, config(), now=NOW + timedelta(hours=2))
    assert server.hits["/pages/late-frost.html"] == 1  # known articles are not fetched again
    assert {a.first_seen for a in third.articles} == {NOW}  # first seen on the first run


def test_collection_returns_what_it_found_and_leaves_recording_it_to_the_pipeline(server, engine):
    for page in (FEEDS / "pages").iterdir():
        server.add(f"/pages/{page.name}", serve_file(page, "text/html"))
    url = server.add("/world.rss", respond(200, (FEEDS / "world.rss").read_bytes(), "application/rss+xml",
                                           {"ETag": '"rev1"'}))
    source = feed_source("desk", url, local=True)
    found = collect_source(source, config(), now=NOW)
    assert b"Container ships queued" in found.raw_pages["https://news.example.org/world/dock-strike"]
    assert found.validators.etag == '"rev1"' and len(found.articles) == 3
    assert get_source_state(engine, "desk", url) is None
    assert known_articles(engine, [a.url for a in found.articles]) == {}
    recorded = collect(engine, source, config(), now=NOW)
    assert get_source_state(engine, "desk", url).etag == '"rev1"'
    assert set(known_articles(engine, [a.url for a in recorded.articles])) == {a.url for a in found.articles}
    assert recorded.raw_pages == {}  # stored, not carried back


def test_every_source_kind_the_config_accepts_has_a_collector_and_no_other():
    assert set(get_args(SourceConfig.model_fields["kind"].annotation)) == set(COLLECTORS)


def test_a_fetcher_passed_in_stays_open_for_the_caller_and_its_next_sources(server):
    source = feed_source("desk", serve_world_desk(server), local=True)
    with fetcher_for(config()) as fetcher:
        first = collect_source(source, config(), now=NOW, fetcher=fetcher)
        second = collect_source(source, config(), now=NOW, fetcher=fetcher)
    assert (first.status, second.status) == ("ok", "ok")
    assert len(first.articles) == len(second.articles) == 3 and second.errors == first.errors


@pytest.mark.parametrize(("key", "value"), [
    ("per_host_concurrency", 0), ("fetch_timeout", -1), ("fetch_deadline", 0), ("source_budget", -5),
    ("max_response_bytes", 0), ("max_entries_per_feed", 0), ("max_title_chars", 0), ("max_summary_chars", -1),
    ("max_article_chars", 0),
])
def test_fetch_settings_that_would_hang_or_keep_nothing_are_refused_in_one_line_naming_file_and_key(
        tmp_path, key, value):
    path = tmp_path / "digest.toml"
    path.write_text(f"{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert str(path) in message and f"{key}:" in message and "\n" not in message


# --- the same story from several outlets ------------------------------------------------------------

def load(name: str) -> list[Article]:
    return [Article(**item) for item in json.loads((DEDUP / name).read_text(encoding="utf-8"))]


def test_wire_copies_with_small_edits_fold_into_one_item_listing_the_other_outlets():
    folded = deduplicate(load("wire_copies.json"))
    assert len(folded) == 1
    assert folded[0].source == "Daily Courier"
    assert folded[0].also_reported_by == ("Evening Standard Post", "Coastal Times")


def test_different_stories_on_the_same_event_stay_separate():
    stories = load("same_topic.json")
    assert deduplicate(stories) == stories


def test_exact_copies_and_the_same_url_fold_even_when_short():
    a = Article(url="https://a.example/x", title="Short", text="Polls close at eight.", source="A")
    b = Article(url="https://b.example/y", title="Short", text="Polls  close at eight.", source="B")
    c = Article(url="https://a.example/x", title="Short (updated)", text="Polls close at nine.", source="C")
    d = Article(url="https://d.example/z", title="Other", text="Polls close at nine tonight.", source="D")
    assert [(x.source, x.also_reported_by) for x in deduplicate([a, b, c, d])] == [("A", ("B", "C")), ("D", ())]


# --- the store: articles and edition windows ---------------------------------------------------

def article(n: int, published: datetime | None, source: str = "desk") -> Article:
    return Article(url=f"https://news.example.org/{n}", title=f"Story {n}", source=source,
                   text=f"Story number {n} " + " ".join(f"w{n}x{i}" for i in range(40)), published=published)


def test_record_articles_keeps_the_first_seen_time(engine):
    first = record_articles(engine, [article(1, None)], NOW)
    again = record_articles(engine, [article(1, None)], NOW + timedelta(days=1))
    assert first[0].first_seen == again[0].first_seen == NOW
    assert set(known_articles(engine, ["https://news.example.org/1", "https://news.example.org/2"])) == {
        "https://news.example.org/1"}


def stored(engine, n: int) -> Article:  # noqa: ANN001
    url = f"https://news.example.org/{n}"
    return known_articles(engine, [url])[url]


@pytest.mark.parametrize("finish_order", [("wire", "agency"), ("agency", "wire")])
def test_a_url_two_sources_list_in_one_run_is_the_earliest_listings_whatever_order_they_finish(engine, finish_order):
    listings = {"wire": article(1, NOW - timedelta(hours=2), source="wire"),
                "agency": article(1, NOW - timedelta(hours=5), source="agency")}
    listings["wire"] = replace(listings["wire"], title="Story 1 (wire)")
    for name in finish_order:
        record_articles(engine, [listings[name]], NOW)
    kept = stored(engine, 1)
    assert (kept.source, kept.published, kept.title) == ("agency", NOW - timedelta(hours=5), "Story 1")
    assert kept.also_reported_by == ("wire",)


@pytest.mark.parametrize("finish_order", [("b-desk", "a-desk"), ("a-desk", "b-desk")])
def test_listings_at_the_same_time_or_undated_are_kept_by_source_name(engine, finish_order):
    for name in finish_order:
        record_articles(engine, [article(1, None, source=name), article(2, NOW, source=name)], NOW)
    assert stored(engine, 1).source == stored(engine, 2).source == "a-desk"


def test_a_later_run_listing_a_sent_url_earlier_leaves_its_source(engine):
    record_articles(engine, [article(1, NOW - timedelta(hours=2), source="wire")], NOW)
    record_articles(engine, [article(1, NOW - timedelta(hours=5), source="agency")], NOW + timedelta(days=1))
    kept = stored(engine, 1)
    assert (kept.source, kept.published) == ("wire", NOW - timedelta(hours=2))
    assert kept.also_reported_by == ("agency",)


def test_every_other_source_of_a_url_is_named_once_as_another_outlet(engine):
    for source in ("desk", "wire", "agency", "wire", "desk"):
        record_articles(engine, [article(1, NOW, source=source)], NOW)
    record_articles(engine, [article(1, NOW, source="agency")], NOW + timedelta(days=1))
    kept = stored(engine, 1)
    assert (kept.source, kept.also_reported_by) == ("agency", ("desk", "wire"))
    item = DigestItem(article=kept, summary=(), location=Location(country=None, region="Global"))
    assert item.outlets == (("desk", ""), ("wire", ""))


def test_the_first_edition_takes_the_window_before_its_time(engine):
    t = datetime(2017, 10, 17, 6, tzinfo=UTC)
    record_articles(engine, [article(1, t - timedelta(hours=23)), article(2, t - timedelta(hours=25)),
                             article(3, t + timedelta(minutes=5))], NOW)
    chosen, since, until = select_edition(engine, "2017-10-17", t, 24, 36)
    assert (since, until) == (t - timedelta(hours=24), t)
    assert [a.title for a in chosen] == ["Story 1"]


def test_a_missed_run_leaves_no_gap(engine):
    day1 = datetime(2017, 10, 17, 6, tzinfo=UTC)
    select_edition(engine, "2017-10-17", day1, 24, 36)
    day3 = day1 + timedelta(days=2)
    record_articles(engine, [article(1, day1 + timedelta(hours=20)), article(2, day1 + timedelta(hours=30)),
                             article(3, day1 - timedelta(hours=1))], day3)
    chosen, since, _ = select_edition(engine, "2017-10-19", day3, 24, 48)
    assert since == day1  # the previous edition's end, not 24 h back
    assert sorted(a.title for a in chosen) == ["Story 1", "Story 2"]


def test_the_look_back_bounds_how_far_a_late_edition_reaches(engine):
    day1 = datetime(2017, 10, 10, 6, tzinfo=UTC)
    select_edition(engine, "2017-10-10", day1, 24, 36)
    later = day1 + timedelta(days=7)
    _, since, _ = select_edition(engine, "2017-10-17", later, 24, 36)
    assert since == later - timedelta(hours=36)


def test_a_rerun_repeats_nothing_and_rebuilding_gives_the_same_articles(engine):
    t = datetime(2017, 10, 17, 6, tzinfo=UTC)
    record_articles(engine, [article(1, t - timedelta(hours=2)), article(2, t - timedelta(hours=3))], NOW)
    first, _, _ = select_edition(engine, "2017-10-17", t, 24, 36)
    record_articles(engine, [article(3, t - timedelta(hours=1))], t + timedelta(hours=1))  # listed after the build
    rebuilt, _, _ = select_edition(engine, "2017-10-17", t, 24, 36)
    assert [a.url for a in rebuilt] == [a.url for a in first] and len(first) == 2
    rerun, _, _ = select_edition(engine, "2017-10-17T12", t + timedelta(hours=6), 24, 36)
    assert [a.title for a in rerun] == ["Story 3"]  # late arrival: first seen after the build


def test_an_edition_keeps_copies_for_folding_the_same_way_on_a_rebuild_and_skips_text_already_sent(engine):
    t = datetime(2017, 10, 17, 6, tzinfo=UTC)
    copies = [a.__class__(**{**a.__dict__, "published": t - timedelta(hours=1)}) for a in load("wire_copies.json")]
    record_articles(engine, copies[:2], NOW)
    chosen, _, _ = select_edition(engine, "2017-10-17", t, 24, 36)
    rebuilt, _, _ = select_edition(engine, "2017-10-17", t, 24, 36)
    folded = deduplicate(chosen)
    assert len(chosen) == 2 and len(folded) == 1 and folded[0].also_reported_by
    assert deduplicate(rebuilt) == folded
    same_text = Article(url="https://mirror.example/x", title="Mirror", text=copies[0].text, source="Mirror",
                        published=t + timedelta(hours=2))
    record_articles(engine, [same_text], NOW)
    nxt, _, _ = select_edition(engine, "2017-10-18", t + timedelta(days=1), 24, 36)
    assert nxt == []


# --- digest feed on the command line --------------------------------------------------------------

def run_feed(location: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest.cli", "feed", location, "--jsonl", "--timeout", "2", *options],
                          capture_output=True, text=True, timeout=60)


def test_digest_feed_reaches_a_feed_on_this_machine_only_when_told_it_is_local(server):
    url = server.add("/desk.rss", serve_file(FEEDS / "world.rss"))
    refused = run_feed(url)
    allowed = run_feed(url, "--local")
    assert refused.returncode == 1 and "refused" in json.loads(refused.stdout)["error"]
    assert allowed.returncode == 0 and len(allowed.stdout.splitlines()) == 3


def test_digest_feed_prints_entries_as_json_lines():
    done = run_feed(str(FEEDS / "world.rss"))
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0
    assert [set(line) for line in lines] == [{"title", "link", "published", "summary", "id"}] * 3
    assert lines[0]["published"] == "2017-10-16T21:15:00+00:00"


@pytest.mark.parametrize("content", [bytes(range(256)) * 10, b"", b"<html><body>no feed</body></html>"])
def test_digest_feed_on_bad_input_prints_one_error_line_and_no_traceback(tmp_path, content):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    done = run_feed(str(bad))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert list(json.loads(done.stdout)) == ["error"] and str(bad) in done.stdout


def test_sources_check_reports_each_source_as_json_and_fails_when_one_is_broken(tmp_path):
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f"""
[[sources]]
name = "desk"
kind = "feed"
url = "{FEEDS / 'world.rss'}"
[[sources]]
name = "broken"
kind = "feed"
url = "{FEEDS / 'no-feed.html'}"
""")
    done = subprocess.run([sys.executable, "-m", "digest.cli", "sources", "check", "-c", str(cfg), "--json"],
                          capture_output=True, text=True, timeout=60)
    desk, broken = json.loads(done.stdout)
    assert done.returncode == 1
    assert (desk["status"], desk["entries"], desk["newest"]) == ("ok", 3, "2017-10-16T21:15:00+00:00")
    assert broken["status"] == "error" and "links to no feed" in broken["error"]
