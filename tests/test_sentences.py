"""The offline sentence splitter on tricky English (each case is text → the sentences expected), and noise."""

from __future__ import annotations

import pytest

from digest.summarize import is_noise, split_sentences

CASES: list[tuple[str, str, list[str]]] = [
    ("plain sentences", "The talks ended. Delegates left.", ["The talks ended.", "Delegates left."]),
    ("US with dots mid-sentence", "The U.S. Senate voted on Monday.", ["The U.S. Senate voted on Monday."]),
    ("US with dots ends a sentence", "Troops returned to the U.S. The war was over.",
     ["Troops returned to the U.S.", "The war was over."]),
    ("UK and UN acronyms", "The U.K. and the U.N. agreed.", ["The U.K. and the U.N. agreed."]),
    ("Mr. before a name", "Mr. Jaafari accused the opposition.", ["Mr. Jaafari accused the opposition."]),
    ("Mrs. and Dr. titles", "Mrs. Smith met Dr. Jones. They talked.",
     ["Mrs. Smith met Dr. Jones.", "They talked."]),
    ("military and political titles", "Gen. Mattis and Sen. McCain spoke. Gov. Brown did not.",
     ["Gen. Mattis and Sen. McCain spoke.", "Gov. Brown did not."]),
    ("No. before a number", "He lives at No. 10 Downing Street.", ["He lives at No. 10 Downing Street."]),
    ("no. as a word ends a sentence", "The answer was no. Then he left.", ["The answer was no.", "Then he left."]),
    ("hyphenated Arabic names", "President Bashar al-Assad met Bashar al-Jaafari. Talks began.",
     ["President Bashar al-Assad met Bashar al-Jaafari.", "Talks began."]),
    ("middle initial", "George W. Bush spoke in Texas.", ["George W. Bush spoke in Texas."]),
    ("two initials", "J. K. Rowling wrote a new book.", ["J. K. Rowling wrote a new book."]),
    ("initial ends a sentence", "They chose plan B. The rest failed.", ["They chose plan B.", "The rest failed."]),
    ("decimal number", "Growth was 2.5 percent. Prices rose.", ["Growth was 2.5 percent.", "Prices rose."]),
    ("currency with decimals", "It cost $1.5bn. Shares fell 3.2%.", ["It cost $1.5bn.", "Shares fell 3.2%."]),
    ("version numbers", "Python 3.11.4 is out. Upgrade now.", ["Python 3.11.4 is out.", "Upgrade now."]),
    ("ellipsis then capital", "He paused... Then he spoke.", ["He paused...", "Then he spoke."]),
    ("ellipsis then lower case", "It was... well, odd.", ["It was... well, odd."]),
    ("unicode ellipsis", "Wait… Nobody came.", ["Wait…", "Nobody came."]),
    ("quote closes the sentence", '"We will return." He left.', ['"We will return."', "He left."]),
    ("question in quotes with attribution", '"Why?" he asked. Nobody knew.', ['"Why?" he asked.', "Nobody knew."]),
    ("exclamation in quotes with attribution", '"Stop!" she shouted. They ran.',
     ['"Stop!" she shouted.', "They ran."]),
    ("curly quotes", "“It is over.” The crowd cheered.", ["“It is over.”", "The crowd cheered."]),
    ("single curly quotes", "He said ‘no deal.’ Talks stalled.", ["He said ‘no deal.’", "Talks stalled."]),
    ("bracketed sentence", "Prices rose. (Some fell.) Most held.", ["Prices rose.", "(Some fell.)", "Most held."]),
    ("abbreviation in brackets", "The agency (est. 1990) grew.", ["The agency (est. 1990) grew."]),
    ("question mark", "Is it over? Nobody knows.", ["Is it over?", "Nobody knows."]),
    ("exclamation mark", "It worked! Everyone cheered.", ["It worked!", "Everyone cheered."]),
    ("interrobang run", "Really?! Yes.", ["Really?!", "Yes."]),
    ("e.g. and i.e.", "Some states, e.g. Ohio, voted, i.e. most did.", ["Some states, e.g. Ohio, voted, i.e. most did."]),
    ("etc. ends a sentence", "They sold apples, pears, etc. The market closed.",
     ["They sold apples, pears, etc.", "The market closed."]),
    ("vs. between names", "Smith vs. Jones went to court.", ["Smith vs. Jones went to court."]),
    ("Inc. inside a sentence", "Apple Inc. Chief Executive Tim Cook spoke.",
     ["Apple Inc. Chief Executive Tim Cook spoke."]),
    ("Inc. ends a sentence", "He joined Apple Inc. He left a year later.",
     ["He joined Apple Inc.", "He left a year later."]),
    ("a.m. before a capitalised day", "It starts at 9 a.m. Monday in London.", ["It starts at 9 a.m. Monday in London."]),
    ("p.m. ends a sentence", "Polls closed at 8 p.m. The count began.", ["Polls closed at 8 p.m.", "The count began."]),
    ("month abbreviation before a day", "On Jan. 5 the vote was held.", ["On Jan. 5 the vote was held."]),
    ("St. before a place", "He flew to St. Louis yesterday.", ["He flew to St. Louis yesterday."]),
    ("D.C. ends a sentence", "She moved to Washington, D.C. In 1990 she ran.",
     ["She moved to Washington, D.C.", "In 1990 she ran."]),
    ("Ph.D. mid-sentence", "She earned a Ph.D. from Harvard.", ["She earned a Ph.D. from Harvard."]),
    ("et al. mid-sentence", "Smith et al. found a link.", ["Smith et al. found a link."]),
    ("number starts the next sentence", "The vote was close. 52 members agreed.",
     ["The vote was close.", "52 members agreed."]),
    ("paragraph break always ends", "Breaking news\n\nThe talks ended.", ["Breaking news", "The talks ended."]),
    ("heading line without punctuation", "Syria talks\nThe talks ended.", ["Syria talks", "The talks ended."]),
    ("hard-wrapped line is joined", "The talks between the two\nsides ended on Monday.",
     ["The talks between the two sides ended on Monday."]),
    ("dateline stays in its sentence", "ASTANA: The talks ended. Delegates left.",
     ["ASTANA: The talks ended.", "Delegates left."]),
    ("Reuters dateline with a dash", "LONDON (Reuters) - Shares fell. Bonds rose.",
     ["LONDON (Reuters) - Shares fell.", "Bonds rose."]),
    ("Yahoo! style brand mid-sentence", "Yahoo! said profits rose.", ["Yahoo! said profits rose."]),
    ("quotation with internal full stop", 'He said: "It is over. We lost." Then he left.',
     ['He said: "It is over.', 'We lost."', "Then he left."]),
    ("numbered list item", "Art. 5 of the treaty applies.", ["Art. 5 of the treaty applies."]),
    ("extra spaces collapse", "The talks   ended.   Delegates\tleft.", ["The talks ended.", "Delegates left."]),
    ("empty text", "   \n\n  ", []),
    # Wikinews: "… at 9:54 a.m. ET (1354 UTC) during an attempted landing" was split before "ET",
    # read as Latin "et" (a stop word); an opener written in capitals is an acronym.
    ("time zone after a.m.", "It crashed at 9:54 a.m. ET (1354 UTC) on landing. Seven died.",
     ["It crashed at 9:54 a.m. ET (1354 UTC) on landing.", "Seven died."]),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_splits_tricky_english_into_the_expected_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text, "en") == expected


def test_language_is_optional_and_defaults_to_english_rules() -> None:
    assert split_sentences("Mr. Smith left the U.S. The end.") == ["Mr. Smith left the U.S.", "The end."]


def test_splits_chinese_on_full_width_punctuation() -> None:
    assert split_sentences("会谈结束了。代表们离开了！", "zh") == ["会谈结束了。", "代表们离开了！"]


@pytest.mark.parametrize("sentence, noise", [
    ("Copyright 2024 The Herald.", True),                       # anchored at the start
    ("Text and photos: The Herald, all rights reserved.", True),  # the same pattern's other branch, mid-line
    ("Photo: Jane Doe/Reuters", True),
    ('He said "no" ((ko))Korean language: 아니요', True),          # a quote's original, after the quote
    ("The council said the copyright of the plans was disputed.", False),
    ("Read the report, the minister told the chamber on Monday.", False),
    # LGL: a column's tagline run into each of its articles.
    ("Megan Gildow brings you the latest from the offices, halls and classrooms of local schools.", True),
    ("The festival brings the latest films to the town's old cinema.", False),
])
def test_noise_sentences_are_told_from_content(sentence: str, noise: bool) -> None:
    assert is_noise(sentence) is noise


@pytest.mark.parametrize("text", [
    "Mr O'Neill's well-known co-op re-opened at 9am_today -- 'quoted' words-", "x-ray, 3-D, rock'n'roll",
    "don't-stop_me 12th", "“Curly” quotes and O’Neill",  # not ASCII: the Unicode pattern itself
    "Straße, naïve café, Zürich-based", "", "- ' _ 42",
])
def test_words_are_the_same_whether_or_not_the_text_is_ascii(text: str) -> None:
    from digest.language import WORD, words

    # The ASCII fast path must find exactly what the Unicode pattern finds.
    assert words(text) == WORD.findall(text)
    assert words(text.encode("ascii", "replace").decode()) == WORD.findall(text.encode("ascii", "replace").decode())


@pytest.mark.parametrize("sentence", [
    "Copyright 2024 The Herald.", "Text and photos: The Herald, all rights reserved.", "Photo: Jane Doe/Reuters",
    "(AP Photo/Oakland Police) Jim left.", "This story was originally published by the Herald.",
    "READ MORE: the budget", "Pictures by Getty Images", "The minister said so on Monday.",
])
def test_ascii_sentences_are_noise_exactly_when_the_unicode_patterns_say_so(sentence: str) -> None:
    from digest.summary_data import patterns

    assert sentence.isascii()
    assert is_noise(sentence) is any(p.search(sentence) for p in patterns().noise)


def test_a_pattern_with_a_cased_letter_beyond_ascii_keeps_unicode_mode() -> None:
    from digest.summary_data import _ascii_safe

    # Case-blind, "ſ" (long s) matches an ASCII "s" in Unicode mode only.
    assert not _ascii_safe("(?i)ſhutterstock") and _ascii_safe("(?i)©|—|getty")


def test_a_case_blind_pattern_is_folded_only_where_lower_case_text_finds_the_same() -> None:
    from digest.summary_data import _folded

    assert _folded(r"(?i)\bReuters/[A-Z]\W") == r"\breuters/[a-z]\W"  # escapes keep their case
    assert _folded(r"(?i)\x41P photo") is None                        # an escape naming "A"
    assert _folded(r"(?i)(?P<outlet>AP) photo") is None
