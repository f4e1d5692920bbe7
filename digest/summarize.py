"""Extractive news summaries: sumy's Reduction rating plus news-aware scoring, fully offline.

The pipeline is: split the body into sentences (our own rule-based splitter, driven by
`data/summary_abbreviations.txt`), drop sentences that are not content (`data/summary_patterns.toml`),
rate the rest with a sumy summarizer, blend that rating with a position prior and the headline as a
query, and return the best ones in article order, each verbatim except for a leading dateline.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.metadata import version
from importlib.resources import files

from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence
from sumy.nlp.stemmers import Stemmer, null_stemmer
from sumy.summarizers._summarizer import AbstractSummarizer, SentenceInfo
from sumy.summarizers.reduction import ReductionSummarizer
from sumy.utils import get_stop_words, normalize_language

__all__ = [
    "OfflineTokenizer", "build_document", "detect_language", "is_noise", "make_summarizer",
    "sentence_ratings", "split_sentences", "summarize", "summarizer_key", "trim_dateline",
]

log = logging.getLogger(__name__)

# Bump when the algorithm or its weights change: it is part of the Prefect cache key.
ALGORITHM_VERSION = 1
# News puts what matters first; past this many sentences we stop looking (keeps the graph small).
MAX_SENTENCES = 40
DATELINE_SENTENCES = 3        # a dateline can open any of the first few content sentences
SHORT_ITEM_WORDS = 120        # below this many words an item gets a one-sentence summary
CHARS_PER_SENTENCE = 250      # display budget: sentences * this many characters, first sentence exempt
BASE_SUMMARIZER: type[AbstractSummarizer] = ReductionSummarizer  # the sumy rating we build on
# Blend of the scores (found by benchmarks/bench_summarize.py; see benchmarks/RESULTS-summarize.md).
WEIGHT_CENTRALITY = 1.0
WEIGHT_POSITION = 0.5
WEIGHT_TITLE = 0.5
POSITION_DECAY = 1.0          # position prior = 1 / (1 + index) ** decay
LEDE_BONUS = 1.0              # the first content sentence is the lede: it wins unless penalised
QUESTION_FACTOR = 0.5         # questions rarely summarise a news story
SHORT_SENTENCE_WORDS = 6
SHORT_SENTENCE_FACTOR = 0.5
HEADING_FACTOR = 0.5          # a line with no closing punctuation is a heading or chrome
LONG_SENTENCE_CHARS = 500
LONG_SENTENCE_FACTOR = 0.5

# Languages sumy has stop words for and whose words our tokenizer can find (space-delimited
# scripts). Those whose stemmer also works here are supported; others use the language-neutral method.
STOP_WORD_LANGUAGES = frozenset({
    "arabic", "czech", "english", "french", "german", "greek", "hebrew", "italian", "polish",
    "portuguese", "slovak", "spanish", "swedish", "ukrainian",
})

_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_OPENERS = "\"'“‘«([{¿¡"
_CLOSERS = "\"'”’»)]}"
# A candidate sentence end: terminal punctuation, optional closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"(?P<end>\.{2,}|…|[.!?]+|[。！？]+)(?P<close>[\"'”’»)\]}」』]*)(?P<space>\s+|(?<=[。！？」』])(?=\S))")
_DOTTED = re.compile(r"^(?:[^\W\d_]{1,3}\.)+[^\W\d_]{1,3}$")
_TERMINAL_END = re.compile(r"[.!?:;…。！？\"'”’»)]$")


def _data_text(name: str) -> str:
    return files("digest").joinpath("data", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Abbreviations:
    title: frozenset[str]
    numeric: frozenset[str]
    general: frozenset[str]


@cache
def _abbreviations() -> _Abbreviations:
    sections: dict[str, set[str]] = {"title": set(), "numeric": set(), "general": set()}
    current: set[str] | None = None
    for raw in _data_text("summary_abbreviations.txt").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections[line[1:-1]]
        elif current is None:
            raise ValueError(f"summary_abbreviations.txt: {line!r} comes before any [section]")
        else:
            current.add(line.lower())
    return _Abbreviations(*(frozenset(sections[k]) for k in ("title", "numeric", "general")))


@dataclass(frozen=True)
class _Patterns:
    dateline: tuple[re.Pattern[str], ...]
    noise: tuple[re.Pattern[str], ...]


@cache
def _patterns() -> _Patterns:
    data = tomllib.loads(_data_text("summary_patterns.toml"))
    return _Patterns(*(tuple(re.compile(p) for p in data[k]["patterns"]) for k in ("dateline", "noise")))


# --- languages ------------------------------------------------------------------------------

def _language_name(language: str | None) -> str | None:
    """'en', 'en-GB', 'eng', 'English' → 'english' (sumy's naming); None stays None."""
    if not language or not language.strip():
        return None
    primary = re.split(r"[-_]", language.strip())[0].lower()
    # pycountry says "Modern Greek (1453-)" where sumy says "greek".
    return re.sub(r"^modern |\s*\(.*\)$", "", normalize_language(primary))


@cache
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(get_stop_words(language))


@cache
def _stemmer(language: str | None) -> Callable[[str], str]:
    if language is None:
        return null_stemmer
    # Snowball stemming is the hot spot of rating; words repeat a lot across articles.
    return lru_cache(maxsize=100_000)(Stemmer(language))


# Script ranges for languages we cannot word-split (no spaces between words).
_UNSPACED_SCRIPTS = (
    ("japanese", re.compile(r"[\u3040-\u30ff]")),
    ("korean", re.compile(r"[\uac00-\ud7af]")),
    ("thai", re.compile(r"[\u0e00-\u0e7f]")),
    ("chinese", re.compile(r"[\u4e00-\u9fff]")),
)
_DETECT_SAMPLE_WORDS = 300
_DETECT_MIN_SHARE = 0.15      # share of stop words below which we call the language unknown


@cache
def _detection_profiles() -> tuple[tuple[str, frozenset[str]], ...]:
    """Stop words per language: sumy's lists, plus a few languages sumy lacks (a data file)."""
    profiles = {language: _stop_words(language) for language in sorted(STOP_WORD_LANGUAGES)}
    language = None
    for raw in _data_text("summary_detect_stopwords.txt").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            language = line[1:-1]
        elif language is None:
            raise ValueError(f"summary_detect_stopwords.txt: {line[:40]!r} comes before any [language]")
        else:
            profiles[language] = frozenset(line.split())
    return tuple(profiles.items())


def detect_language(text: str) -> str | None:
    """A light offline guess of the language (sumy's name, e.g. 'english'), or None when unsure.

    Unspaced scripts are recognised by their characters; other languages by the share of their
    stop words among the first few hundred words. Languages sumy lacks can be recognised too.
    """
    sample = text[:4000]
    letters = sum(1 for c in sample if c.isalpha())
    for name, script in _UNSPACED_SCRIPTS:
        # A share, not a count: an English story quoting one Korean sentence is still English.
        if len(script.findall(sample)) > max(20, letters // 3):
            return name
    words = [w.lower() for w in _WORD.findall(sample)][:_DETECT_SAMPLE_WORDS]
    if len(words) < 3:
        return None
    best, best_share = None, 0.0
    for language, stops in _detection_profiles():
        share = sum(1 for w in words if w in stops) / len(words)
        if share > best_share:
            best, best_share = language, share
    return best if best_share >= _DETECT_MIN_SHARE else None


@cache
def _is_supported(language: str) -> bool:
    if language not in STOP_WORD_LANGUAGES:
        return False
    try:
        Stemmer(language)("news")
    except (LookupError, ValueError) as error:  # sumy wants an optional package for some stemmers
        log.warning("summarize: sumy's %s stemmer is unavailable: %s", language, error)
        return False
    return True


def _resolve_language(text: str, language: str | None) -> str | None:
    """The sumy language to use, or None for the language-neutral method (with a warning)."""
    name = _language_name(language)
    if name is None:
        name = detect_language(text)
        if name is None:
            log.warning("summarize: could not detect the article's language; "
                        "using the language-neutral method")
            return None
    if not _is_supported(name):
        log.warning("summarize: language %r is not supported by sumy's stop words and stemmers "
                    "here; using the language-neutral method", language or name)
        return None
    return name


# --- sentences ------------------------------------------------------------------------------

def _blocks(text: str) -> list[str]:
    """Paragraphs, and lines within them that stand alone (headings, list items, chrome).

    A line that does not end a sentence and is followed by a lower-case continuation is a hard wrap,
    so it is joined to the next line.
    """
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        current = ""
        for line in paragraph.splitlines():
            line = " ".join(line.split())
            if not line:
                continue
            if current and not _TERMINAL_END.search(current) and line[0].islower():
                current += " " + line
            else:
                if current:
                    blocks.append(current)
                current = line
        if current:
            blocks.append(current)
    return blocks


@cache
def _openers(language: str | None) -> frozenset[str]:
    """Words that commonly open a sentence (the language's stop words, minus single letters)."""
    name = language if language in STOP_WORD_LANGUAGES else "english"
    return frozenset(w for w in _stop_words(name) if len(w) > 1) | {"a", "i"}


def _is_break(block: str, match: re.Match[str], sentence_start: int, language: str | None) -> bool:
    end, close = match["end"], match["close"]
    following = block[match.end():]
    if not following:
        return True
    next_token = following.split(None, 1)[0]
    next_word = next_token.lstrip(_OPENERS)
    first = next_word[:1]
    if first.islower():
        return False            # "e.g. the", "Yahoo! said", "\"Why?\" he asked"
    if end[0] in "。！？":
        return True
    if "!" in end or "?" in end or end[0] == "…" or len(end) > 1:
        return True
    if close:
        return True             # '... ceasefire." He said' — the quote closed the sentence
    previous = block[sentence_start:match.start()].rsplit(None, 1)
    previous_word = previous[-1].lstrip(_OPENERS) if previous else ""
    key = previous_word.lower()
    abbreviations = _abbreviations()
    if key in abbreviations.title:
        return False            # "Mr. Jaafari"
    if first.isdigit() and key in abbreviations.numeric:
        return False            # "No. 10", "Jan. 5"
    is_initial = len(previous_word) == 1 and previous_word.isupper()
    if is_initial or key in abbreviations.general or _DOTTED.match(previous_word):
        # "George W. Bush", "the U.S. Senate" go on; "in the U.S. The ..." breaks.
        if re.fullmatch(r"[^\W\d_]\.", next_token):
            return False        # "J. K. Rowling"
        bare = _WORD.match(next_word)
        return bool(bare) and bare.group(0).lower() in _openers(language)
    return True


def _split_block(block: str, language: str | None) -> list[str]:
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
    name = _language_name(language)
    return [s for block in _blocks(text) for s in _split_block(block, name)]


# --- sumy plumbing --------------------------------------------------------------------------

class OfflineTokenizer:
    """The tokenizer interface sumy's parsers and summarizers use, with no downloaded models."""

    def __init__(self, language: str | None) -> None:
        self._language = language

    @property
    def language(self) -> str | None:
        return self._language

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(split_sentences(paragraph, self._language))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(_WORD.findall(sentence))


def build_document(paragraphs: Sequence[Sequence[str]], language: str | None) -> ObjectDocumentModel:
    """A sumy document from sentences already split (one inner sequence per paragraph)."""
    tokenizer = OfflineTokenizer(language)
    return ObjectDocumentModel(tuple(
        Paragraph([Sentence(s, tokenizer) for s in paragraph]) for paragraph in paragraphs if paragraph
    ))


def sentence_ratings(summarizer: AbstractSummarizer, document: ObjectDocumentModel) -> list[float]:
    """Every sentence's rating by a sumy summarizer, in document order.

    sumy's summarizers accept a callable in place of the sentence count and hand it all rated
    sentences; we keep them all instead of the top few.
    """
    rated: list[SentenceInfo] = []

    def keep_all(infos: list[SentenceInfo]) -> list[SentenceInfo]:
        rated.extend(infos)
        return infos

    summarizer(document, keep_all)
    ratings = [0.0] * len(document.sentences)
    for info in rated:
        ratings[info.order] = float(info.rating)
    return ratings


def make_summarizer(cls: type[AbstractSummarizer], language: str | None) -> AbstractSummarizer:
    """A sumy summarizer set up with our stemmer and stop words for `language` (None: neutral)."""
    summarizer = cls(_stemmer(language))
    if hasattr(summarizer, "stop_words"):
        summarizer.stop_words = _stop_words(language) if language else frozenset()
    return summarizer


# --- scoring --------------------------------------------------------------------------------

def trim_dateline(sentence: str) -> str:
    """'ASTANA: A first day…' → 'A first day…'; a sentence without a dateline is returned as is."""
    for pattern in _patterns().dateline:
        match = pattern.match(sentence)
        if match:
            return sentence[match.end():]
    return sentence


def is_noise(sentence: str) -> bool:
    """True for sentences that are not content: credits, bylines, 'Read more', site chrome."""
    return any(p.search(sentence) for p in _patterns().noise)


def _normalise(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return [1.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def _content_stems(words: Sequence[str], language: str | None) -> set[str]:
    stops = _stop_words(language) if language else frozenset()
    stem = _stemmer(language)
    return {stem(w) for w in (w.lower() for w in words) if w not in stops and len(w) > 1}


def _score(sentences: Sequence[Sentence], ratings: Sequence[float], title: str | None,
           language: str | None) -> list[float]:
    centrality = _normalise(ratings)
    query = _content_stems(_WORD.findall(title), language) if title else set()
    scores = []
    for index, sentence in enumerate(sentences):
        text = str(sentence)
        score = WEIGHT_CENTRALITY * centrality[index] + WEIGHT_POSITION / (1 + index) ** POSITION_DECAY
        if index == 0:
            score += LEDE_BONUS
        if query:
            score += WEIGHT_TITLE * len(query & _content_stems(sentence.words, language)) / len(query)
        if text.rstrip(_CLOSERS).endswith("?"):
            score *= QUESTION_FACTOR
        if not _TERMINAL_END.search(text):
            score *= HEADING_FACTOR
        if len(sentence.words) < SHORT_SENTENCE_WORDS:
            score *= SHORT_SENTENCE_FACTOR
        if len(text) > LONG_SENTENCE_CHARS:
            score *= LONG_SENTENCE_FACTOR
        scores.append(score)
    return scores


def _content_paragraphs(text: str, title: str | None, language: str | None) -> list[list[str]]:
    """The article's content sentences by paragraph, capped at MAX_SENTENCES.

    Datelines are trimmed where a paragraph opens near the top (chrome may precede the lede), and
    a line that repeats the headline is dropped.
    """
    headline = " ".join(title.split()).casefold() if title else None
    paragraphs: list[list[str]] = []
    kept = 0
    for block in _blocks(text):
        if kept >= MAX_SENTENCES:
            break
        paragraph = []
        for position, sentence in enumerate(_split_block(block, language)):
            if position == 0 and kept < DATELINE_SENTENCES:
                sentence = trim_dateline(sentence).strip()
            if sentence.casefold() == headline:
                continue
            if sentence and not is_noise(sentence) and kept < MAX_SENTENCES:
                paragraph.append(sentence)
                kept += 1
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def _pick(texts: Sequence[str], scores: Sequence[float], count: int, budget: int) -> list[int]:
    """Indices of the best sentences that fit the character budget (the best one always fits)."""
    chosen: list[int] = []
    used = 0
    for index in sorted(range(len(texts)), key=lambda i: (-scores[i], i)):
        if len(chosen) == count:
            break
        if chosen and used + len(texts[index]) > budget:
            continue
        chosen.append(index)
        used += len(texts[index])
    return sorted(chosen)


def summarize(text: str, title: str | None = None, sentences: int = 2,
              language: str | None = None) -> list[str]:
    """Up to `sentences` of the article's own sentences, in article order.

    Sentences are returned verbatim (whitespace collapsed) except that a leading dateline is
    trimmed. Short items get one sentence; long ones up to `sentences` within a character budget.
    An article with no content sentences gives an empty list.
    """
    if sentences < 1:
        raise ValueError(f"summarize: sentences must be at least 1, got {sentences}")
    resolved = _resolve_language(text, language)
    paragraphs = _content_paragraphs(text, title, resolved)
    document = build_document(paragraphs, resolved)
    items = document.sentences
    if not items:
        return []
    texts = [str(s) for s in items]
    word_count = sum(len(s.words) for s in items)
    count = 1 if word_count < SHORT_ITEM_WORDS else sentences
    if len(items) <= count:
        return texts
    ratings = sentence_ratings(make_summarizer(BASE_SUMMARIZER, resolved), document)
    scores = _score(items, ratings, title, resolved)
    return [texts[i] for i in _pick(texts, scores, count, CHARS_PER_SENTENCE * count)]


@cache
def _data_fingerprint() -> str:
    """A short hash of the summary_* data files: editing a pattern list invalidates cached summaries."""
    data = files("digest").joinpath("data")
    names = sorted(p.name for p in data.iterdir() if p.name.startswith("summary_"))
    return hashlib.sha256("".join(name + _data_text(name) for name in names).encode("utf-8")).hexdigest()[:12]


def summarizer_key(sentences: int, language: str | None) -> str:
    """Names the algorithm, its version, settings and data; with the content hash it keys the cache."""
    return (f"{BASE_SUMMARIZER.__name__}+news/v{ALGORITHM_VERSION}/sumy-{version('sumy')}/data-{_data_fingerprint()}"
            f"/n={sentences}/lang={_language_name(language) or 'auto'}"
            f"/w={WEIGHT_CENTRALITY},{WEIGHT_POSITION},{POSITION_DECAY},{LEDE_BONUS},{WEIGHT_TITLE}"
            f"/cap={MAX_SENTENCES}/short={SHORT_ITEM_WORDS}/budget={CHARS_PER_SENTENCE}")
