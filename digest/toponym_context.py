"""What stands around a capitalised word: the words before and after it, and what they say.

`digest.toponyms` scans a story for names; this module reads their surroundings for it. The scan
does not tokenise a story into all of its ~500 words: it splits it at its ~95 capitalised words
only (`Patterns.caps`), and what stands between two of them (a *gap*: lower-case words, spaces,
punctuation) is read here when a name's neighbour is asked for. The tokens are those of the
gazetteer's `TOKEN` all the same: a gap starts where a token ends, and holds no dotted acronym
(those start with a capital), so its tokens are its runs of letters.
"""

from __future__ import annotations

import functools
import re
import string
from typing import NamedTuple

from digest.data_files import data_rows
from digest.gazetteer import TOKEN, Gazetteer, LocalPlace, normal, word_list

# The small words of place names ("Isle of Man", "Rio de Janeiro").
CONNECTORS = frozenset("of de la le du des del and the upon on en y al el da do dos das di am an der den "
                       "im sur aan van von bei".split())
_LOWER = re.compile(r"[a-zß-öø-ÿ]+")
_INITIALS = re.compile(r"(?:[A-Z]\.\s?){1,3}\s")
HELD_WORDS = ("administered", "controlled", "held", "occupied", "ruled")
_HELD_BY = re.compile(r"([A-Z]\w+)-(?:%s) $" % "|".join(HELD_WORDS))
_LETTER = r"[^\W\d_]"  # what TOKEN calls a letter
# In ASCII the letters are these alone: a gap of ASCII is read by str.strip with them, which costs
# about half of a regex match and its groups (see before and after).
_ASCII_LETTERS = string.ascii_letters
_ASCII_NOT_LETTERS = "".join(chr(point) for point in range(128) if not chr(point).isalpha())


class Patterns(NamedTuple):
    """The scan's patterns for one text (see `patterns`)."""

    caps: re.Pattern[str]  # a capitalised token, as TOKEN reads it (one group, for split)
    # a gap's first word: (what stands before it, the word); on a reversed gap, its last word reversed
    word: re.Pattern[str]


def patterns(text: str) -> Patterns:
    """The patterns with the letters spelled out, which the regex engine tests by one table lookup
    a character (`[^\\W\\d_]` costs several calls into the Unicode database a character); for a
    text with characters beyond U+FFFF, where the spelled-out classes would have to be larger,
    the letter class itself."""
    return _patterns(_beyond_bmp(text))


def _beyond_bmp(text: str) -> bool:
    # Two bytes a character in UTF-16 unless some are beyond U+FFFF: encoding is about eight times as fast
    # as searching for them with a character class.
    return not text.isascii() and len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text)


@functools.cache
def _patterns(beyond_bmp: bool) -> Patterns:
    # Built once each (about 40 ms; beyond U+FFFF, 0.2 s: only a text that needs it pays).
    letters, upper = _letters(0x110000 if beyond_bmp else 0x10000)
    letter = _LETTER if beyond_bmp else letters
    not_letter = r"[\W\d_]" if beyond_bmp else "[^" + letter[1:]
    # A capital no letter stands before starts a token (a token ends at a non-letter, or after an
    # acronym's stop); TOKEN's two branches follow it. The look-behind comes after the capital, so
    # that the engine finds capitals by its quick scan.
    caps = re.compile(rf"({upper}(?<!{letter}.)(?:(?<=[A-Z])\.(?:[A-Z]\.)+|{letter}*))")
    return Patterns(caps, re.compile(rf"({not_letter}*)({letter}+)"))


def _letters(limit: int) -> tuple[str, str]:
    """Character classes of the letters (see is_letter) below `limit` and of the capitals among them."""
    letters = [point for point, char in enumerate(map(chr, range(limit))) if char.isalnum() and not char.isdecimal()]
    return _ranges(letters), _ranges([point for point in letters if chr(point).isupper()])


def _ranges(points: list[int]) -> str:
    """A character class of these code points (ascending), as ranges."""
    ranges: list[list[int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "[" + "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges) + "]"


def is_letter(char: str) -> bool:
    r"""What the regex engine's `[^\W\d_]` matches: alphanumeric, not a decimal digit."""
    return char.isalnum() and not char.isdecimal()


# --- neighbours -------------------------------------------------------------------------------
# A part of a story split by Patterns.caps: words[k] is its k-th capitalised token, gaps[k] what
# stands before it (gaps[-1]: after the last).


def before(words: list[str], gaps: list[str], i: int, pattern: re.Pattern[str]) -> tuple[str | None, str]:
    """The token right before capitalised word i and what stands between (None: the part's first)."""
    gap = gaps[i]
    if gap.isascii():
        letters = gap.rstrip(_ASCII_NOT_LETTERS)  # up to the end of the last word
        if letters:
            return letters[len(letters.rstrip(_ASCII_LETTERS)):], gap[len(letters):]
        return (words[i - 1] if i else None), gap
    last = pattern.match(gap[::-1])
    if last:
        return last.group(2)[::-1], last.group(1)[::-1]
    return (words[i - 1] if i else None), gap


def second_before(words: list[str], gaps: list[str], i: int, pattern: re.Pattern[str]) -> tuple[str | None, str]:
    """The token before the one right before capitalised word i, and what stands between those two."""
    reverse = gaps[i][::-1]
    last = pattern.match(reverse)
    if not last:  # the one right before is capitalised word i - 1
        return before(words, gaps, i - 1, pattern) if i else (None, "")
    earlier = pattern.match(reverse, last.end())
    if earlier:
        return earlier.group(2)[::-1], earlier.group(1)[::-1]
    return (words[i - 1] if i else None), reverse[last.end():][::-1]


def after(words: list[str], gaps: list[str], k: int, at: int, pattern: re.Pattern[str]) -> tuple[str | None, str]:
    """The token after offset `at` of gaps[k + 1] (the gap after capitalised word k) and what stands
    before it; None (and the rest of the part) if none."""
    gap = gaps[k + 1]
    if gap.isascii():
        rest = gap[at:] if at else gap
        letters = rest.lstrip(_ASCII_NOT_LETTERS)  # from the start of the next word
        if letters:
            return letters[:len(letters) - len(letters.lstrip(_ASCII_LETTERS))], rest[:len(rest) - len(letters)]
        return (words[k + 1] if k + 1 < len(words) else None), rest
    low = pattern.match(gap, at)
    if low:
        return low.group(2), low.group(1)
    return (words[k + 1] if k + 1 < len(words) else None), gap[at:]


def name_run(words: list[str], gaps: list[str], ends: list[int], i: int, most: int,
             word_pattern: re.Pattern[str]) -> list[tuple[int, int, int]]:
    """The tokens from capitalised word i that could be one name, at most `most`: capitalised words,
    joined by the small words of place names ("Isle of Man", "Rio de Janeiro"), with nothing but a
    space or hyphen between. Trying only these keeps matching linear in the text. Each token as
    (its end, the capitalised word k at or before it, its end's offset in gaps[k + 1])."""
    run = [(ends[i], i, 0)]
    k, at = i, 0
    while len(run) < most:
        gap = gaps[k + 1]
        low = word_pattern.match(gap, at)
        if low:  # a lower-case word next: only a connector carries on
            between = low.group(1)
            if low.group(2) not in CONNECTORS or len(between) > 2 or between.strip(" -'’."):
                break
            at = low.end()
            run.append((ends[k] + at, k, at))
        else:  # the next capitalised word, if any
            between = gap[at:]
            if k + 1 == len(words) or len(between) > 2 or between.strip(" -'’."):
                break
            k, at = k + 1, 0
            run.append((ends[k], k, 0))
    return run


# --- what the neighbours say ------------------------------------------------------------------


def written_lower(word: str, story: str, memo: dict[str, bool]) -> bool:
    """Whether the story writes `word` in lower case, as a word of its own (a run of letters with
    no letter either side): a capitalised name also written so ("police", "but") is a word. Found
    by searching for the few words asked about (memo: this story's answers), not by listing
    all ~490 runs of letters of every story first."""
    if word in memo:
        return memo[word]
    lower = word.lower()
    found = False
    if _LOWER.fullmatch(lower):
        at = story.find(lower)
        while at >= 0 and not found:
            end = at + len(lower)
            found = ((at == 0 or not is_letter(story[at - 1]))
                     and (end == len(story) or not is_letter(story[end])))
            at = story.find(lower, at + 1)
    memo[word] = found
    return found


def named_alone(word: str, text: str, skip: int) -> bool:
    """Whether `text` names `word` elsewhere (not at `skip`) on its own, as news names a person
    by the surname after the full name ("Mary Wheeler … Wheeler said"): not right after another
    capitalised word or an article, not before one ("the Chronicle", "Wheeler Avenue")."""
    at = text.find(word)
    while at >= 0:
        end = at + len(word)
        if (at != skip and (at == 0 or not is_letter(text[at - 1])) and (end == len(text) or not is_letter(text[end]))
                and not (text[end:end + 1] == " " and text[end + 1:end + 2].isupper())):
            prev = text[max(0, at - 20):at]
            token = prev.split()[-1] if prev.strip() and prev.endswith(" ") else ""
            if not (token.lower() in word_list("gazetteer_articles.txt") or (token[:1].isupper() and token[-1:].isalpha())):
                return True
        at = text.find(word, at + 1)
    return False


def held_by(text: str, position: int, start: int, gaz: Gazetteer) -> str | None:
    """"Pakistan-administered Kashmir", "Indian-controlled Kashmir" (the word before the name is
    one of HELD_WORDS): the country that holds it decides between a name's meanings (never adds
    one it does not have)."""
    match = _HELD_BY.search(text, max(start, position - 40), position)
    place = gaz.core.get(match.group(1)) if match else None
    if place and len(place.codes) == 1 and len(place.codes[0]) == 2 and not place.cue:
        return place.codes[0]
    return None


def hyphenated(words: list[str], gaps: list[str], i: int) -> bool:
    """The second half of a hyphenated name: "News-Leader", "Star-Telegram" (not a legislator's
    party and home: "D-Braxton", "DFL-Cook"). The first half may still be a place: the
    "Logan-Rogersville" schools are in Logan."""
    return i > 0 and gaps[i] == "-" and not words[i - 1].isupper()  # a gap of "-": words[i - 1] is right before


def after_initials(prev: str | None, gap: str, gaz: Gazetteer) -> bool:
    """"J.M. Barrie", "George W. Bush": a name after a person's initials is that person's."""
    if prev is None or not (len(prev) == 1 or prev.endswith(".")):
        return False
    between = prev + gap
    return (bool(_INITIALS.fullmatch(between)) and normal(between) not in gaz.core
            and normal(between) not in gaz.abbreviations)


def after_locative(prev: str | None, gap: str, words: list[str], gaps: list[str], i: int,
                   pattern: re.Pattern[str], locatives: frozenset[str]) -> bool:
    """"in Cottonport", "at the Cottonport Fire Station" (prev, gap: what stands right before word i);
    not "near the Re/Max realty office": a word joined to the next by a slash is part of a name of
    its own, which the locative places, not a town."""
    if prev is None or gap.strip():
        return False
    if prev in locatives:
        return True
    if prev != "the" or i + 1 < len(gaps) and gaps[i + 1].startswith("/"):
        return False
    word, gap = second_before(words, gaps, i, pattern)
    return word is not None and not gap.strip() and word in locatives


def named_of(text: str, first: int, prev: str | None, gap: str, local: tuple[LocalPlace, ...]) -> bool:
    """"Hannah Smalls of Oxford", "Troop 208 of Coleridge": "of" after a person's name (two
    capitalised words) or a number places a town as a locative does ("the wife of Clinton" does
    not). Not after an institution ("International Court of Justice", "Rosenstiel School of
    Marine": gazetteer_institution_words.txt and the place nouns), nor a name that is only
    another place's other name ("the Godfather of Soul" is no Seoul)."""
    if prev != "of" or gap != " " or not any(p.kind != "alternate" for p in local):
        return False
    match = _NAMED_OF.search(text, max(0, first - 40), first)
    return bool(match) and (match.group(1) is None or match.group(1) not in _institution_words()
                            and match.group(1) not in word_lists()[2])


_NAMED_OF = re.compile(r"(?:\b[A-Z][a-z]+ ([A-Z][a-z]+)(?: [JS]r\.)?|\d) of $")


@functools.cache
def _institution_words() -> frozenset[str]:
    return word_list("gazetteer_institution_words.txt")


def verdict(rule: str, text: str, position: int, start: int, strict_neighbours: bool,
            prev: str | None, prev_gap: str, nxt: str | None, nxt_gap: str,
            not_first: frozenset[str], place_nouns: frozenset[str]) -> bool | None:
    """Whether a name with a rule of gazetteer_traps.csv is a place here (True), a person's name
    (False) or unclear (None)."""
    if not rule:
        return True
    if not strict_neighbours:
        return None  # in a Title-Case Headline every word is capitalised: the body decides
    if rule == "word":
        return None if starts_sentence(text, position, start) else True
    if rule == "form":
        return True  # how the mention is written decides (see toponyms)
    # "Paris Hilton" is a person, "Paris High School" and "Jordan Elementary" are places
    if nxt and nxt[0].isupper() and nxt not in place_nouns and not nxt_gap.strip():
        return False
    if prev and prev[0].isupper() and prev not in not_first and not prev_gap.strip():
        return False
    return True


def starts_sentence(text: str, position: int, start: int) -> bool:
    back = position - 8  # a bounded look back (max() would cost 5x the test)
    before = text[back if back > start else start:position].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?:\n"


def is_title_case(title: str) -> bool:
    words = [w for w in TOKEN.findall(title) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


@functools.cache
def word_lists() -> tuple[frozenset[str], ...]:
    """The locatives, words no first name is (with the clause words), place nouns, street words
    and town nouns."""
    locatives, not_first, *rest = (word_list(f"gazetteer_{name}.txt") for name in
                                   ("locatives", "not_first_names", "place_nouns", "street_words", "town_nouns"))
    return (locatives, not_first | clause_words(), *rest)


@functools.cache
def road_words() -> frozenset[str]:
    """Street words of roads named for their destinations ("Chesterton Road")."""
    return word_list("gazetteer_road_words.txt")


def after_route_word(text: str, at: int) -> bool:
    """Whether the word before `at` is a locative that also leads along a street ("from Darby to
    North Street"; gazetteer_route_words.txt)."""
    word = text[max(0, at - 12):at].rsplit(None, 1)
    return bool(word) and word[-1] in _route_words()


@functools.cache
def _route_words() -> frozenset[str]:
    return word_list("gazetteer_route_words.txt")


@functools.cache
def clause_words() -> frozenset[str]:
    """Words that open a clause or count ("After", "Since", "Two"; no first names either)."""
    return word_list("gazetteer_clause_words.txt")


def determiner_next(text: str, at: int) -> bool:  # an article, possessive or demonstrative, a space either side
    end = text.find(" ", at + 1) if text.startswith(" ", at) else -1
    return end > 0 and text[at + 1:end] in determiners()


@functools.cache
def determiners() -> frozenset[str]:
    return word_list("gazetteer_articles.txt") | word_list("gazetteer_determiners.txt")


@functools.cache
def ordinary_words() -> frozenset[str]:
    """The names of gazetteer_traps.csv that are ordinary words ("Saturday", "Republican"): no one's surname."""
    return frozenset(name for name, rule in data_rows("gazetteer_traps.csv") if rule in ("stop", "word", "form"))
