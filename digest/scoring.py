"""Choosing a summary's sentences: the lede, then what adds the most new information.

Each sentence is rated by a position prior (news is an inverted pyramid) plus directed centrality
(PacSum: Zheng and Lapata, 2019): similarity to the sentences after it counts for a sentence,
similarity to those before it against, so a sentence that opens a topic the article goes on with
wins over one that repeats it. The lede is chosen first; each further sentence is the best by that
rating plus what it adds (the article's recurring words the summary lacks, weighted by how often
they recur, numbers not yet given, the headline's figures above all), minus its similarity to what is already chosen, among
sentences that can stand alone with what is chosen (see `digest.standalone`). The article's own
next usable sentence is kept unless another beats it by a margin that grows with its distance, so
the summary departs from the lead only where the evidence is strong.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from itertools import chain
from dataclasses import dataclass

from digest.sentences import CLOSERS
from digest.standalone import Standing

# Weights (found with benchmarks/bench_summarize.py on half A of each dev set, see RESULTS-summarize.md).
WEIGHT_POSITION = 3.0
WEIGHT_CENTRALITY = 0.3
WEIGHT_COVERAGE = 0.1         # per new word: log of the number of sentences it occurs in
WEIGHT_TITLE = 1.0
WEIGHT_HEADLINE_NUMBER = 1.0  # a figure of the headline the summary lacks ("dies aged 64"): as much as its words
WEIGHT_NEW_NUMBER = 0.5       # a sentence giving a number the summary lacks (a toll, a score, a date)
WEIGHT_REDUNDANCY = 1.0       # times the highest similarity to a sentence already chosen
POSITION_DECAY = 0.5          # position prior = 1 / (1 + index) ** decay
FORWARD = 1.0                 # PacSum's λ2: similarity to later sentences
BACKWARD = -0.5               # PacSum's λ1: similarity to earlier sentences
THRESHOLD = 0.6               # PacSum's β: similarities below min + β (max − min) count as none
# Additions come from the first this many sentences: the graph costs O(n²), and a sentence past
# them is seldom worth the margin (40 in place of 25 moves 3 of 1,172 dev articles).
CENTRALITY_SENTENCES = 40
SHORT_SENTENCE_WORDS = 6
SHORT_SENTENCE_FACTOR = 0.5
RECURRING_SENTENCES = 3       # a word in this many sentences is one the article goes on about
HEADING_FACTOR = 0.5          # a line with no closing punctuation is a heading or chrome
LONG_SENTENCE_CHARS = 500
LONG_SENTENCE_FACTOR = 0.5
DEPARTURE_MARGIN = 0.0        # gain a sentence must add over the next usable one to replace it,
DISTANCE_MARGIN = 1.0         # and this much more per sentence of distance from it
NEWS_MARGIN = 0.2             # the whole margin, per sentence of distance, when it gives a number
                              # and that next one is background


@dataclass(frozen=True)
class Candidate:
    text: str
    stems: tuple[str, ...]      # content-word stems, in order (repeats kept)
    numbers: frozenset[str]     # the numbers it states, years excepted (a "when", not a "how many")
    names: frozenset[str]       # the names it gives in full (who it introduces)
    standing: Standing
    heading: bool               # no closing punctuation
    words: int
    past: bool = False          # dated only by years before the article's latest: background, not news
    death: bool = False         # a short sentence reporting a death ("He died that night.")


def similarities(candidates: Sequence[Candidate]) -> tuple[list[list[float]], Counter[str]]:
    """Cosine similarity of every pair of sentences over unit-length tf-idf vectors, and each
    stem's document frequency (the number of sentences it occurs in).

    Only pairs sharing a word are visited, and only words in more than one sentence are posted.
    """
    n = len(candidates)
    sim = [[0.0] * n for _ in range(n)]
    counts = [Counter(c.stems) for c in candidates]
    frequency = Counter(chain.from_iterable(counts))
    idf = [0.0] + [math.log(1 + n / k) for k in range(1, n + 1)]  # by document frequency: n logs, not one a word
    # In the order the words first occur: each pair's products are summed in that order.
    postings: dict[str, list[tuple[int, float]]] = {stem: [] for stem, k in frequency.items() if k > 1}
    for i, count in enumerate(counts):
        weights = [(stem, tf * idf[frequency[stem]]) for stem, tf in count.items()]
        norm = math.sqrt(sum(v * v for _, v in weights)) or 1.0
        for stem, v in weights:
            posting = postings.get(stem)
            if posting is not None:
                posting.append((i, v / norm))
    for posting in postings.values():
        for a, (i, wi) in enumerate(posting):
            row = sim[i]
            for j, wj in posting[a + 1:]:
                row[j] += wi * wj
    columns = list(zip(*sim))  # the upper triangle is complete: mirror it
    for j in range(1, n):
        sim[j][:j] = columns[j][:j]
    return sim, frequency


def directed_centrality(sim: Sequence[Sequence[float]]) -> list[float]:
    """PacSum's centrality, scaled to [0, 1]."""
    n = len(sim)
    if n < 2:
        return [1.0] * n
    low = min(min(sim[i][i + 1:]) for i in range(n - 1))
    high = max(max(sim[i][i + 1:]) for i in range(n - 1))
    floor = low + THRESHOLD * (high - low)
    before, after = [0.0] * n, [0.0] * n
    for i in range(n - 1):
        row = sim[i]
        for j in range(i + 1, n):
            excess = row[j] - floor
            if excess > 0.0:  # counts for the earlier sentence (forward), against the later
                after[i] += excess
                before[j] += excess
    scores = [FORWARD * a + BACKWARD * b for a, b in zip(after, before)]
    low, high = min(scores), max(scores)
    if high - low <= 1e-12:
        return [1.0] * n
    return [(s - low) / (high - low) for s in scores]


def lede_index(candidates: Sequence[Candidate]) -> int:
    """The first sentence that reads as a lede: not a question, a heading or a fragment."""
    for index, c in enumerate(candidates):
        if (not c.heading and c.words >= SHORT_SENTENCE_WORDS
                and not c.text.rstrip(CLOSERS).endswith("?")):
            return index
    return 0


def _headline_share(c: Candidate, query: set[str]) -> float:
    """The share of the headline's words and numbers a sentence gives (0 without a headline)."""
    return len(query.intersection(c.stems) | query.intersection(c.numbers)) / len(query) if query else 0.0


def ratings(candidates: Sequence[Candidate], sim: Sequence[Sequence[float]], query: set[str]) -> list[float]:
    """Each sentence's worth before redundancy: centrality, position, the headline's words."""
    centrality = directed_centrality(sim)
    scores = []
    for index, c in enumerate(candidates):
        score = WEIGHT_CENTRALITY * centrality[index] + WEIGHT_POSITION / (1 + index) ** POSITION_DECAY
        score += WEIGHT_TITLE * _headline_share(c, query)
        if c.heading:
            score *= HEADING_FACTOR
        if c.words < SHORT_SENTENCE_WORDS and c.heading:
            score *= SHORT_SENTENCE_FACTOR  # a fragment; a short full sentence ("He was 95.") may be news
        if len(c.text) > LONG_SENTENCE_CHARS:
            score *= LONG_SENTENCE_FACTOR
        scores.append(score)
    return scores


def _slight(c: Candidate, frequency: Counter[str], covered: set[str]) -> bool:
    """A short sentence giving no number, no death and none of the words the article goes on about that
    the summary lacks ("Wikinews attended.", "I will never forget you."): a note or a quip, not news."""
    return (c.words < SHORT_SENTENCE_WORDS and not c.numbers and not c.death
            and not any(frequency[s] >= RECURRING_SENTENCES for s in set(c.stems) - covered))


def choose(candidates: Sequence[Candidate], count: int, budget: int, query: set[str],
           expected: frozenset[str] = frozenset()) -> list[int]:
    """Indices of the summary's sentences, in article order: the lede, then the best additions.

    The lede always fits; an addition must fit the character budget, stand alone or with what is
    already chosen, and is rated net of its similarity to the chosen sentences. The article's next
    usable sentence is taken unless another is rated higher by DEPARTURE_MARGIN plus DISTANCE_MARGIN
    per sentence of distance (NEWS_MARGIN per sentence for a number, unless the sentence is dated in
    the past, or none for more of the headline, when the next one is background; none for a
    sentence giving a figure the summary lacks: the headline's in digits, or one of `expected`).
    A slight sentence (see `_slight`) is not the default: the next one is.
    Additions come from the first CENTRALITY_SENTENCES sentences.
    """
    # The headline's figures in digits ("dies aged 64"): number words ("two", "million") recur in
    # unrelated phrases too often to count as the same figure.
    figures = {n for n in query if n[0].isdigit()} | expected
    lede = lede_index(candidates)
    chosen = [lede]
    if count == 1 or len(candidates) == 1:
        return chosen
    candidates = candidates[:max(CENTRALITY_SENTENCES, lede + 1)]
    sim, frequency = similarities(candidates)
    base = ratings(candidates, sim, query)
    logs = [0.0] + [math.log(k) for k in range(1, len(candidates) + 1)]
    recurrence = {stem: logs[k] for stem, k in frequency.items()}
    used = len(candidates[lede].text)
    given = set(candidates[lede].numbers)
    covered = set(candidates[lede].stems)
    named = set(candidates[lede].names)
    while len(chosen) < count:
        gains = {}
        for index, c in enumerate(candidates):
            if (index in chosen or not c.standing.alone or not c.standing.needs.issubset(chosen)
                    or used + len(c.text) > budget):
                continue
            gains[index] = (base[index] - WEIGHT_REDUNDANCY * max(sim[index][j] for j in chosen)
                            + WEIGHT_COVERAGE * sum(recurrence[s] for s in set(c.stems) - covered)
                            + (WEIGHT_NEW_NUMBER if c.numbers - given else 0.0)
                            + (WEIGHT_HEADLINE_NUMBER if figures.intersection(c.numbers) - given else 0.0))
        if not gains:
            break
        best = max(gains, key=gains.__getitem__)
        # The article's next usable sentence is the default (news is an inverted pyramid): another
        # replaces it only by a margin that grows with its distance. When the default is background
        # (no number the summary lacks, nobody new named in full), a sentence giving more of the
        # headline needs no margin (the editor said what matters) and one giving a number a small one;
        # one giving the headline's figure needs none whatever the default.
        # (gains go in article order: the first one past the lede that is not slight)
        default = next((i for i in gains if i > lede and not _slight(candidates[i], frequency, covered)), None)
        if default is not None and best != default:
            fallback, other = candidates[default], candidates[best]
            distance = abs(best - default)
            margin = DEPARTURE_MARGIN + DISTANCE_MARGIN * distance
            if figures.intersection(other.numbers) - given:
                margin = 0.0
            elif not (fallback.numbers - given or fallback.names - named):
                if _headline_share(other, query) > _headline_share(fallback, query):
                    margin = 0.0
                elif other.numbers - given and not other.past:
                    margin = NEWS_MARGIN * distance
            if gains[best] < gains[default] + margin:
                best = default
        chosen.append(best)
        used += len(candidates[best].text)
        given |= candidates[best].numbers
        covered.update(candidates[best].stems)
        named |= candidates[best].names
    return sorted(chosen)
