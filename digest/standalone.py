"""Whether a sentence can stand alone in a summary, or only with the sentence it leans on.

A sentence in a quotation that runs over several sentences, a question and a parenthetical aside
never stand alone. One that opens by pointing back ("This", "However", "The company": the cues in
`data/summary_cues.toml`), or sets such a cue off by commas after its first words ("No-one,
however, …"), leans on the sentence before it, one that opens with a pronoun on the
last sentence that named anyone ("he", "she": anyone who could be a person, not only "Associated
Press"), and one that names someone by a part of a name introduced in full
earlier ("Saha" after "Saha Airlines") on the sentence that introduced the name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from digest.sentences import CLOSERS, OPENERS
from digest.summary_data import cues

# "Saha", "McCain"; not "US". The lookahead first lets the engine skip to capitals (faster).
_CAPITALISED = re.compile(r"(?=[A-Z])(?<![\w'’\-])[A-Z][\w'’\-]*[a-z][\w'’\-]*")
_WORD_SPLIT = re.compile(r"[\w'’\-]+")
_QUOTE_MARK = re.compile(r'["“”]|\'\'')  # two apostrophes: a straight double quote typed as two
_CLAUSE_ENDS = ".,;!?…" + CLOSERS  # what ends a quoted clause: 'win."', 'that]"'
_SET_OFF = re.compile(r"^\W*(?:[\w'’\-]+\s+){0,2}[\w'’\-]+,\s+([^,]{1,30}),")  # "X, however, …"


@dataclass(frozen=True)
class Standing:
    alone: bool                 # False: never chosen (question, aside, part of a multi-sentence quote)
    needs: frozenset[int]       # sentences (indices) that must be in the summary for this one to be


@dataclass(frozen=True)
class _BackCues:
    phrases: frozenset[tuple[str, ...]]     # lower-cased words of each opener ("the", "company")
    first_words: frozenset[str]             # the words a phrase opens with: most sentences open with none
    longest: int                            # the most words in a phrase
    pronouns: frozenset[str]
    personal: frozenset[str]                # the pronouns that refer to a person
    not_person: frozenset[str]              # last words of names of organisations and places
    calendar: frozenset[str]                # names of days and months


@cache
def _back_cues(language: str | None) -> _BackCues:
    section = cues().get(language or "", {})
    phrases = frozenset(tuple(phrase.lower().split()) for phrase in section.get("back_openers", ()))
    return _BackCues(phrases, frozenset(p[0] for p in phrases if p), max(map(len, phrases), default=0),
                     *(frozenset(w.lower() for w in section.get(key, ()))
                       for key in ("pronouns", "personal_pronouns", "not_person_heads", "calendar_names")))


def _back_reference(sentence: str, language: str | None) -> str | None:
    """'person' (a pronoun for a person), 'pronoun' or 'previous' when the sentence opens by
    pointing back, else None."""
    back = _back_cues(language)
    if not back.longest:
        return None
    opening = tuple(map(str.lower, _WORD_SPLIT.findall(sentence.lstrip(OPENERS)[:80])[:back.longest]))
    phrases = back.phrases
    if opening and opening[0] in back.pronouns:
        return "person" if opening[0] in back.personal else "pronoun"
    if opening and opening[0] in back.first_words and any(opening[:n] in phrases for n in range(1, len(opening) + 1)):
        return "previous"
    # The same connective set off by commas after the first words ("No-one, however, seems…").
    aside = _SET_OFF.match(sentence) if "," in sentence else None
    if aside and tuple(map(str.lower, _WORD_SPLIT.findall(aside.group(1)))) in phrases:
        return "previous"
    return None


def _opens(sentence: str, at: int, end: int) -> bool:
    """Whether the straight double quote at `at` (to `end`) opens a quotation: something follows it, and what
    precedes it is not a letter, a digit or the punctuation that ends a quoted clause ('win."',
    '5'11"'). So a quote opens after a space, a bracket, a dash or a colon."""
    before = sentence[at - 1] if at else " "
    after = sentence[end:end + 1]
    return bool(after) and not after.isspace() and not (before.isalnum() or before in _CLAUSE_ENDS)


def _quote_runs(paragraph: Sequence[str]) -> list[bool]:
    """Per sentence of a paragraph: True when a double-quoted passage crosses its start or its end.

    Each mark is read as opening or closing from where it stands rather than by counting, so a
    quotation that runs on into a new paragraph and reopens with a mark ('… to have won. "We lost
    …"', where the paragraph break was lost) does not leave the sentences after it inside a quote.
    """
    runs = []
    inside = False
    for sentence in paragraph:
        starts_inside = inside
        for match in _QUOTE_MARK.finditer(sentence):
            mark = match.group(0)
            inside = mark == "“" or (mark != "”" and _opens(sentence, match.start(), match.end()))
        runs.append(starts_inside or inside)
    # A quote left open at the paragraph's end is a convention (it goes on in the next paragraph),
    # not a reason to drop sentences that open and close their own quotes.
    return runs


@lru_cache(maxsize=1024)  # asked by standings() and full_names() for the same sentences
def _names(sentence: str) -> tuple[str | None, tuple[str, ...], frozenset[tuple[str, str]]]:
    """The capitalised opening word, the capitalised words after it, and the pairs of capitalised
    words that stand side by side ("Saha Airlines")."""
    matches = list(_CAPITALISED.finditer(sentence))
    words = [m.group(0) for m in matches]
    pairs = set()
    for left, right in zip(matches, matches[1:]):
        if sentence[left.end():right.start()] == " ":
            pairs.add((left.group(0), right.group(0)))
    first = _WORD_SPLIT.search(sentence)
    opening = None
    if first and words and first.group(0) == words[0]:
        opening, words = words[0], words[1:]  # any sentence opens with a capital: a name only if known
    return opening, tuple(words), frozenset(pairs)


def full_names(sentence: str) -> frozenset[str]:
    """The names a sentence gives in full, two capitalised words side by side ("Michael Howard",
    "Exchange Commission"): who it introduces."""
    return frozenset(" ".join(pair) for pair in _names(sentence)[2])


def standings(paragraphs: Sequence[Sequence[str]], language: str | None) -> list[Standing]:
    """How each sentence stands, in document order (the indices of `needs` count across paragraphs)."""
    result: list[Standing] = []
    named: list[bool] = []               # per sentence: does it name anyone or anything?
    person: list[bool] = []              # per sentence: could what it names be a person?
    back = _back_cues(language)
    subject: list[int] = []              # per sentence: where its opening name was introduced (or itself)
    introduced: dict[str, int] = {}      # a word of a multi-word name → the sentence that gave it in full
    seen_alone: set[str] = set()         # names already used on their own (then no antecedent is needed)
    index = 0
    for paragraph in paragraphs:
        for sentence, in_quote in zip(paragraph, _quote_runs(paragraph)):
            text = sentence.rstrip(CLOSERS)
            alone = not (in_quote or text.endswith("?") or sentence.startswith(("(", "[")))
            needs = set()
            opening, words, pairs = _names(sentence)
            known_opening = opening in introduced and introduced[opening] != index
            reference = _back_reference(sentence, language) if index else None
            if reference == "previous":
                needs.add(index - 1)
            elif reference in ("pronoun", "person"):
                # "He was 95.": the most recent sentence that names someone (for "he" or "she" someone
                # who could be a person), and if that one goes on about someone introduced before
                # ("Leonov was famous…"), where they were.
                referents = person if reference == "person" else named
                named_last = next((k for k in range(index - 1, -1, -1) if referents[k]), index - 1)
                needs.add(subject[named_last])
            named.append(bool(words) or known_opening or reference is None)
            # A sentence naming only organisations ("Associated Press reported his…") names no
            # person: the last word of each run of capitalised words tells, days and months aside.
            given = (*words, opening) if known_opening else words
            ends = {w.lower() for w in given} - {left.lower() for left, _ in pairs} - back.calendar
            person.append(named[-1] and not (ends and ends <= back.not_person))
            subject.append(introduced[opening] if known_opening else index)
            in_pairs = {w for pair in pairs for w in pair}
            for word in given:
                if word in in_pairs:
                    introduced.setdefault(word, index)
                elif word in introduced:
                    if word not in seen_alone and introduced[word] != index:
                        needs.add(introduced[word])
                else:
                    seen_alone.add(word)
            if opening and opening in in_pairs:
                introduced.setdefault(opening, index)
            result.append(Standing(alone, frozenset(needs)))
            index += 1
    return result
