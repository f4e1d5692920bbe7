"""Candidate place names in a story, with the context that says whether and where they are places.

Matching is case-sensitive over capitalised tokens, longest name first ("New Mexico" is never read
as Mexico), against both tiers of the gazetteer. Each candidate records where it stands (headline,
dateline, lead, body → its weight), whether a locative word comes before it ("in Cottonport"),
and the division or country written after it ("London, Ky.", "Alexandria, Minnesota"). Deciding
what a candidate means is `digest.resolve`'s job; this module only reads the text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, compress, count, repeat
from operator import is_not

from digest import datelines, gazetteer_answers, unlisted
from digest.data_files import data_rows
from digest.gazetteer import Gazetteer, LocalPlace, Place, normal
from digest.toponym_context import (CONNECTORS, HELD_WORDS, Patterns, after, after_initials, after_locative,
                                    after_route_word, before, clause_words, determiner_next, held_by, hyphenated,
                                    is_title_case, name_run, named_alone, named_of, ordinary_words, patterns,
                                    road_words, starts_sentence, verdict, word_lists, written_lower)

# Weights of one mention by where it stands.
W_TITLE, W_LEAD, W_BODY, W_DATELINE = 3.0, 2.0, 1.0, 0.5
LEAD_CHARS = 600
# Beyond this a story is not read: no news article is that long, and it bounds the time spent on
# bad input (a page of 100,000 place names).
MAX_CHARS = 60_000

# After a name, what makes it no mention of a place: a currency ("US$6,000", "HK$").
_NOT_HERE = "$"  # (a string: startswith is a fraction of a regex match)
# ... or a place, but not where the story is: an organisation's home ("a London-based charity",
# "UK-based researchers"): resolved, and weighed at nothing.
_ELSEWHERE = re.compile(r"-based\b")
_PARTIES = frozenset({"D", "R", "I", "DFL"})
_ADDRESS_GAP = re.compile(r"\.?, ")  # "Lafayette Ave., Lebanon"
_AGE_BEFORE = re.compile(r", \d{1,3}, (?:of )?$")  # "Terry Jolly, 60, Lebanon": a person's home town
_CAPITAL_NEXT = re.compile(r"\s[A-Z]")  # a third capitalised word: "Richmond Winterfest Weekend" is no one's name
# A division's abbreviation anywhere (see _abbreviations): "D-N.J.", "S.C.", "Ill.", "W. Va.".
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?P<party>[DRI]-)?(?P<form>[A-Z]\.(?:\s?[A-Z]\.)+|[A-Z]\.\s?[A-Z][a-z]\.|[A-Z][a-z]{1,4}\.)")
# Where one can start: a capital before a hyphen or before up to four small letters and a stop. The
# regex engine finds these by a quick scan for the capital, which it cannot do for _ABBREVIATION
# (it starts with a look-behind, tried at every character); see _abbreviation_matches.
_ABBREVIATION_START = re.compile(r"[A-Z](?:[a-z]{0,4}\.|(?<=[DRI])-)")
_TOWN_BEFORE = re.compile(r"\b([A-Z][a-z]+(?: [A-Z][a-z]+)?), $")  # "of Sulpher, " before "La."
_WORD_BEFORE = re.compile(r"(?:\d|\b[A-Z]\w*)\s$")  # "500 B.C.", "Grupo Mexico S.A."
_LOWER_NEXT = re.compile(r"\s+[a-z]")
# How the gap after a word starts when name_run can go on past it ("Isle of Man", "New York"; most
# gaps do not: "Washington said"): this one match costs a fraction of the call.
_RUN_GOES_ON = re.compile(r"[ \-'’.]{0,2}(?:(?:%s)(?![^\W\d_])|\Z)" % "|".join(sorted(CONNECTORS, key=len, reverse=True)))
# "Sharon, Cornwall and Salisbury", "Crockett, Palestine and Houston": a list of towns, not "Town, State"
# (a state's abbreviation still qualifies: "Louisville, Ky. and Surprise, Ariz.")
_LIST_NEXT = re.compile(r"(?<![.]) (?:and|or) [A-Z]")
# ", Ky." / ", N.C." / ", Minnesota" right after a name.
_AFTER_COMMA = re.compile(r"\s*,\s*((?:[A-Z]\.\s?){2,}|[A-Z]\.\s?[A-Z][a-z]\.|[A-Z][a-z]{1,4}\.|[A-Z][\w'’.-]*(?: [A-Z][\w'’-]*){0,2})")


# Not frozen: a frozen dataclass sets each of its 17 fields through object.__setattr__, which was
# 7% of a story's instructions for its ~30 candidates. Hashed by value all the same.
@dataclass(slots=True, unsafe_hash=True)
class Candidate:
    """A name found in the story, before anyone decides what it means (treat it as immutable)."""

    name: str
    start: int  # offsets into the title (in_title) or the text
    end: int
    in_title: bool
    weight: float
    core: Place | None
    local: tuple[LocalPlace, ...]
    verdict: bool | None = True  # the core rules: a place (True), a person (False), unclear (None)
    locative: bool = False  # "in", "near", "from"… right before it
    qualifier: str | None = None  # the division or country written after it: "US-KY", "US"
    dateline: bool = False
    person_like: bool = False  # right after another capitalised word ("Hillary Clinton")
    before_capital: bool = False  # right before another capitalised word, not a place noun ("Mark Biggs")
    sentence_start: bool = False
    place_noun: bool = False  # a word of gazetteer_place_nouns.txt right after it ("Mansfield council")
    country_name: bool = False  # a country's name ("Egypt", "Lebanon")
    town_noun: bool = False  # "Lebanon woman", "Lafayette Ave., Lebanon": a town, even if a country's name
    first_name: bool = False  # before a surname the story names alone ("Mary Wheeler … Wheeler said")

    @property
    def written_as_place(self) -> bool:
        """Written in a place's form: after a locative ("in Lebanon"), before its state ("Lebanon,
        Ky."), in a dateline, before a place or town noun ("Lebanon council", "a Lebanon woman")."""
        return self.locative or bool(self.qualifier) or self.dateline or self.place_noun or self.town_noun


def candidates(title: str, text: str, gaz: Gazetteer) -> list[Candidate]:
    """Every candidate in headline, dateline and text, in reading order."""
    text = text[:MAX_CHARS]
    title = title[:1000]
    text_patterns = patterns(text)
    lower: dict[str, bool] = {}  # written_lower's answers for this story
    streets: set[str] = set()  # the town-only names the story writes as streets ("Darby Street"; see road_words)
    found = _scan(title, 0, len(title), W_TITLE, gaz, in_title=True, story=text, lower=lower, streets=streets,
                  strict_neighbours=not is_title_case(title), patterns=patterns(title))
    body_start = 0
    dateline = datelines.opening(text, gaz)
    if dateline:
        found += _dateline(text, dateline, gaz)
        body_start = dateline.end()
    paragraph_end = text.find("\n", body_start + 1)
    lead_end = min(paragraph_end if paragraph_end > 0 else len(text), body_start + LEAD_CHARS)
    lead_end = _token_boundary(text, lead_end)
    parts = [(body_start, lead_end, W_LEAD), (lead_end, len(text), W_BODY)]
    # A dateline after the headline or at a paragraph's start: "… fire. CHARLESTON, W.Va. — …"
    match = datelines.later(text, body_start, min(len(text), body_start + LEAD_CHARS), gaz)
    if match:
        found += _dateline(text, match, gaz)
        parts = [(body_start, match.start(), W_LEAD), (match.end(), lead_end, W_LEAD),
                 (lead_end, len(text), W_BODY)]
    priced = _priced(text)
    for start, end, weight in parts:
        if priced:
            found += _currencies(text, start, end, weight)
        names = _scan(text, start, end, weight, gaz, story=text, lower=lower, streets=streets,
                      patterns=text_patterns)
        given = [c for c in names if c.name in gaz.abbreviations]  # ", Ky." after a town
        alone = _abbreviations(text, start, end, weight, gaz, {c.start for c in given})
        # "D-Pa." is Pennsylvania, not a town called Pa
        taken = given + alone
        found += (names if not taken else  # most parts: no abbreviation to keep apart
                  [c for c in names if c.name in gaz.abbreviations
                   or not any(a.start <= c.start < a.end for a in taken)]) + alone
    if streets:
        found = [c for c in found if c.name not in streets or _town_not_street(title if c.in_title else text, c)]
    return _waters(text, found)


def _town_not_street(text: str, c: Candidate) -> bool:
    """Whether a town-only name the story also writes as a street ("Darby Street") is the town
    where it stands alone: only where written as a town ("Darby, Pa.", "a Darby man", "in
    Darby"), not after a locative that leads along a street too ("north on Darby from Bridge
    Street", "from Darby to North Street")."""
    return bool(c.qualifier or c.dateline or c.place_noun or c.town_noun
                or c.locative and not after_route_word(text, c.start))


def _waters(text: str, found: list[Candidate]) -> list[Candidate]:
    """Lakes, rivers, creeks and townships no tier knows (see `digest.unlisted`): places with no
    meaning yet, in place of the names read inside them ("Lake", "Naugatuck", "Jackson": a
    township's namesake town may be states away). One the gazetteer has whole ("Lake Charles",
    "Red River") keeps its meaning."""
    body = [c for c in found if not c.in_title]
    waters = [Candidate(name, at, end, False, W_BODY, None, (), place_noun=True)
              for name, at, end in unlisted.waters(text) if not any(c.start <= at and end <= c.end for c in body)]
    if not waters:
        return found
    inside = {id(c) for w in waters for c in body if w.start <= c.start and c.end <= w.end}
    return [c for c in found if id(c) not in inside] + waters


@functools.cache
def _currency_signs() -> tuple[re.Pattern[str], dict[str, str]]:
    codes = {sign: code for sign, code in data_rows("gazetteer_currencies.csv")}
    signs = "|".join(re.escape(sign) for sign in sorted(codes, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z])({signs}) ?\d"), codes


def _priced(text: str) -> bool:
    """Whether a currency's sign is anywhere in the text (most stories: no search for them at all)."""
    return any(sign in text for sign in _currency_signs()[1])


def _currencies(text: str, start: int, end: int, weight: float) -> list[Candidate]:
    """"£25,000": a country cue (gazetteer_currencies.csv), counted like an institution."""
    pattern, codes = _currency_signs()
    return [Candidate(match.group(1), match.start(1), match.end(1), False, weight,
                      Place((codes[match.group(1)],), cue=True), ())
            for match in pattern.finditer(text, start, end)]


def _abbreviations(text: str, start: int, end: int, weight: float, gaz: Gazetteer,
                   taken: set[int]) -> list[Candidate]:
    """A state's abbreviation standing alone names the state where it cannot be anything else: after
    a party ("Sen. Bob Casey, D-Pa."), a dotted pair of capitals ("the S.C. Trial Lawyers") not after
    a number or a capitalised word ("500 B.C.", "Grupo Mexico S.A."), or an abbreviated word before
    a lower-case one ("Missing Ill. man"; not "attended Mass. The …")."""
    found = []
    for match in _abbreviation_matches(text, start, end):
        form, at = normal(match.group("form")), match.start("form")
        code = gaz.abbreviations.get(form)
        if code is None or at in taken:
            continue
        party = bool(match.group("party"))
        dotted = form.count(".") >= 2 and not _WORD_BEFORE.search(text, max(start, at - 30), at)
        before_word = (form.count(".") == 1 and bool(_LOWER_NEXT.match(text, match.end()))
                       and not starts_sentence(text, at, start))
        town = None if party else _TOWN_BEFORE.search(text, max(start, at - 40), at)
        if town and "-" in code:
            # "Thackerville, Okla.", "Sulpher, La.": AP style's town and state, a town no tier knows
            found.append(Candidate(town.group(1), town.start(1), town.end(1), False, weight, None, (),
                                   qualifier=code))
        if party or dotted or before_word or town:
            found.append(Candidate(form, at, match.end(), False, weight, Place((code,)), ()))
    return found


def _abbreviation_matches(text: str, start: int, end: int) -> Iterator[re.Match[str]]:
    """The matches of `_ABBREVIATION.finditer(text, start, end)`, tried only where one can start."""
    after = start
    for hit in _ABBREVIATION_START.finditer(text, start, end):
        if hit.start() >= after and (match := _ABBREVIATION.match(text, hit.start(), end)):
            after = match.end()
            yield match


def _dateline(text: str, match: re.Match[str], gaz: Gazetteer) -> list[Candidate]:
    place, more = match.group("place"), match.group("more")
    qualifier = _qualifier(more.strip(), gaz) if more else None
    found = []
    for group, raw in (("place", place), ("more", more)):
        if not raw:
            continue
        name = normal(datelines.as_written(raw) if datelines.capitals(raw) else raw)
        core, local = gaz.core.get(name), gaz.local(name)
        if group == "more" and qualifier:  # "Ky." names Kentucky, whatever else it could be
            core, local = Place((qualifier,)), ()
        start = match.start(group)
        if core is None and not local:
            # "HARWINTON —": a town the gazetteer lacks (see coherence.strays); in capitals before a
            # dash, not a heading before a colon ("BREAKING NEWS:", "Briefs:")
            if group == "place" and datelines.capitals(raw) and not match.group().rstrip().endswith(":"):
                found += _unlisted(text, name, start, start + len(raw.rstrip()), qualifier)
            continue
        found.append(Candidate(name, start, start + len(raw.rstrip()), False, W_DATELINE, core, local,
                               qualifier=qualifier if group == "place" else None, dateline=True))
    return found


def _unlisted(text: str, name: str, start: int, end: int, qualifier: str | None) -> list[Candidate]:
    """A dateline's town no tier of the gazetteer knows, with no meaning yet, and its other mentions
    in the text (whole words), so that they all take the meaning the story gives it."""
    return [Candidate(name, start, end, False, W_DATELINE, None, (), qualifier=qualifier, dateline=True)] + [
        Candidate(name, at, after, False, W_BODY, None, ()) for at, after in unlisted.mentions(text, name, end)]


def _qualifier(phrase: str, gaz: Gazetteer) -> str | None:
    """The division or country a "Town, X" names: "Ky." → US-KY, "Minnesota" → US-MN, "Ontario"."""
    phrase = normal(phrase)
    if phrase in gaz.abbreviations:
        return gaz.abbreviations[phrase]
    if phrase in gaz.division_names:
        return gaz.division_names[phrase]
    core = gaz.core.get(phrase)
    if core and len(core.codes) == 1 and not core.demonym and not core.cue and not core.codes[0].startswith("@"):
        return core.codes[0] if len(core.codes[0]) == 2 else None
    return None


def _scan(text: str, start: int, end: int, weight: float, gaz: Gazetteer, *, in_title: bool = False,
          story: str, lower: dict[str, bool], streets: set[str], patterns: Patterns,
          strict_neighbours: bool = True) -> list[Candidate]:
    # Split at the capitalised tokens alone (only they start a name), each one's offsets summed from
    # the lengths; the rest is read from the gaps between them when asked (see toponym_context).
    pieces = patterns.caps.split(text[start:end])
    words, gaps = pieces[1::2], pieces[::2]  # gaps[k]: what stands right before word k
    offsets = list(accumulate(map(len, pieces), initial=start))
    starts, ends = offsets[1:-1:2], offsets[2::2]
    _, _, place_nouns, street_words, _ = word_lists()
    word_pattern = patterns.word
    found = []
    consumed = start  # a token starting before this belongs to a name already found
    # the most tokens of a name each word starts (None: none), asked all at once: a map, not a loop
    mosts = gazetteer_answers.tokens_after(gaz, words)
    _, starts_memo, meanings_memo = gazetteer_answers.answers(gaz)
    for i in compress(count(), map(is_not, mosts, repeat(None))):
        first = starts[i]
        if first < consumed:
            continue
        word, most = words[i], mosts[i]
        # the tokens of the longest run that could be a name: (end, capitalised word k, offset in gaps[k + 1])
        if most > 1 and _RUN_GOES_ON.match(gaps[i + 1]):
            run = name_run(words, gaps, ends, i, most, word_pattern)
        elif (meanings_memo.get(word) or gazetteer_answers.meanings(gaz, meanings_memo, word)) == (None, ()):
            continue  # a word that is no name alone ("The" of "The Hague"): the loop below would find none
        else:
            run = [(ends[i], i, 0)]
        size = len(run)
        if size > 1:
            # no name is longer than its longest first tokens that begin some name of the gazetteer
            top = 1
            while top < size:
                prefix = text[first:run[top][0]]
                known = starts_memo.get(prefix)
                if not (gazetteer_answers.starts_name(gaz, starts_memo, prefix) if known is None else known):
                    break
                top += 1
            size = top
        for size in range(size, 0, -1):
            last_end, k, at = run[size - 1]
            span = text[first:last_end] if size > 1 else word
            if "\n" in span:
                continue
            # name_run joins words by at most two of " -'’.", so only these two make normal() change a span
            name = normal(span) if size > 1 and ("’" in span or "  " in span) else span
            core, local = meanings_memo.get(name) or gazetteer_answers.meanings(gaz, meanings_memo, name)
            if span.isupper() and len(span) > 1 and not span.endswith("."):
                local = ()  # "CDC" is no town; a dotted abbreviation may be one ("L.A.")
            if core is None and not local:
                continue
            if core is None and size == 1 and (len(span) < 2 or written_lower(span, story, lower)
                                               or span in place_nouns or hyphenated(words, gaps, i)):
                # "But", "We", "Police" also in lower case, "the Chamber", the "News-Leader":
                # words, never towns (see resolve)
                break
            # the token right after the name (None: the part ends) and what stands before it
            nxt, nxt_gap = after(words, gaps, k, at, word_pattern)
            close = nxt if nxt is not None and not nxt_gap.strip() else ""
            if close in street_words:
                consumed = last_end  # "809 Queens Ave.", "Washington Street": a street, not a place
                if core is None and close not in road_words():
                    streets.add(name)
                break
            if (size == 1 and span.endswith("ing") and determiner_next(text, last_end)
                    or core is None and (gaps[i].endswith(" & ") or text.startswith(" & ", last_end))):
                # "Shaping the Future", "Reading the signs": a verb, not Shaping or Reading;
                # "Stevens & Wilkinson": a firm's partners, not towns
                consumed = last_end
                break
            if (core is None or core.codes) and not text.startswith(_NOT_HERE, last_end):
                found += _candidate(text, start, first, last_end, name, core, local, in_title, weight, gaz,
                                    words, gaps, i, nxt, nxt_gap, close, strict_neighbours, word_pattern)
            consumed = last_end
            break
    return found


def _candidate(text: str, start: int, first: int, last_end: int, name: str, core: Place | None,
               local: tuple[LocalPlace, ...], in_title: bool, weight: float, gaz: Gazetteer,
               words: list[str], gaps: list[str], i: int, nxt: str | None, nxt_gap: str, close: str,
               strict_neighbours: bool, word_pattern: re.Pattern[str]) -> list[Candidate]:
    """The candidate of a name (with the abbreviation after it, "Ky.", first), and what stands around it."""
    found = []
    locatives, not_first, place_nouns, street_words, town_nouns = word_lists()
    prev, gap = before(words, gaps, i, word_pattern)  # the token before the name, and what stands between
    adjacent = prev is not None and not gap.strip()
    # after a word and one space no sentence starts (a token ends in a letter, or an acronym's stop)
    sentence_start = False if gap == " " and prev is not None and prev[-1] != "." else starts_sentence(text, first, start)
    if adjacent and not sentence_start and prev in clause_words():
        # "After Welch and his mother left", "Since Obama took office": the name opens the sentence
        sentence_start = starts_sentence(text, first - len(gap) - len(prev), start)
    rule = core.rule if core else gaz.rules.get(name, "")
    # a comma stands in the gap after the name (or the part ends, which ends a word)
    after_comma = _AFTER_COMMA.match(text, last_end) if nxt is None or "," in nxt_gap else None
    address = bool(prev and prev in street_words and _ADDRESS_GAP.fullmatch(gap))
    # a legislator's party and home town: "Westrom, R-Elbow Lake", "Bakk, DFL-Cook"
    party_home = bool(prev and prev in _PARTIES and gap == "-")
    if after_comma and normal(after_comma.group(1)) in gaz.abbreviations:  # "Ky." names Kentucky
        code = gaz.abbreviations[normal(after_comma.group(1))]
        found.append(Candidate(after_comma.group(1), after_comma.start(1), after_comma.end(1), in_title, weight,
                               Place((code,)), ()))
    # (the calls only where they can say anything: after a short or dotted word; a rule)
    initials = bool(prev and (len(prev) == 1 or prev[-1] == ".") and after_initials(prev, gap, gaz))
    is_place = (False if initials else True if not rule else
                verdict(rule, text, first, start, strict_neighbours, prev, gap, nxt, nxt_gap, not_first,
                        place_nouns))
    if is_place and text.startswith("-based", last_end) and _ELSEWHERE.match(text, last_end):
        is_place = None
    # "at Obama's town hall": the locative is the hall's, not a town's
    locative = address or party_home or named_of(text, first, prev, gap, local) or ((prev in locatives or prev == "the")
                                         and after_locative(prev, gap, words, gaps, i, word_pattern, locatives)
                                         and not (core is None and text.startswith(("'s", "’s"), last_end)))
    qualifier = ((_qualifier(after_comma.group(1), gaz) if after_comma and not _LIST_NEXT.match(text, after_comma.end())
                  else None)
                 or (held_by(text, first, start, gaz) if prev in HELD_WORDS else None))
    # positional: a dataclass's __init__ takes keywords at twice the cost, and this runs ~30 times a story
    found.append(Candidate(
        name, first, last_end, in_title, weight, core, local, is_place, locative, qualifier, False,
        bool(adjacent and prev[0].isupper() and prev not in not_first and not sentence_start),  # person_like
        bool(close and close[0].isupper() and close not in place_nouns),  # before_capital
        sentence_start or not strict_neighbours,  # sentence_start
        close in place_nouns and name not in place_nouns,  # place_noun (not "Police Council")
        name in gaz.country_names,  # country_name
        address or close in town_nouns or (text.endswith((", ", " of "), 0, first)  # (what _AGE_BEFORE ends with)
                                            and bool(_AGE_BEFORE.search(text[max(0, first - 12):first]))),  # town_noun
        bool(close and close[0].isupper() and (core is None or core.minor) and close not in place_nouns
             and close not in town_nouns and close not in ordinary_words() and not written_lower(close, text, {})
             and not _CAPITAL_NEXT.match(text, last_end + len(nxt_gap) + len(close))
             and named_alone(close, text, last_end + len(nxt_gap)))))  # first_name
    if rule == "form" and is_place and not found[-1].written_as_place:
        found[-1].verdict = False  # "Independence Day", "the Liberal government": the word, not the town
    return found


def _token_boundary(text: str, position: int) -> int:
    """Move a cut forward past the word it falls in, so no name is split between lead and body."""
    while position < len(text) and (text[position].isalnum() or text[position] in ".'’-"):
        position += 1
    return position
