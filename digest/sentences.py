"""Splitting article text into sentences, offline and rule-based, and telling content from chrome.

Abbreviations come from `data/summary_abbreviations.txt`; datelines and non-content sentences
(credits, bylines, "Read more", site chrome) from `data/summary_patterns.toml`.
"""

from __future__ import annotations

import re
from functools import cache

from digest.language import STOP_WORD_LANGUAGES, WORD, language_name, stop_words
from digest.summary_data import abbreviations, patterns

OPENERS = "\"'“‘«([{¿¡"
CLOSERS = "\"'”’»)]}"
# A candidate sentence end: terminal punctuation, optional closing quotes/brackets, then space.
# The lookahead (the first characters the ends can have) fails most positions in one test: without
# it the engine tries each kind of end at every character (about 3x the cost).
_BOUNDARY = re.compile(r"(?=[.!?…。！？])(?P<end>\.{2,}|…|[.!?]+|[。！？]+)(?P<close>[\"'”’»)\]}」』]*)(?P<space>\s+|(?<=[。！？」』])(?=\S))")
_DOTTED = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}$")
_TOKEN = re.compile(r"\S+")
TERMINAL_END = re.compile(r"[.!?:;…。！？\"'”’»)]$")
# What follows a dateline's abbreviation ("BELGRADE, Minn. -- A woman", "SALINA, Kan. (AP) — Strong
# winds") and never opens a sentence: a dash (U+0097 is an em dash mis-decoded from cp1252) or a
# news agency's initials in brackets.
_DATELINE_GOES_ON = re.compile(r"(?:--?|–|—|\x97)$|\([A-Z]{2,5}\)$")


def blocks(text: str) -> list[str]:
    """Paragraphs, and lines within them that stand alone (headings, list items, chrome).

    A line that does not end a sentence and is followed by a lower-case continuation is a hard wrap,
    so it is joined to the next line.
    """
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        current = ""
        for line in paragraph.splitlines():
            line = " ".join(line.split())
            if not line:
                continue
            if current and not TERMINAL_END.search(current) and line[0].islower():
                current += " " + line
            else:
                if current:
                    found.append(current)
                current = line
        if current:
            found.append(current)
    return found


@cache
def _openers(language: str | None) -> frozenset[str]:
    """Words that commonly open a sentence (the language's stop words, minus single letters)."""
    name = language if language in STOP_WORD_LANGUAGES else "english"
    return frozenset(w for w in stop_words(name) if len(w) > 1) | {"a", "i"}


def _is_break(block: str, match: re.Match[str], sentence_start: int, language: str | None) -> bool:
    end, close = match["end"], match["close"]
    after = match.end()
    if after == len(block):
        return True
    # The boundary took the spaces: the next token starts here (no copy of the rest of the block).
    next_token = _TOKEN.match(block, after).group(0)
    next_word = next_token.lstrip(OPENERS)
    first = next_word[:1]
    if first.islower():
        return False            # "e.g. the", "Yahoo! said", "\"Why?\" he asked"
    if _DATELINE_GOES_ON.match(next_token):
        return False
    if end[0] in "。！？":
        return True
    if "!" in end or "?" in end or end[0] == "…" or len(end) > 1:
        return True
    if close:
        return True             # '... ceasefire." He said' — the quote closed the sentence
    previous = block[sentence_start:match.start()].rsplit(None, 1)
    previous_word = previous[-1].lstrip(OPENERS) if previous else ""
    key = previous_word.lower()
    known = abbreviations()
    if key in known.title:
        return False            # "Mr. Jaafari"
    if first.isdigit() and key in known.numeric:
        return False            # "No. 10", "Jan. 5"
    is_initial = len(previous_word) == 1 and previous_word.isupper()
    if is_initial or key in known.general or _DOTTED.match(previous_word):
        # "George W. Bush", "the U.S. Senate" go on; "in the U.S. The ..." breaks.
        if re.fullmatch(r"[^\W\d_]\.", next_token):
            return False        # "J. K. Rowling"
        # An opener as written: "ET" after "9:54 a.m." is a time zone, not Latin "et".
        bare = WORD.match(next_word)
        return bool(bare) and bare.group(0).lower() in _openers(language) and not (
            len(bare.group(0)) > 1 and bare.group(0).isupper())
    return True


def split_block(block: str, language: str | None) -> list[str]:
    """The sentences of one block (see `blocks`); `language` is sumy's name or None."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(block):
        if _is_break(block, match, start, language):
            sentence = block[start:match.end()].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
    tail = block[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """The sentences of `text`, in order, each with its whitespace collapsed.

    Paragraph breaks always end a sentence. Abbreviations ("U.S.", "Mr.", "No. 10"), initials,
    decimals, ellipses and quoted or bracketed endings are handled by rules, not a model, so this
    runs offline and fast.
    """
    name = language_name(language)
    return [s for block in blocks(text) for s in split_block(block, name)]


def trim_dateline(sentence: str, later: bool = False) -> str:
    """'ASTANA: A first day…' → 'A first day…'; a sentence without a dateline is returned as is.
    `later`: the sentence is not an article's first, so only the forms no other sentence opens with."""
    found = patterns()
    for pattern in found.later_dateline if later else found.dateline:
        match = pattern.match(sentence)
        if match:
            return sentence[match.end():]
    return sentence


def cut_credit(sentence: str) -> str:
    """'(Greg Trotter / News-Leader) Jim Avery … announced' → 'Jim Avery … announced': the photo
    credits (the caption they credit ran before them) and dated bylines a sentence opens with cut off."""
    while sentence:
        match = next(filter(None, (p.match(sentence) for p in patterns().credit)), None)
        if match is None or not match.end():
            break
        sentence = sentence[match.end():]
    return sentence


def is_noise(sentence: str) -> bool:
    """True for sentences that are not content: credits, bylines, 'Read more', site chrome.

    ASCII text (most news) is searched in ASCII mode, which is cheaper and, on text whose
    whitespace is collapsed, finds the same, the case-blind patterns lower-cased in the lower-cased
    sentence (see `summary_data.patterns`)."""
    found = patterns()
    if not sentence.isascii():
        return any(p.search(sentence) for p in found.noise)
    if any(p.search(sentence) for p in found.noise_ascii):
        return True
    lowered = sentence.lower()
    return any(p.search(lowered) for p in found.noise_folded)
