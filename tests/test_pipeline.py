"""The edition's plan: its id, time and sections come from the config, and it refuses unknown regions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.config_file import load_config
from digest.models import Article, EditionStats
from digest.pipeline import assemble, plan_edition
from digest.regions import load_region_table
from geo_helpers import gaz  # noqa: F401 - gaz is a fixture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config():
    return load_config(ROOT / "digest.toml")


def test_the_plan_of_a_date_is_named_by_it_and_ends_at_the_edition_time_in_its_zone(config):
    table = load_region_table(config.edition.region_table)
    plan = plan_edition(config, table, date(2017, 10, 18), now=datetime(2017, 10, 18, 5, tzinfo=UTC))
    assert plan.id == "2017-10-18"
    assert plan.time.tzinfo == config.edition.zone and plan.time.time() == config.edition.edition_time
    assert plan.order[-1] == table.fallback and set(table.regions) <= set(plan.order)


def test_without_a_date_the_plan_is_for_today_in_the_editions_zone(config):
    table = load_region_table(config.edition.region_table)
    late = datetime(2024, 6, 30, 23, 30, tzinfo=UTC)  # already 1 July in London (BST)
    assert plan_edition(config, table, now=late).id == "2024-07-01"


def test_a_region_the_edition_cannot_have_is_refused_by_name(config):
    plan = plan_edition(config, load_region_table(config.edition.region_table), date(2017, 10, 18))
    plan.check_regions(["Europe"])
    with pytest.raises(ValueError, match="Atlantis"):
        plan.check_regions(["Europe", "Atlantis"])


def test_the_assembled_edition_carries_the_plans_id(config):
    plan = plan_edition(config, load_region_table(config.edition.region_table), date(2017, 10, 18))
    edition = assemble(plan, [], [], [], EditionStats())
    assert (edition.id, edition.date, edition.sections) == ("2017-10-18", date(2017, 10, 18), ())
    assert edition.for_regions(frozenset({"Europe"})).id == "2017-10-18"


def test_the_configured_summarizer_is_the_one_a_run_uses(tmp_path, gaz):
    import tomllib

    from digest.config_file import config_from_dict
    from digest.pipeline import build_from_store, collect_all
    from digest.store import open_store
    from digest.summarize import lead, summarize

    raw = tomllib.loads((ROOT / "digest.toml").read_text(encoding="utf-8"))
    raw.update(store_url=f"sqlite:///{tmp_path / 'digest.db'}", output_dir=str(tmp_path / "out"))
    raw.pop("subscribers_file", None)
    now = datetime(2017, 10, 18, 5, tzinfo=UTC)
    runs = {}
    for name in ("news", "lead"):
        raw["edition"]["summarizer"] = name
        config = config_from_dict(raw, base=ROOT)
        table = load_region_table(config.edition.region_table)
        engine = open_store(config.store_url)
        collect_all(engine, config, now=now)
        plan = plan_edition(config, table, date(2017, 10, 18), now=now)
        edition, _, stories = build_from_store(engine, plan, config, table, gaz, record=False)
        faces = {story.face.url: story.face for story in stories}  # the edition's articles carry no text
        runs[name] = [(item, faces[item.article.url]) for section in edition.sections for item in section.items]
    for name, summarizer in (("news", summarize), ("lead", lead)):
        assert runs[name], name
        for item, face in runs[name]:
            assert item.summary == tuple(summarizer(face.text, face.title, 2, face.language)), (name, face.url)
    assert [i.summary for i, _ in runs["news"]] != [i.summary for i, _ in runs["lead"]]


def test_each_story_is_located_with_the_home_of_its_faces_source(config):
    from digest.config_file import config_from_dict
    from digest.models import Article
    from digest.pipeline import places_of, source_homes
    from digest.stories import stories_of

    raw = {"sources": [{"name": "Town Talk", "kind": "feed", "url": "https://example.org/rss", "home": "US-LA"},
                       {"name": "Wire", "kind": "feed", "url": "https://example.org/wire"}]}
    homes = source_homes(config_from_dict(raw, base=ROOT))
    published = datetime(2017, 10, 17, 8, tzinfo=UTC)
    articles = [Article(url="https://example.org/a", title="Pineville man arrested", source="Town Talk",
                        text="Pineville police arrested two men on Tuesday.", published=published),
                Article(url="https://example.org/b", title="Talks end without breakthrough", source="Wire",
                        text="Negotiators left Geneva on Tuesday without a deal.", published=published)]
    places = {place.url: place.home for place in places_of(stories_of(articles), homes)}
    assert homes == {"Town Talk": "US-LA"}
    assert places == {"https://example.org/a": "US-LA", "https://example.org/b": None}


def test_the_web_edition_is_written_as_html_alone_without_a_plain_text_part(tmp_path):
    from edition_builders import synthetic

    from digest.config import Config
    from digest.pipeline import render

    edition = synthetic(6)
    rendered, path = render(edition, Config(output_dir=tmp_path))
    assert rendered.text == "" and rendered.stories == 6
    assert path.read_text(encoding="utf-8") == rendered.html
    assert edition.items[0].article.title in rendered.html


def test_the_assembled_editions_articles_keep_their_titles_and_links_but_not_their_text(config):
    from digest.models import Location
    from digest.stories import stories_of

    plan = plan_edition(config, load_region_table(config.edition.region_table), date(2017, 10, 18))
    published = datetime(2017, 10, 17, 8, tzinfo=UTC)
    article = Article(url="https://example.org/a", title="Pineville man arrested", source="Town Talk",
                      text="Pineville police arrested two men on Tuesday.", published=published)
    edition = assemble(plan, stories_of([article]), [("Two men were arrested.",)], [Location("US", "US & Canada")],
                       EditionStats())
    [item] = edition.items
    assert (item.article.url, item.article.title, item.article.published) == (article.url, article.title, published)
    assert item.summary == ("Two men were arrested.",) and item.article.text == ""
