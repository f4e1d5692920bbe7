"""Story grouping: different write-ups of one event become one story, different events on one
topic stay apart, and the edition shows one item per story with every other outlet under it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

from digest.cli import app
from digest.config import Config
from digest.edition import story_items, story_text
from digest.models import Article, Location
from digest.render import render_edition
from digest.store import record_articles, save_edition, select_edition, sent_articles
from digest.stories import Report, face_order, group, new_development, stories_of
from edition_builders import edition
from test_email_browser import lint  # noqa: F401 - the caniemail lint fixture

# --- the dev set (../shared/data/clustering-dev): real pairs, read at test time ------------


@pytest.fixture(scope="module")
def dev_stories(shared_data) -> dict[str, int]:
    """The story each dev article is put in, by article id, grouping the whole set at once."""
    records = [json.loads(line) for line in
               (shared_data / "clustering-dev" / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    groups = group([Report(r["title"], r["text"]) for r in records])
    return {records[i]["id"]: k for k, members in enumerate(groups) for i in members}


@pytest.mark.parametrize("ids", [
    ("dev-27", "dev-28"),  # a fugitive's arrest: one wire report, one newspaper's own words
    ("dev-50", "dev-51"),  # a telecom subsidiary's cyber attack, headlines sharing one name
    ("dev-128", "dev-129", "dev-130"),  # one clinic's vaccine error, three outlets
    ("dev-213", "dev-214", "dev-215"),  # one verdict, three outlets
], ids=["arrest", "cyber-attack", "vaccine-error", "verdict"])
def test_one_event_in_different_words_is_one_story(dev_stories, ids):
    assert len({dev_stories[i] for i in ids}) == 1


@pytest.mark.parametrize("first, second", [
    ("dev-1", "dev-101"),  # two sentencings in the same courts that week
    ("dev-101", "dev-174"),  # a forgery sentence and a workplace-death fine, both "fined/jailed"
    ("dev-40", "dev-89"),  # two separate prisoner releases in one war
    ("dev-189", "dev-200"),  # the new prime minister's week and the national mourning, one funeral
], ids=["two-court-cases", "jail-and-fine", "two-prisoner-deals", "funeral-week"])
def test_one_topic_different_events_are_two_stories(dev_stories, first, second):
    assert dev_stories[first] != dev_stories[second]


# --- hand-written reports (no shared data needed) -----------------------------------------

T0 = datetime(2026, 11, 30, 8, tzinfo=UTC)

FLOOD_WIRE = Report(
    "Floods force 4,000 from their homes in Valencia",
    "VALENCIA — Torrential rain flooded the Spanish city of Valencia on Tuesday and forced about 4,000 "
    "residents of the Benimaclet district from their homes, the regional emergency service said. Rescue "
    "crews in boats reached families trapped on upper floors as the Turia overflowed its banks.",
    T0)
FLOOD_PAPER = Report(
    "Thousands evacuated as Turia bursts its banks in Valencia",
    "Around four thousand people were evacuated from Benimaclet in Valencia after the Turia river burst "
    "its banks during a night of torrential rain, emergency services said on Tuesday. Boats were used to "
    "rescue families stranded on upper floors.",
    T0 + timedelta(hours=5))
FOOTBALL = Report(
    "Valencia appoints Dutch coach after cup exit",
    "Valencia named a Dutch coach on Tuesday, a week after the club was knocked out of the cup by a "
    "second-division side. The new coach signed a contract until the end of the season, the club said.",
    T0 + timedelta(hours=2))
TRAMS = Report(
    "Valencia trams run again after the Turia floods",
    "Tram lines in Valencia ran again on Tuesday after the floods that forced thousands from Benimaclet "
    "last week; the city said the damaged depot was repaired and service was back to normal.",
    T0 + timedelta(days=6))


def test_two_write_ups_of_one_flood_are_one_story_and_the_football_news_stays_apart():
    assert sorted(map(sorted, group([FLOOD_WIRE, FOOTBALL, FLOOD_PAPER]))) == [[0, 2], [1]]


def test_reports_days_apart_are_different_stories_even_in_the_same_words():
    later = Report(FLOOD_PAPER.title, FLOOD_PAPER.text, T0 + timedelta(days=4))
    assert group([FLOOD_WIRE, later, FOOTBALL]) == [[0], [1], [2]]


def test_reports_located_in_different_countries_are_different_stories():
    wire = Report(FLOOD_WIRE.title, FLOOD_WIRE.text, T0, frozenset({"ES"}))
    elsewhere = Report(FLOOD_PAPER.title, FLOOD_PAPER.text, T0, frozenset({"VE"}))
    assert group([wire, elsewhere]) == [[0], [1]]
    same = Report(FLOOD_PAPER.title, FLOOD_PAPER.text, T0, frozenset({"ES", "FR"}))
    assert group([wire, same]) == [[0, 1]]


def test_a_follow_up_close_to_one_article_only_does_not_join_the_story():
    # The trams report shares names with both flood reports, but is a later, different event.
    assert sorted(map(sorted, group([FLOOD_WIRE, FLOOD_PAPER, TRAMS]))) == [[0, 1], [2]]


def test_an_empty_batch_and_a_lone_article_are_handled():
    assert group([]) == []
    assert group([Report("", "")]) == [[0]]


# --- stories of an edition ---------------------------------------------------------------


def article(report: Report, source: str, slug: str, **fields) -> Article:
    return Article(url=f"https://{slug}.example.org/{abs(hash(report.title)) % 10**6}", title=report.title,
                   text=report.text, source=source, published=report.published, **fields)


def test_the_face_is_a_preferred_source_then_the_fullest_text_then_the_earliest():
    short = article(FLOOD_PAPER, "Daily Planet", "planet")
    full = article(FLOOD_WIRE, "Wire", "wire")
    assert face_order([short, full]) == [full, short]
    assert face_order([short, full], preferred=["Daily Planet"]) == [short, full]
    early = Article("https://a.example.org/1", "t", "same length", "A", published=T0)
    late = Article("https://b.example.org/1", "t", "same length", "B", published=T0 + timedelta(hours=1))
    assert face_order([late, early]) == [early, late]


def test_an_edition_has_one_item_per_story_listing_every_other_outlet_by_name_and_link():
    wire = article(FLOOD_WIRE, "Wire", "wire", also_reported_by=("Copy Desk",))
    paper = article(FLOOD_PAPER, "Daily Planet", "planet")
    football = article(FOOTBALL, "Sports Desk", "sport")
    stories = stories_of([paper, football, wire])
    assert [story.face for story in stories] == [wire, football]
    items = story_items(stories, [("Floods hit Valencia.",), ("A new coach.",)],
                        [Location("ES", "Europe")] * 2)
    assert items[0].others == (paper,)
    assert items[0].outlets == (("Copy Desk", ""), ("Daily Planet", paper.url))

    rendered = render_edition(edition(items), Config())
    doc = lxml_html.fromstring(rendered.html)
    cards = doc.find_class("card")
    assert len(cards) == 2
    also = cards[0].find_class("also")[0]
    assert also.text_content() == "Also reported by Copy Desk, Daily Planet"
    assert [(a.text_content(), a.get("href")) for a in also.iter("a")] == [("Daily Planet", paper.url)]
    assert "1 story" not in rendered.html and "2 stories" in doc.find_class("toc")[0].text_content()
    assert "Also reported by Copy Desk, Daily Planet" in rendered.text
    assert f"Daily Planet: {paper.url}" in rendered.text


def test_a_story_is_located_from_all_its_articles():
    wire = article(FLOOD_WIRE, "Wire", "wire")
    paper = article(FLOOD_PAPER, "Daily Planet", "planet")
    (story,) = stories_of([wire, paper])
    title, text = story_text(story)
    assert title == wire.title and wire.text in text and paper.text in text


def test_an_article_of_a_story_sent_in_an_earlier_edition_is_an_update(engine):
    first_time = T0 + timedelta(hours=6)
    wire = article(FLOOD_WIRE, "Wire", "wire")
    record_articles(engine, [wire, article(FOOTBALL, "Sports Desk", "sport")], T0)
    select_edition(engine, "2026-11-30", first_time, 24, 36)
    save_edition(engine, "2026-11-30", status="sent", html_path="", stats={})

    paper = article(FLOOD_PAPER, "Daily Planet", "planet")
    fresh = article(Report("Storm closes Lisbon port", "LISBON — A storm closed the port of Lisbon on "
                           "Wednesday and ferries across the Tagus were cancelled, the port authority said.",
                           T0 + timedelta(hours=20)), "Wire", "wire")
    record_articles(engine, [paper, fresh], T0 + timedelta(hours=20))
    selected, since, _ = select_edition(engine, "2026-12-01", first_time + timedelta(days=1), 24, 36)
    earlier = sent_articles(engine, since - timedelta(days=2), since)
    assert sorted(a.url for _, a in earlier) == sorted([wire.url, article(FOOTBALL, "Sports Desk", "sport").url])

    stories = stories_of(selected, earlier=earlier)
    by_face = {story.face.url: story for story in stories}
    assert by_face[paper.url].update_of == "2026-11-30" and by_face[paper.url].others == ()
    assert by_face[fresh.url].update_of is None

    items = story_items(stories, [("s.",)] * len(stories), [Location(None, "Europe")] * len(stories))
    rendered = render_edition(edition(items), Config())
    cards = {card.find_class("card-title")[0].text_content(): card
             for card in lxml_html.fromstring(rendered.html).find_class("card")}
    assert cards[paper.title].find_class("update")[0].text_content() == "Update"
    assert not cards[fresh.title].find_class("update")
    assert "UPDATE · Daily Planet" in rendered.text


FLOOD_TOLL = Report(
    "Valencia flood toll rises to 12 as the Turia recedes",
    "The death toll from the floods in the Benimaclet district of Valencia rose to 12, the regional emergency "
    "service said, after rescue crews in boats reached families trapped on upper floors when the Turia "
    "overflowed its banks.",
    T0 + timedelta(hours=20))
FLOOD_KING = Report(
    "King Felipe visits flooded Benimaclet",
    "Spain's King Felipe visited the flooded Benimaclet district of Valencia, where torrential rain forced "
    "about 4,000 residents from their homes after the Turia overflowed its banks.",
    T0 + timedelta(hours=20))
FLOOD_RETOLD = Report(
    "Valencia Residents Flee Rising Turia In Benimaclet",
    "About 4,000 residents of Benimaclet in Valencia fled their homes when the Turia overflowed its banks, "
    "the regional emergency service said.",
    T0 + timedelta(hours=20))


@pytest.mark.parametrize(("later", "new"), [(FLOOD_TOLL, {"12"}), (FLOOD_KING, {"king", "felip"})])
def test_a_new_number_or_name_in_the_title_is_a_new_development(later, new):
    assert new_development([later], [FLOOD_WIRE]) == new


@pytest.mark.parametrize("later", [FLOOD_PAPER, FLOOD_RETOLD])
def test_the_same_event_retold_in_other_words_brings_nothing_new(later):
    # FLOOD_RETOLD's title is in title case: "Flee" and "Rising" are not names, its text says so
    assert new_development([later], [FLOOD_WIRE]) == frozenset()


def test_number_words_and_figures_agree_when_looking_for_a_new_number():
    sent = Report("Eight dead in Valencia floods", "Eight people died in Valencia, officials said.", T0)
    later = Report("Valencia floods: 8 dead", "The floods in Valencia killed 8 people, officials said.", T0)
    assert new_development([later], [sent]) == frozenset()


def test_a_story_with_a_new_development_is_shown_as_new_not_as_an_update():
    assert group([FLOOD_WIRE, FLOOD_TOLL]) == [[0, 1]]  # the toll report is of the sent story
    wire = article(FLOOD_WIRE, "Wire", "wire")
    toll, paper = article(FLOOD_TOLL, "Daily Planet", "toll"), article(FLOOD_PAPER, "Daily Planet", "planet")
    (news,) = stories_of([toll], earlier=[("2026-11-30", wire)])
    (update,) = stories_of([paper], earlier=[("2026-11-30", wire)])
    assert news.articles == (toll,) and news.update_of is None
    assert update.articles == (paper,) and update.update_of == "2026-11-30"


def test_held_editions_are_not_sent_stories(engine):
    record_articles(engine, [article(FLOOD_WIRE, "Wire", "wire")], T0)
    select_edition(engine, "2026-11-30", T0 + timedelta(hours=6), 24, 36)
    save_edition(engine, "2026-11-30", status="held", html_path="", stats={})
    assert sent_articles(engine, T0 - timedelta(days=2), T0 + timedelta(days=1)) == []


# --- the batch command ---------------------------------------------------------------------


def test_cluster_command_answers_every_line_in_order_with_one_story_value_per_event():
    lines = [
        json.dumps({"id": "wire", "title": FLOOD_WIRE.title, "text": FLOOD_WIRE.text,
                    "published": "2026-11-30T08:00:00+00:00", "source": "Wire"}),
        "not json",
        json.dumps({"id": "football", "title": FOOTBALL.title, "text": FOOTBALL.text}),
        json.dumps({"id": "no-text", "title": "Missing"}),
        json.dumps({"id": "paper", "title": FLOOD_PAPER.title, "text": FLOOD_PAPER.text,
                    "published": "2026-11-30T13:00:00"}),
    ]
    result = CliRunner().invoke(app, ["cluster", "--jsonl"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["wire", None, "football", "no-text", "paper"]
    assert "line 2" in out[1]["error"] and "text" in out[3]["error"]
    assert out[0]["story"] == out[4]["story"] != out[2]["story"]


@pytest.mark.slow
def test_update_marks_and_outlet_links_pass_the_caniemail_lint(lint):
    from test_email_browser import FALLBACKS, VALUES, caniemail_errors

    from digest.render import render_segment

    wire = article(FLOOD_WIRE, "Wire", "wire", also_reported_by=("Copy Desk",))
    paper = article(FLOOD_PAPER, "Daily Planet", "planet")
    items = story_items(stories_of([wire, paper], earlier=[("2026-11-29", article(TRAMS, "Tram News", "tram"))]),
                        [("Floods hit Valencia.",)], [Location("ES", "Europe")])
    assert items[0].update_of is None  # six days apart: the trams report is another story
    items = [replace(items[0], update_of="2026-11-29")]
    document = render_segment(edition(items), Config(), None).fill(VALUES)[0]
    assert 'class="update"' in document and 'class="also-link"' in document
    features = {re.match(r"`(.+?)` is not supported", e).group(1) for e in caniemail_errors(lint, document)}
    assert features - set(FALLBACKS) == set()
