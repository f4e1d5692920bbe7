"""Editions built in code for the render and message tests (no pipeline needed)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.models import Article, DigestItem, Edition, EditionStats, Location, Section

REGIONS = ("Africa", "Asia", "Australia & Oceania", "Europe", "Latin America", "Middle East", "US & Canada")
EDITION_DATE = date(2019, 1, 4)


def item(title: str, region: str, *, url: str | None = None, summary: tuple[str, ...] = ("A sentence.",),
         source: str = "Example News", published: datetime | None = None,
         also: tuple[str, ...] = ()) -> DigestItem:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower())[:60]
    article = Article(url=url or f"https://news.example.org/{slug}", title=title, text=" ".join(summary),
                      source=source, published=published or datetime(2019, 1, 4, 5, 30, tzinfo=UTC),
                      also_reported_by=also)
    return DigestItem(article, summary, Location(None, region))


def edition(items: list[DigestItem], title: str = "World Digest") -> Edition:
    by_region: dict[str, list[DigestItem]] = {}
    for entry in items:
        by_region.setdefault(entry.location.region, []).append(entry)
    known = REGIONS + ("Global",)
    order = [r for r in known if r in by_region] + [r for r in by_region if r not in known]
    sections = tuple(Section(region, tuple(by_region[region])) for region in order)
    return Edition(title, EDITION_DATE, datetime(2019, 1, 4, 6, tzinfo=UTC), sections, EditionStats())


def synthetic(count: int, sentences: int = 2, sentence_words: int = 24) -> Edition:
    """`count` stories spread round-robin over the seven regions, summaries of a set length."""
    words = ("officials said the talks would resume next week after a day of meetings "
             "in the capital where delegates discussed trade water and security").split()
    sentence = " ".join(words[i % len(words)] for i in range(sentence_words)).capitalize() + "."
    return edition([
        item(f"Story number {i} about events in {REGIONS[i % len(REGIONS)]}", REGIONS[i % len(REGIONS)],
             summary=(sentence,) * sentences, published=datetime(2019, 1, 4, 5, tzinfo=UTC) - timedelta(minutes=7 * i),
             also=("Other Wire", "Daily Planet") if i % 4 == 0 else ())
        for i in range(count)
    ])


# A folder source's article: its address is the file's file:// URL (as for the sample's seed
# article), which no reader of the email can open.
LOCAL_FILE_URL = "file:///srv/digest/sample/articles/syrian-peace-talks-astana.txt"


def with_local_file() -> Edition:
    """A local-file story leading its region, among stories from the web."""
    return edition([
        item("First day of Syrian peace talks end without breakthrough", "Middle East", url=LOCAL_FILE_URL,
             source="Local articles", summary=("The first day of talks in Astana ended.",)),
        item("Talks resume on Wednesday", "Middle East"),
        item("Floods close roads in the north", "Europe"),
    ])


# Where the first Wikinews articles are about, read by hand, so the sample picture is right.
WIKINEWS_REGIONS = ("Europe", "US & Canada", "Europe", "US & Canada", "US & Canada", "Europe", "US & Canada",
                    "Global", "Asia", "Latin America", "Latin America", "Europe")


def wikinews(shared_data: Path, count: int = 40) -> Edition:
    """Real Wikinews articles (CC BY 2.5), their first two sentences as the summary."""
    regions = WIKINEWS_REGIONS + REGIONS * (count // len(REGIONS) + 1)
    items = []
    with (shared_data / "wikinews" / "articles.jsonl").open(encoding="utf-8") as handle:
        for i, line in zip(range(count), handle, strict=False):
            record = json.loads(line)
            first = record["text"].split("\n\n")[0].split(". ")
            summary = tuple(s.rstrip(".") + "." for s in first[:2])
            items.append(item(record["title"], regions[i], url=record["url"], summary=summary,
                              source="Wikinews", published=datetime(2019, 1, 3, 20, tzinfo=UTC) + timedelta(minutes=13 * i)))
    return edition(items)
