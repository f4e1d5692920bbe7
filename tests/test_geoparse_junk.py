"""False towns (issue 11): words and people's names read as places."""

from __future__ import annotations

import pytest

from digest.resolve import resolve
from digest.toponyms import candidates
from geo_helpers import gaz  # noqa: F401 - a fixture


def codes(gazetteer, text: str, title: str = "") -> dict[str, set[str | None]]:
    """Name → the codes it was resolved to, over its mentions."""
    found: dict[str, set[str | None]] = {}
    for r in resolve(candidates(title, text, gazetteer)):
        found.setdefault(r.candidate.name, set()).add(r.code)
    return found


def test_a_first_name_before_a_surname_the_story_names_alone_is_a_person(gaz):
    text = ("Buses ran late in Sedalia on Monday, county transportation director George Beckett told "
            "the board. Beckett said the roads were icy.")
    found = codes(gaz, text)
    assert found.get("George", {None}) == {None}
    assert found["Sedalia"] == {"US-MO"}


def test_a_first_name_the_story_also_writes_as_a_place_stays_a_place(gaz):
    text = ("Buses ran late in George on Monday, county transportation director George Beckett told "
            "the board. Beckett said the roads were icy.")
    assert codes(gaz, text)["George"] - {None}


def test_a_place_after_a_persons_age_is_their_home_town_even_if_a_countrys_name(gaz):
    # "Lebanon Police" alone does not say which: a country's police too.
    text = ("Terry Jolly, 60, Lebanon, was arrested Thursday. Jolly, who has no record in Boone "
            "County, was taken into custody by Lebanon Police after a traffic stop.")
    assert {code[:2] for code in codes(gaz, text)["Lebanon"]} == {"US"}


def test_a_word_in_ing_before_an_article_is_a_verb_not_a_city(gaz):
    # Shaping is a large Chinese city in the gazetteer.
    text = ("The Norfolk board of education heard recommendations from the Shaping the Future "
            "committee on Monday.")
    assert codes(gaz, text).get("Shaping", {None}) == {None}


def test_names_joined_by_an_ampersand_are_a_firms_partners_not_towns(gaz):
    # Named three times in a story that places nothing else: a town's weak evidence, were it one.
    text = ("Columbia taxpayers owe the design firm Stevens & Wilkinson money for the hotel, a judge "
            "ruled. Stevens & Wilkinson said they stopped work. The city paid Stevens & Wilkinson in 2003.")
    found = codes(gaz, text)
    assert (found.get("Stevens", {None}), found.get("Wilkinson", {None})) == ({None}, {None})


def test_a_mention_written_in_a_places_form_says_so(gaz):
    # a dateline, a locative, "Town, State", a place noun and a town noun; "Beckett" is none of them
    text = ("GLASGOW, Ky. (WBKO) — A Danbury man was arrested in Cottonport after a chase from "
            "Alexandria, Minnesota, Mansfield police said. George Beckett said the roads were icy.")
    written = {c.name: c.written_as_place for c in candidates("", text, gaz)}
    assert all(written[name] for name in ("Glasgow", "Danbury", "Cottonport", "Alexandria", "Mansfield"))
    assert not written["Beckett"]


def test_a_name_after_a_clause_word_is_no_surname(gaz):
    # LGL: "When Alexandria police found the body of Juantissa Hill …"
    text = ("When Alexandria police found the body of Juantissa Hill, investigators had few leads. "
            "Alexandria detectives worked with Naval Criminal Investigative Service agents.")
    assert codes(gaz, text)["Alexandria"] - {None}


def test_a_name_after_a_clause_word_opens_its_sentence(gaz):
    # LGL: "Since Obama took office, hopes for better times spread" (Obama is a Japanese town): a
    # clause word is no first name, yet that alone makes the name after it no place (it opens
    # the sentence, so the two mentions do not make a one-country town count)
    text = ("Since Obama took office, hopes for better times spread. Much depends also on what the "
            "Obama administration does.")
    assert codes(gaz, text).get("Obama", {None}) == {None}


def test_earth_is_no_place(gaz):
    # LGL: "… orbiting some 350 kilometers above Earth" (Earth, Texas is a town)
    text = "The crew will circle Earth for two days. The station orbits some 350 kilometers above Earth."
    assert codes(gaz, text).get("Earth", {None}) == {None}


@pytest.mark.parametrize(("text", "word"), [
    # LGL, each: a holiday, a police force, a party, a chamber of commerce
    ("St. Patrick's Day is a time for fun and celebration, but during the St. Patrick's Day holiday "
     "37 people died on Kentucky roads.", "Day"),
    ("Dieters have spent a lot of money at Christmas, but things are picking up.", "Christmas"),
    ("The crash left an 82-year-old Las Vegas woman in critical condition, Metro Police said.", "Metro"),
    ("He liked aspects of the Liberal budget but was critical of the Liberal government's approach, "
     "the Ontario Chamber of Commerce said.", "Liberal"),
    ("The Mount Vernon Chamber of Commerce held its banquet. Mayor and Chamber of Commerce President "
     "J.D. Baumgardner gave the welcome in Texas.", "Commerce"),
])
def test_an_ordinary_word_that_is_also_a_town_is_no_place(gaz, text, word):
    assert codes(gaz, text).get(word, {None}) == {None}


def test_a_word_that_is_a_town_only_where_written_as_one_counts_there(gaz):
    # LGL: "… Sioux Falls, S.D. and Surprise, Ariz., were picked"; "He found the men early
    # Saturday in Independence, but … the 48-year-old Kansas City man was fatally stabbed"
    listed = "Sioux Falls, S.D. and Surprise, Ariz., were picked from an application pool."
    text = ("He found the men early Saturday in Independence, but the 48-year-old Kansas City man was "
            "fatally stabbed. Prosecutors charged an Independence teenager.")
    assert (codes(gaz, listed)["Surprise"], codes(gaz, text)["Independence"]) == ({"US-AZ"}, {"US-MO"})


def test_a_word_that_is_a_town_only_where_written_as_one_is_the_word_elsewhere(gaz):
    text = "Parade floats lined up for Independence Day. The Liberal government cut the budget."
    found = codes(gaz, text)
    assert found.get("Independence", {None}) == found.get("Liberal", {None}) == {None}
