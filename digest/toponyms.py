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
from itertools import accumulate, compress, count
from operator import itemgetter
from collections.abc import Iterator
from dataclasses import dataclass

from digest.gazetteer import TOKEN, Gazetteer, LocalPlace, Place, csv_rows, data_lines, normal, word_list

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
# "ASTANA:", "WASHINGTON (Reuters) -", "Paris, France —", "GLASGOW, Ky. (WBKO) —" at the start.
_DATELINE = re.compile(
    r"\s*(?P<place>[A-Z][A-Za-z.'’ -]{1,40}?)(?:\s*,\s*(?P<more>[A-Z][A-Za-z.'’ ]{1,40}?))?"
    r"\s*(?:\([^)\n]{1,40}\)\s*)?(?::|—|–|\x97|--?\s)"
)
_CONNECTORS = frozenset("of de la le du des del and the upon on en y al el da do dos das di am an der den "
                        "im sur aan van von bei".split())
_DASH = re.compile(r"—|–|--|\x97")  # U+0097: an em dash of Windows-1252 read as Latin-1
# The gazetteer's TOKEN with its two branches' common first letter taken out: the same tokens, but a
# pattern that starts with one class lets the regex engine skip to the next letter by a quick scan
# instead of trying the whole pattern at every character (a quarter less time). One group, so that
# split keeps the tokens.
_TOKEN = re.compile(r"([^\W\d_](?:(?<=[A-Z])\.(?:[A-Z]\.)+|[^\W\d_]*))")
_LOWER = re.compile(r"[a-zß-öø-ÿ]+")
_HELD_WORDS = ("administered", "controlled", "held", "occupied", "ruled")
_HELD_BY = re.compile(r"([A-Z]\w+)-(?:%s) $" % "|".join(_HELD_WORDS))
_PARTIES = frozenset({"D", "R", "I", "DFL"})
_ADDRESS_GAP = re.compile(r"\.?, ")  # "Lafayette Ave., Lebanon"
_INITIALS = re.compile(r"(?:[A-Z]\.\s?){1,3}\s")
_LATER_DATELINE = re.compile(r"(?:[.!?]\s+|\n\s*)([A-Z]{2})")
# A division's abbreviation anywhere (see _abbreviations): "D-N.J.", "S.C.", "Ill.", "W. Va.".
_ABBREVIATION = re.compile(
    r"(?<![\w.])(?P<party>[DRI]-)?(?P<form>[A-Z]\.(?:\s?[A-Z]\.)+|[A-Z]\.\s?[A-Z][a-z]\.|[A-Z][a-z]{1,4}\.)")
# Where one can start: a capital before a hyphen or before up to four small letters and a stop. The
# regex engine finds these by a quick scan for the capital, which it cannot do for _ABBREVIATION
# (it starts with a look-behind, tried at every character); see _abbreviation_matches.
_ABBREVIATION_START = re.compile(r"[A-Z](?:[a-z]{0,4}\.|(?<=[DRI])-)")
_WORD_BEFORE = re.compile(r"(?:\d|\b[A-Z]\w*)\s$")  # "500 B.C.", "Grupo Mexico S.A."
_LOWER_NEXT = re.compile(r"\s+[a-z]")
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


def candidates(title: str, text: str, gaz: Gazetteer) -> list[Candidate]:
    """Every candidate in headline, dateline and text, in reading order."""
    text = text[:MAX_CHARS]
    title = title[:1000]
    token = _token_pattern(text)
    lower: dict[str, bool] = {}  # _written_lower's answers for this story
    found = _scan(title, 0, len(title), W_TITLE, gaz, in_title=True, story=text, lower=lower,
                  strict_neighbours=not _is_title_case(title), token=_token_pattern(title))
    body_start = 0
    dateline = _DATELINE.match(text)
    if dateline and all(w[0].isupper() or w in _CONNECTORS for w in TOKEN.findall(dateline.group("place"))):
        found += _dateline(text, dateline, gaz)
        body_start = dateline.end()
    paragraph_end = text.find("\n", body_start + 1)
    lead_end = min(paragraph_end if paragraph_end > 0 else len(text), body_start + LEAD_CHARS)
    lead_end = _token_boundary(text, lead_end)
    parts = [(body_start, lead_end, W_LEAD), (lead_end, len(text), W_BODY)]
    # A dateline after the headline or at a paragraph's start: "… fire. CHARLESTON, W.Va. — …"
    for later in _LATER_DATELINE.finditer(text, body_start, min(len(text), body_start + LEAD_CHARS)):
        match = _DATELINE.match(text, later.start(1))
        # A state, an agency or a long dash after the capitals: "CROMWELL —", "ST. PAUL --" (a
        # local paper's datelines name no state); a colon or hyphen alone, being common, only after
        # a major place: "BEIRUT: …", "ATLANTA - …".
        if match and match.group("place").isupper() and (
                match.group("more") or "(" in match.group() or _DASH.search(match.group())
                or normal(_title(match.group("place"))) in gaz.core):
            found += _dateline(text, match, gaz)
            parts = [(body_start, later.start(1), W_LEAD), (match.end(), lead_end, W_LEAD),
                     (lead_end, len(text), W_BODY)]
            break
    for start, end, weight in parts:
        found += _currencies(text, start, end, weight)
        names = _scan(text, start, end, weight, gaz, story=text, lower=lower, token=token)
        given = [c for c in names if c.name in gaz.abbreviations]  # ", Ky." after a town
        alone = _abbreviations(text, start, end, weight, gaz, {c.start for c in given})
        # "D-Pa." is Pennsylvania, not a town called Pa
        taken = given + alone
        found += (names if not taken else  # most parts: no abbreviation to keep apart
                  [c for c in names if c.name in gaz.abbreviations
                   or not any(a.start <= c.start < a.end for a in taken)]) + alone
    return found


@functools.cache
def _currency_signs() -> tuple[re.Pattern[str], dict[str, str]]:
    codes = {sign: code for _, (sign, code) in csv_rows(data_lines("gazetteer_currencies.csv"))[1:]}
    signs = "|".join(re.escape(sign) for sign in sorted(codes, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z])({signs}) ?\d"), codes


def _currencies(text: str, start: int, end: int, weight: float) -> list[Candidate]:
    """"£25,000": a country cue (gazetteer_currencies.csv), counted like an institution."""
    pattern, codes = _currency_signs()
    if not any(sign in text for sign in codes):  # most stories: no search at all
        return []
    return [Candidate(match.group(1), match.start(1), match.end(1), False, weight,
                      Place((codes[match.group(1)],), cue=True), ())
            for match in pattern.finditer(text, start, end)]


def _written_lower(word: str, story: str, memo: dict[str, bool]) -> bool:
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
            after = at + len(lower)
            found = ((at == 0 or not _is_letter(story[at - 1]))
                     and (after == len(story) or not _is_letter(story[after])))
            at = story.find(lower, at + 1)
    memo[word] = found
    return found


def _is_letter(char: str) -> bool:
    r"""What the regex engine's `[^\W\d_]` matches: alphanumeric, not a decimal digit."""
    return char.isalnum() and not char.isdecimal()


def _token_pattern(text: str) -> re.Pattern[str]:
    """_TOKEN, or the same pattern with the letters spelled out where it matches alike: on every
    text without characters beyond U+FFFF."""
    return _TOKEN if _beyond_bmp(text) else _spelled_out_token()


def _beyond_bmp(text: str) -> bool:
    # Two bytes a character in UTF-16 unless some are beyond U+FFFF: encoding is about eight times as fast
    # as searching for them with a character class.
    return not text.isascii() and len(text.encode("utf-16-le", "surrogatepass")) > 2 * len(text)


@functools.cache
def _spelled_out_token() -> re.Pattern[str]:
    r"""The regex engine tests a class of spelled-out ranges by one table lookup a character, but
    `[^\W\d_]` by several calls into the Unicode database, and _TOKEN reads every character of a
    story (1.5 times as fast spelled out). Built once (about 30 ms), from the definition the engine
    uses (see _is_letter): \w is alphanumeric or "_", \d is decimal."""
    ranges: list[list[int]] = []
    for point in range(0x10000):
        char = chr(point)
        if _is_letter(char):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    letters = "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)
    return re.compile(_TOKEN.pattern.replace(r"[^\W\d_]", f"[{letters}]"))


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
                       and not _starts_sentence(text, at, start))
        if party or dotted or before_word:
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
        name = normal(_title(raw) if raw.isupper() else raw)
        core, local = gaz.core.get(name), gaz.local(name)
        if group == "more" and qualifier:  # "Ky." names Kentucky, whatever else it could be
            core, local = Place((qualifier,)), ()
        if core is None and not local:
            continue
        start = match.start(group)
        found.append(Candidate(name, start, start + len(raw.rstrip()), False, W_DATELINE, core, local,
                               qualifier=qualifier if group == "place" else None, dateline=True))
    return found


def _title(raw: str) -> str:
    """"ISLE OF PALMS" → "Isle of Palms": a dateline's capitals as the gazetteer writes the name."""
    words = raw.title().split(" ")
    return " ".join([words[0]] + [w.lower() if w.lower() in _CONNECTORS else w for w in words[1:]])


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
          story: str, lower: dict[str, bool], token: re.Pattern[str],
          strict_neighbours: bool = True) -> list[Candidate]:
    # One split into gaps and words, each word's offsets summed from the lengths: no match object a
    # token (a story has ~500), and what stands between two words is read, not sliced out again.
    parts = token.split(text[start:end])
    words = parts[1::2]
    gaps = parts[::2]  # gaps[k]: what stands right before word k (gaps[-1]: after the last)
    offsets = list(accumulate(map(len, parts), initial=start))
    starts, ends = offsets[1:-1:2], offsets[2::2]
    locatives = word_list("gazetteer_locatives.txt")
    not_first = word_list("gazetteer_not_first_names.txt")
    place_nouns = word_list("gazetteer_place_nouns.txt")
    town_nouns = word_list("gazetteer_town_nouns.txt")
    street_words = word_list("gazetteer_street_words.txt")
    found = []
    # Only capitalised tokens can start a name: find them in one pass, then look at those alone
    # (map and compress, not a Python loop: this runs for each of a story's ~500 tokens).
    capitalised = compress(count(), map(str.isupper, map(itemgetter(0), words)))
    consumed = 0  # tokens before this belong to a name already found
    for i in capitalised:
        if i < consumed:
            continue
        most = _tokens_after(gaz, words[i])
        if most is None:
            continue
        if most > len(words) - i:
            most = len(words) - i
        size = _run(words, gaps, i, most) if most > 1 else 1  # most names: one word
        if size > 1:
            # no name is longer than its longest first tokens that begin some name of the gazetteer
            top = 1
            while top < size and _starts_name(gaz, text[starts[i]:ends[i + top]]):
                top += 1
            size = top
        for size in range(size, 0, -1):
            first, last_end = starts[i], ends[i + size - 1]
            span = text[first:last_end] if size > 1 else words[i]
            if "\n" in span:
                continue
            # _run joins words by at most two of " -'’.", so only these two make normal() change a span
            name = normal(span) if size > 1 and ("’" in span or "  " in span) else span
            core, local = _meanings(gaz, name)
            if span.isupper() and len(span) > 1:
                local = ()  # "CDC" is no town
            if core is None and not local:
                continue
            if core is None and size == 1 and (len(span) < 2 or _written_lower(span, story, lower) or span in place_nouns
                                               or _hyphenated(words, gaps, i)):
                # "But", "We", "Police" also in lower case, "the Chamber", the "News-Leader":
                # words, never towns (see resolve)
                break
            # the word right after the name, with nothing but spaces between ("" if none)
            close = words[i + size] if i + size < len(words) and not gaps[i + size].strip() else ""
            if close in street_words:
                consumed = i + size  # "809 Queens Ave.", "Washington Street": a street, not a place
                break
            if (core is None or core.codes) and not text.startswith(_NOT_HERE, last_end):
                prev = words[i - 1] if i > 0 else None
                gap = gaps[i]  # between prev and the name
                adjacent = prev is not None and not gap.strip()
                sentence_start = _starts_sentence(text, first, start)
                rule = core.rule if core else gaz.rules.get(name, "")
                # a comma stands in the gap after the name (or past the part's end, which ends a word)
                after = (_AFTER_COMMA.match(text, last_end)
                         if i + size == len(words) or "," in gaps[i + size] else None)
                address = bool(prev and prev in street_words and _ADDRESS_GAP.fullmatch(gap))
                # a legislator's party and home town: "Westrom, R-Elbow Lake", "Bakk, DFL-Cook"
                party_home = bool(prev and prev in _PARTIES and gap == "-")
                if after and normal(after.group(1)) in gaz.abbreviations:  # "Ky." names Kentucky
                    code = gaz.abbreviations[normal(after.group(1))]
                    found.append(Candidate(after.group(1), after.start(1), after.end(1), in_title, weight,
                                           Place((code,)), ()))
                # (the calls only where they can say anything: after a short or dotted word; a rule)
                initials = bool(prev and (len(prev) == 1 or prev[-1] == ".") and _after_initials(prev, gap, gaz))
                verdict = (False if initials else True if not rule else
                           _verdict(rule, text, words, gaps, starts, i, i + size - 1, strict_neighbours, start,
                                    not_first, place_nouns))
                found.append(Candidate(
                    name, first, last_end, in_title, weight, core, local,
                    verdict=None if (verdict and text.startswith("-based", last_end)
                                      and _ELSEWHERE.match(text, last_end)) else verdict,
                    # "at Obama's town hall": the locative is the hall's, not a town's
                    locative=address or party_home or (i > 0 and (prev in locatives or prev == "the")
                                                       and _after_locative(words, gaps, i, locatives) and not (
                        core is None and text.startswith(("'s", "’s"), last_end))),
                    qualifier=((_qualifier(after.group(1), gaz) if after else None)
                               or (_held_by(text, prev, first, start, gaz) if prev in _HELD_WORDS else None)),
                    person_like=bool(adjacent and prev[0].isupper() and prev not in not_first
                                     and not sentence_start),
                    before_capital=bool(close and close[0].isupper() and close not in place_nouns),
                    place_noun=close in place_nouns and name not in place_nouns,  # not "Police Council"
                    sentence_start=sentence_start or not strict_neighbours,
                    country_name=name in gaz.country_names,
                    town_noun=address or close in town_nouns))
            consumed = i + size
            break
    return found


# The gazetteer's answers, cached here as well: _scan asks them for each of a story's ~45 capitalised
# words and ~40 spans, and a hit here costs a fraction of the Python calls behind each answer.
@functools.lru_cache(maxsize=100_000)
def _tokens_after(gaz: Gazetteer, word: str) -> int | None:
    return gaz.tokens_after(word)


@functools.lru_cache(maxsize=100_000)
def _starts_name(gaz: Gazetteer, prefix: str) -> bool:
    # as for a span: only "’" or a double space make normal() change a run's first tokens
    return gaz.starts_name(normal(prefix) if "’" in prefix or "  " in prefix else prefix)


@functools.lru_cache(maxsize=100_000)
def _meanings(gaz: Gazetteer, name: str) -> tuple[Place | None, tuple[LocalPlace, ...]]:
    return gaz.core.get(name), gaz.local(name)


def _run(words: list[str], gaps: list[str], i: int, most: int) -> int:
    """How many tokens from i could be one name: capitalised words, joined by the small words of
    place names ("Isle of Man", "Rio de Janeiro"), with nothing but a space or hyphen between.
    Trying only these keeps matching linear in the text."""
    size = 1
    while size < most:
        word = words[i + size]
        if not (word[0].isupper() or word in _CONNECTORS):  # the usual end: asked first
            break
        gap = gaps[i + size]
        if len(gap) > 2 or gap.strip(" -'’."):
            break
        size += 1
    return size


def _held_by(text: str, prev: str | None, position: int, start: int, gaz: Gazetteer) -> str | None:
    """"Pakistan-administered Kashmir", "Indian-controlled Kashmir": the country that holds it
    decides between a name's meanings (never adds one it does not have)."""
    if prev not in _HELD_WORDS:
        return None
    match = _HELD_BY.search(text, max(start, position - 40), position)
    place = gaz.core.get(match.group(1)) if match else None
    if place and len(place.codes) == 1 and len(place.codes[0]) == 2 and not place.cue:
        return place.codes[0]
    return None


def _hyphenated(words: list[str], gaps: list[str], i: int) -> bool:
    """The second half of a hyphenated name: "News-Leader", "Star-Telegram" (not a legislator's
    party and home: "D-Braxton", "DFL-Cook"). The first half may still be a place: the
    "Logan-Rogersville" schools are in Logan."""
    if i == 0:
        return False
    prev = words[i - 1]
    return prev[0].isupper() and not prev.isupper() and gaps[i] == "-"


def _after_initials(prev: str | None, gap: str, gaz: Gazetteer) -> bool:
    """"J.M. Barrie", "George W. Bush": a name after a person's initials is that person's."""
    if prev is None or not (len(prev) == 1 or prev.endswith(".")):
        return False
    between = prev + gap
    return (bool(_INITIALS.fullmatch(between)) and normal(between) not in gaz.core
            and normal(between) not in gaz.abbreviations)


def _after_locative(words: list[str], gaps: list[str], i: int, locatives: frozenset[str]) -> bool:
    """"in Cottonport", "at the Cottonport Fire Station"."""
    for back in (1, 2):
        if i - back < 0 or gaps[i - back + 1].strip():
            return False
        word = words[i - back]
        if word in locatives:
            return True
        if word != "the":
            return False
    return False


def _verdict(rule: str, text: str, words: list[str], gaps: list[str], starts: list[int], first: int, last: int,
             strict_neighbours: bool, start: int, not_first: frozenset[str],
             place_nouns: frozenset[str]) -> bool | None:
    """Whether a name with a rule of gazetteer_traps.csv is a place here (True), a person's name
    (False) or unclear (None)."""
    if not rule:
        return True
    if not strict_neighbours:
        return None  # in a Title-Case Headline every word is capitalised: the body decides
    if rule == "word":
        return None if _starts_sentence(text, starts[first], start) else True
    nxt = words[last + 1] if last + 1 < len(words) else None
    # "Paris Hilton" is a person, "Paris High School" and "Jordan Elementary" are places
    if nxt and nxt[0].isupper() and nxt not in place_nouns and not gaps[last + 1].strip():
        return False
    prev = words[first - 1] if first > 0 else None
    if prev and prev[0].isupper() and prev not in not_first and not gaps[first].strip():
        return False
    return True


def _starts_sentence(text: str, position: int, start: int) -> bool:
    before = text[max(start, position - 8):position].rstrip(" \t\"'“‘(")  # a bounded look back
    return not before or before[-1] in ".!?:\n"


def _is_title_case(title: str) -> bool:
    words = [w for w in TOKEN.findall(title) if len(w) > 3]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


def _token_boundary(text: str, position: int) -> int:
    """Move a cut forward past the word it falls in, so no name is split between lead and body."""
    while position < len(text) and (text[position].isalnum() or text[position] in ".'’-"):
        position += 1
    return position
