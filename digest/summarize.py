"""Extractive news summaries: the lede, then the sentences that add the most new information.

The pipeline: split the body into sentences (`digest.sentences`), drop those that are not content
and trim datelines, build a sumy document (its sentence model, with sumy's stop words and Snowball
stemmers from `digest.language`), rate the sentences by position and directed centrality and pick
them without redundancy (`digest.scoring`), among those that can stand alone with what is chosen
(`digest.standalone`). The output is checked against the article (`digest.fact_check`).

The public functions of the earlier single module are importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache, partial
from importlib import import_module
from typing import TYPE_CHECKING

from digest import scoring
from digest.fact_check import check
from digest.language import detect_language, language_name, resolve_language, stemmer, stop_words, words
from digest.sentences import TERMINAL_END, blocks, cut_credit, is_noise, split_block, split_sentences, trim_dateline
from digest.summary_counts import counts, obituary_ages, reports_death
from digest.standalone import full_names, standings
from digest.summarizers import DEFAULT, Summarizer, get_summarizer
from digest.summary_data import fingerprint

if TYPE_CHECKING:
    from sumy.models.dom import ObjectDocumentModel
    from sumy.summarizers._summarizer import AbstractSummarizer

__all__ = [
    "LEAD", "LEXRANK", "LSA", "NEWS", "TEXTRANK", "OfflineTokenizer", "build_document", "detect_language",
    "is_noise", "lead", "make_summarizer", "prepare", "sentence_ratings", "split_sentences", "summarize",
    "summarizer_key", "sumy_ranked", "trim_dateline",
]

# Bump when the algorithm or its weights change: it is part of the Prefect cache key.
ALGORITHM_VERSION = 11
# News puts what matters first; past this many sentences we stop looking (keeps the graph small
# and the cost per article linear in its length).
MAX_SENTENCES = 40
DATELINE_SENTENCES = 3        # a dateline can open any of the first few content sentences
SHORT_ITEM_WORDS = 40         # below this many words an item (a brief) gets a one-sentence summary
CHARS_PER_SENTENCE = 250      # display budget: sentences * this many characters, first sentence exempt


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
        return tuple(words(sentence))


def build_document(paragraphs: Sequence[Sequence[str]], language: str | None) -> ObjectDocumentModel:
    """A sumy document from sentences already split (one inner sequence per paragraph)."""
    # Imported here: sumy's document model imports `requests` (about 50 ms at start-up), and
    # `summarize` needs only its words, which it finds itself.
    from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence

    tokenizer = OfflineTokenizer(language)
    return ObjectDocumentModel(tuple(
        Paragraph([Sentence(s, tokenizer) for s in paragraph]) for paragraph in paragraphs if paragraph
    ))


def make_summarizer(cls: type[AbstractSummarizer], language: str | None) -> AbstractSummarizer:
    """A sumy summarizer set up with our stemmer and stop words for `language` (None: neutral)."""
    summarizer = cls(stemmer(language))
    if hasattr(summarizer, "stop_words"):
        summarizer.stop_words = stop_words(language) if language else frozenset()
    return summarizer


def sentence_ratings(summarizer: AbstractSummarizer, document: ObjectDocumentModel) -> list[float]:
    """Every sentence's rating by a sumy summarizer, in document order.

    sumy's summarizers accept a callable in place of the sentence count and hand it all rated
    sentences; we keep them all instead of the top few.
    """
    rated = []

    def keep_all(infos: list) -> list:
        rated.extend(infos)
        return infos

    summarizer(document, keep_all)
    ratings = [0.0] * len(document.sentences)
    for info in rated:
        ratings[info.order] = float(info.rating)
    return ratings


def _content_paragraphs(text: str, title: str | None, language: str | None) -> list[list[str]]:
    """The article's content sentences by paragraph, capped at MAX_SENTENCES.

    Datelines are trimmed where a paragraph's content opens near the top (chrome may precede the lede) and,
    in their unmistakable forms, where a later sentence opens a second article run on after the first; photo
    credits and dated bylines cut off the sentence they open, and a line that repeats the headline
    or an earlier sentence is dropped.
    """
    headline = " ".join(title.split()).casefold() if title else None
    paragraphs: list[list[str]] = []
    seen: set[str] = set()  # a caption or a lede the page repeats is given once
    kept = 0
    for block in blocks(text):
        if kept >= MAX_SENTENCES:
            break
        paragraph = []
        for sentence in split_block(block, language):
            sentence = cut_credit(sentence)
            # The block's first content sentence (chrome dropped before it); a byline may precede the dateline.
            if not paragraph and kept < DATELINE_SENTENCES:
                sentence = cut_credit(trim_dateline(sentence).strip())
            else:  # a second article run on after the first may open with its own dateline
                sentence = trim_dateline(sentence, later=True)
            folded = sentence.casefold()
            if folded == headline or folded in seen:
                continue
            if sentence and kept < MAX_SENTENCES and not is_noise(sentence):
                paragraph.append(sentence)
                seen.add(folded)
                kept += 1
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


@cache
def _word_stem(language: str | None) -> Callable[[str], str | None]:
    """A word → its stem, or None for a stop word or a single letter. Cached: words repeat a lot."""
    stops = stop_words(language) if language else frozenset()
    stem = stemmer(language)

    @lru_cache(maxsize=100_000)
    def of(word: str) -> str | None:
        lowered = word.lower()
        return stem(lowered) if len(lowered) > 1 and lowered not in stops else None
    return of


def _stems(tokens: Sequence[str], language: str | None) -> tuple[str, ...]:
    return tuple(s for s in map(_word_stem(language), tokens) if s is not None)


def prepare(text: str, title: str | None, sentences: int, language: str | None,
            who: str) -> tuple[str | None, list[list[str]]]:
    """What every summarizer starts from: the language, and the content sentences by paragraph."""
    if sentences < 1:
        raise ValueError(f"{who}: sentences must be at least 1, got {sentences}")
    resolved = resolve_language(text, language)
    return resolved, _content_paragraphs(text, title, resolved)


def summarize(text: str, title: str | None = None, sentences: int = 2,
              language: str | None = None) -> list[str]:
    """Up to `sentences` of the article's own sentences, in article order.

    Sentences are returned verbatim (whitespace collapsed) except that a leading dateline is
    trimmed. Short items get one sentence; long ones up to `sentences` within a character budget.
    An article with no content sentences gives an empty list.
    """
    resolved, paragraphs = prepare(text, title, sentences, language, "summarize")
    # The words as sumy's document model would give them (OfflineTokenizer), without building one.
    texts = [s.strip() for paragraph in paragraphs for s in paragraph]
    if not texts:
        return []
    tokens = [words(t) for t in texts]
    count = 1 if sum(map(len, tokens)) < SHORT_ITEM_WORDS else sentences
    if len(texts) <= count:
        summary = texts
    else:
        counted = [counts(t, resolved) for t in texts]
        latest = max((max(d) for _, d in counted if d), default=None)
        candidates = [
            scoring.Candidate(text=t, stems=_stems(w, resolved), numbers=n, names=full_names(t),
                              standing=standing, heading=not TERMINAL_END.search(t), words=len(w),
                              past=bool(d) and max(d) < latest,
                              # asked of short sentences only: only a slight one needs it (scoring._slight)
                              death=len(w) < scoring.SHORT_SENTENCE_WORDS and reports_death(t, resolved))
            for t, w, standing, (n, d) in zip(texts, tokens, standings(paragraphs, resolved), counted)
        ]
        # The headline's words and its numbers ("dies aged 64") steer the choice.
        query = set(_stems(words(title), resolved)) | counts(title, resolved)[0] if title else set()
        ages = obituary_ages(texts, scoring.lede_index(candidates), resolved)
        summary = [texts[i] for i in scoring.choose(candidates, count, CHARS_PER_SENTENCE * count, query, ages)]
    check(text, summary, source="summarize")
    return summary


@cache
def _sumy_version() -> str:
    from importlib.metadata import version  # about 30 ms to import: only the cache keys need it

    return version("sumy")


@cache
def _key_prefix() -> str:
    """The part of the key that does not depend on the call (package version, data, weights)."""
    weights = ",".join(str(getattr(scoring, name)) for name in (
        "WEIGHT_POSITION", "WEIGHT_CENTRALITY", "WEIGHT_COVERAGE", "WEIGHT_TITLE", "WEIGHT_HEADLINE_NUMBER",
        "WEIGHT_NEW_NUMBER",
        "WEIGHT_REDUNDANCY", "DEPARTURE_MARGIN", "DISTANCE_MARGIN", "NEWS_MARGIN", "RECURRING_SENTENCES",
        "POSITION_DECAY", "FORWARD", "BACKWARD", "THRESHOLD", "CENTRALITY_SENTENCES"))
    return (f"pacsum+news/v{ALGORITHM_VERSION}/sumy-{_sumy_version()}/data-{fingerprint()}/w={weights}"
            f"/cap={MAX_SENTENCES}/short={SHORT_ITEM_WORDS}/budget={CHARS_PER_SENTENCE}")


def lead(text: str, title: str | None = None, sentences: int = 2, language: str | None = None) -> list[str]:
    """The first `sentences` content sentences (datelines trimmed, noise and bylines skipped)."""
    _, paragraphs = prepare(text, title, sentences, language, "lead")
    summary = [sentence for paragraph in paragraphs for sentence in paragraph][:sentences]
    check(text, summary, source="lead")
    return summary


def sumy_ranked(summarizer_class: str, text: str, title: str | None = None, sentences: int = 2,
                language: str | None = None) -> list[str]:
    """The `sentences` content sentences a sumy summarizer ("module:Class") rates highest, in
    article order; ties go to the earlier sentence. Imported here: their numpy costs the other runs nothing."""
    resolved, paragraphs = prepare(text, title, sentences, language, summarizer_class)
    document = build_document(paragraphs, resolved)
    texts = [str(s) for s in document.sentences]
    if len(texts) > sentences:
        module, _, name = summarizer_class.partition(":")
        ratings = sentence_ratings(make_summarizer(getattr(import_module(module), name), resolved), document)
        texts = [texts[i] for i in sorted(sorted(range(len(texts)), key=lambda i: -ratings[i])[:sentences])]
    check(text, texts, source=summarizer_class)
    return texts


def _sumy_key(summarizer_class: str) -> str:
    return f"sumy={summarizer_class}/v1/sumy-{_sumy_version()}/data-{fingerprint()}/cap={MAX_SENTENCES}"


def _sumy(summarizer_class: str) -> Summarizer:
    summarizer_class = f"sumy.summarizers.{summarizer_class}"
    return Summarizer(partial(sumy_ranked, summarizer_class), partial(_sumy_key, summarizer_class))


# The implementations digest.summarizers names.
NEWS = Summarizer(summarize, _key_prefix)
LEAD = Summarizer(lead, lambda: f"lead/v1/data-{fingerprint()}")
LEXRANK = _sumy("lex_rank:LexRankSummarizer")
TEXTRANK = _sumy("text_rank:TextRankSummarizer")
LSA = _sumy("lsa:LsaSummarizer")


@cache
def summarizer_key(sentences: int, language: str | None, summarizer: str = DEFAULT) -> str:
    """Names the summarizer, its version, settings and data; with the content hash it keys the cache."""
    return f"{get_summarizer(summarizer).key()}/n={sentences}/lang={language_name(language) or 'auto'}"
