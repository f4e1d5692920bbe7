"""The quality gate: which editions are held back, and what the operator is told."""

from __future__ import annotations

from datetime import UTC, date, datetime

from digest.config import QualityConfig
from digest.models import GLOBAL_REGION, Article, DigestItem, Edition, EditionStats, Location, Section
from digest.quality import evaluate


def _item(n: int, region: str, summary: tuple[str, ...] = ("One sentence.",)) -> DigestItem:
    article = Article(url=f"https://news.example/{n}", title=f"Story {n}", text="Body.", source="Wire")
    return DigestItem(article, summary, Location(country=None, region=region))


def _edition(items: list[DigestItem], sources: int = 4, failed: int = 0) -> Edition:
    regions = dict.fromkeys(i.location.region for i in items)
    sections = tuple(Section(r, tuple(i for i in items if i.location.region == r)) for r in regions)
    return Edition("World Digest", date(2017, 10, 18), datetime(2017, 10, 18, 6, tzinfo=UTC), sections,
                   EditionStats(sources=sources, sources_failed=failed))


def _failed_names(edition: Edition, html: str = "<p>ok</p>", **limits) -> list[str]:
    return [c.name for c in evaluate(edition, html, QualityConfig(**limits)).failed]


def test_a_healthy_edition_passes_every_check():
    edition = _edition([_item(1, "Europe"), _item(2, "Africa"), _item(3, GLOBAL_REGION)])
    report = evaluate(edition, "<p>ok</p>", QualityConfig())
    assert report.passed
    assert [c.name for c in report.checks] == [
        "failed_sources", "articles", "empty_summaries", "global_share", "html_bytes"]


def test_too_many_failed_sources_holds_the_edition():
    edition = _edition([_item(1, "Europe")], sources=4, failed=3)
    assert _failed_names(edition) == ["failed_sources"]
    assert _failed_names(edition, max_failed_source_share=0.75) == []


def test_an_edition_with_too_few_articles_is_held():
    assert _failed_names(_edition([]), min_articles=1) == ["articles"]
    assert _failed_names(_edition([_item(1, "Asia")]), min_articles=2) == ["articles"]


def test_empty_summaries_count_against_the_edition():
    items = [_item(1, "Asia", ()), _item(2, "Asia", ()), _item(3, "Asia")]
    report = evaluate(_edition(items), "<p/>", QualityConfig(max_empty_summary_share=0.5))
    (check,) = report.failed
    assert check.name == "empty_summaries"
    assert check.detail == "2 of 3 articles have no summary"


def test_mostly_unlocated_stories_hold_the_edition():
    items = [_item(1, GLOBAL_REGION), _item(2, GLOBAL_REGION), _item(3, "Europe")]
    assert _failed_names(_edition(items), max_global_share=0.5) == ["global_share"]


def test_an_oversized_html_edition_is_held_and_the_size_is_named():
    report = evaluate(_edition([_item(1, "Europe")]), "é" * 600, QualityConfig(max_html_bytes=1000))
    (check,) = report.failed
    assert check.name == "html_bytes"
    assert check.value == 1200  # bytes, not characters
    assert "1,200 bytes" in check.detail


def test_an_edition_oversized_by_one_story_names_that_story():
    giant = DigestItem(Article(url="https://news.example/giant", title="Breaking " * 10_000, text="Body.",
                               source="Hostile Wire"), ("One sentence.",), Location(country=None, region="Europe"))
    edition = _edition([_item(1, "Europe"), giant])
    (check,) = evaluate(edition, "<p>" + giant.article.title + "</p>", QualityConfig(max_html_bytes=50_000)).failed
    assert check.name == "html_bytes"
    assert check.detail.startswith("the HTML edition is 90,007 bytes, mostly one story (Hostile Wire: 'Breaking")
    assert check.detail.endswith("…', 90,013 bytes of title and summary)")


def test_an_edition_oversized_by_many_stories_names_none():
    items = [_item(n, "Europe") for n in range(3)]
    (check,) = evaluate(_edition(items), "<p>" + "x" * 2000 + "</p>", QualityConfig(max_html_bytes=1000)).failed
    assert check.detail == "the HTML edition is 2,007 bytes"
