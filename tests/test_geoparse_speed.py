"""The geoparser's shortcuts for speed (issue 11) read a story as the long way does.

Each shortcut skips work only where the long way finds nothing: the later-dateline search jumps
to its literal characters, an ASCII gap is read with str.strip instead of a regex, a name's run
of capitalised words is tried only where a connector or the next word can carry it on. These
tests hold the edges of each: the cases the shortcut must still send the long way.
"""

from __future__ import annotations

import pytest

from digest import datelines
from digest.gazetteer import Gazetteer, load_gazetteer
from digest.toponym_context import after, before, patterns
from digest.toponyms import candidates
from geo_helpers import where


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


def names(gazetteer, text: str, title: str = "") -> list[str]:
    return [c.name for c in candidates(title, text, gazetteer)]


def test_a_later_dateline_after_a_bylines_year_counts_but_not_after_a_longer_number(gaz):
    byline = "By Staff Gannett March 24, 2009 MANSFIELD -- A fire destroyed a barn."
    assert datelines.later(byline, 0, len(byline), gaz).group("place") == "MANSFIELD"
    # "12009" is no year: the year's first digit opens a word
    number = "By Staff Gannett case 12009 MANSFIELD -- A fire destroyed a barn."
    assert datelines.later(number, 0, len(number), gaz) is None


def test_a_later_dateline_after_a_stop_a_question_or_a_line_break(gaz):
    for opening in ("Fire kills two. ", "Who pays? ", "Fire kills two\n"):
        text = opening + "CHARLESTON, W.Va. -- A fire destroyed a barn."
        assert datelines.later(text, 0, len(text), gaz).group("more") == "W.Va."


def test_the_words_around_a_name_are_the_same_in_ascii_and_in_accented_text():
    # the accented gap goes the regex's way, the plain one str.strip's: the same tokens either way
    for gap, word in ((" said in ", "in"), (" dijo él en ", "en"), (" 2009, ", None), (" ¿", None)):
        words, gaps = ["Mayor", "Paris"], ["", gap, " today"]
        word_pattern = patterns(gap).word
        assert before(words, gaps, 1, word_pattern) == ((word, gap[gap.rindex(word) + len(word):]) if word
                                                       else ("Mayor", gap))
    words, gaps = ["Paris"], ["", " ,  éste año"]
    assert after(words, gaps, 0, 0, patterns(gaps[1]).word) == ("éste", " ,  ")
    assert after(["Paris"], ["", " , this year"], 0, 0, patterns("").word) == ("this", " , ")


def test_a_name_is_read_across_its_connectors_and_hyphens_but_not_across_other_words(gaz):
    assert "Isle of Man" in names(gaz, "A ferry sailed to the Isle of Man on Sunday.")
    assert "Rio de Janeiro" in names(gaz, "Police in Rio de Janeiro said the road was closed.")
    # "of" after a name that no longer name continues: the run stops, the town alone is read
    assert "Alexandria" in names(gaz, "The mayor of Alexandria officials said the road was closed.")
    assert "New York" not in names(gaz, "A New yorker wrote about Albany.")


def test_a_word_that_only_opens_longer_names_is_passed_over_alone(gaz):
    # "The" opens "The Hague": alone it is nothing; with its next word it is the city
    assert names(gaz, "The meeting was held in The Hague on Monday.") == ["The Hague"]
    assert where(gaz, "", "The meeting was held in The Hague on Monday.").country == "NL"
