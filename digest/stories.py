"""Which articles report the same event: story grouping over an edition's articles.

Each article becomes a vector of the salient terms of its title and lead (names, places,
numbers and the action words, stemmed; TF-IDF over the batch, so words every article of the
day shares weigh little). Candidate pairs come from blocking on each article's rarest salient
terms, never from all pairs. Candidates merge by average link, best pair first: a story takes
an article (or another story) only when the articles are close on average to all its members,
published within `max_days` of each other and, where the country is known, about the same
country. Average link does not chain, so a story about a funeral does not take in every story
that shares one name with one of its articles. Precision first: a missed merge leaves a repeat,
a wrong one hides news.

Pure functions; no I/O beyond reading the word lists in `digest/data/` once.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from nltk.stem.snowball import EnglishStemmer

from digest.models import Article

DATA_DIR = Path(__file__).resolve().parent / "data"

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?:;\"“”]\s*$")


@dataclass(frozen=True)
class Report:
    """One article as grouping sees it. `country` is its located focus country, if known."""

    title: str
    text: str
    published: datetime | None = None
    country: str | None = None


@dataclass(frozen=True)
class Grouping:
    """The knobs of story grouping (defaults chosen on half of the dev set, checked on the other)."""

    threshold: float = 0.25 # least average cosine between a story's members
    lead_words: int = 200  # how much of the text after the title counts as the lead
    title_weight: float = 2.0  # a title word counts this many lead words
    name_weight: float = 1.5  # a word written capitalised inside a sentence: a name or place
    max_days: float = 2.0  # a story's articles are published within this many days
    block_terms: int = 8  # each article is a candidate with those sharing one of its rarest terms
    max_block: int = 200  # a term in more articles than this is too common to block on


@dataclass
class _Story:
    members: list[int]
    total: dict[str, float]  # sum of the members' unit vectors: average link is a dot product
    earliest: datetime | None
    latest: datetime | None
    countries: set[str] = field(default_factory=set)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset(word for line in _data_lines("stories_stopwords.txt") for word in line.split())


@lru_cache(maxsize=1)
def _number_words() -> dict[str, str]:
    pairs = (line.split(",", 1) for line in _data_lines("stories_numbers.txt"))
    return {word.strip(): number.strip() for word, number in pairs}


def _data_lines(name: str) -> list[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stem(word)


_STEMMER = EnglishStemmer()


def _terms(text: str, *, names: bool) -> list[tuple[str, bool]]:
    """(term, written as a name) for each salient word: stop words go, number words become
    numbers, "1,300" and "1300" agree. A capitalised word not starting a sentence is a name."""
    stop, numbers = _stop_words(), _number_words()
    out = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word[0].isdigit():
            out.append((word.replace(",", ""), False))
            continue
        lower = word.lower().replace("’", "'").removesuffix("'s")
        if lower in numbers:
            out.append((numbers[lower], False))
            continue
        if lower in stop or len(lower) < 2:
            continue
        name = names and word[0].isupper() and not _SENTENCE_END.search(text[max(0, match.start() - 3):match.start()]) \
            and match.start() > 0
        out.append((_stem(lower), name))
    return out


def _lead(text: str, words: int) -> str:
    """The first `words` words of the text (whole paragraphs joined by spaces)."""
    found = list(re.finditer(r"\S+", text[: words * 12]))
    return text[: found[words - 1].end()] if len(found) >= words else text[: words * 12]


def term_weights(report: Report, grouping: Grouping = Grouping()) -> dict[str, float]:
    """Raw term weights of one article's title and lead, before IDF."""
    weights: dict[str, float] = defaultdict(float)
    for term, _ in _terms(report.title, names=False):
        weights[term] += grouping.title_weight
    for term, name in _terms(_lead(report.text, grouping.lead_words), names=True):
        weights[term] += grouping.name_weight if name else 1.0
    return weights


def vectors(reports: Sequence[Report], grouping: Grouping = Grouping()) -> list[dict[str, float]]:
    """Unit TF-IDF vectors (sublinear TF, IDF over the batch) of the reports' salient terms."""
    raw = [term_weights(r, grouping) for r in reports]
    df: dict[str, int] = defaultdict(int)
    for weights in raw:
        for term in weights:
            df[term] += 1
    n = len(raw)
    out = []
    for weights in raw:
        vec = {t: (1.0 + math.log(w)) * math.log((n + 1) / (df[t] + 0.5)) for t, w in weights.items() if w > 0}
        vec = {t: v for t, v in vec.items() if v > 0}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        out.append({t: v / norm for t, v in vec.items()})
    return out


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


def candidate_pairs(vecs: Sequence[dict[str, float]], grouping: Grouping = Grouping()) -> set[tuple[int, int]]:
    """Pairs (i < j) sharing one of either's `block_terms` rarest-and-heaviest terms.

    Each article joins at most `block_terms` blocks, and blocks over `max_block` articles are
    dropped, so the work grows linearly with the batch.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, vec in enumerate(vecs):
        for term in sorted(vec, key=vec.__getitem__, reverse=True)[: grouping.block_terms]:
            blocks[term].append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if 1 < len(members) <= grouping.max_block:
            pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    return pairs


def _days(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds()) / 86400


def _compatible(a: _Story, b: _Story, grouping: Grouping) -> bool:
    if a.countries and b.countries and not a.countries & b.countries:
        return False
    if a.earliest and b.earliest and a.latest and b.latest:
        span = _days(min(a.earliest, b.earliest), max(a.latest, b.latest))
        return span <= grouping.max_days
    return True


def group(reports: Sequence[Report], grouping: Grouping = Grouping()) -> list[list[int]]:
    """The stories of a batch: lists of indices into `reports`, each in input order, the
    stories ordered by their first member. Every report is in exactly one story."""
    vecs = vectors(reports, grouping)
    scored = []
    for i, j in candidate_pairs(vecs, grouping):
        similarity = _dot(vecs[i], vecs[j])
        if similarity >= grouping.threshold:
            scored.append((similarity, i, j))
    scored.sort(key=lambda s: (-s[0], s[1], s[2]))
    stories = [_Story([i], dict(vec), r.published, r.published, {r.country} if r.country else set())
               for i, (r, vec) in enumerate(zip(reports, vecs, strict=True))]
    owner = list(range(len(reports)))
    for _, i, j in scored:
        a, b = stories[owner[i]], stories[owner[j]]
        if a is b or not _compatible(a, b, grouping):
            continue
        if _dot(a.total, b.total) / (len(a.members) * len(b.members)) < grouping.threshold:
            continue
        if len(a.members) < len(b.members):
            a, b = b, a
        for term, value in b.total.items():
            a.total[term] = a.total.get(term, 0.0) + value
        a.members += b.members
        for member in b.members:
            owner[member] = owner[a.members[0]]
        a.countries |= b.countries
        a.earliest = min(filter(None, (a.earliest, b.earliest)), default=None)
        a.latest = max(filter(None, (a.latest, b.latest)), default=None)
    found: dict[int, list[int]] = defaultdict(list)
    for i in range(len(reports)):
        found[owner[i]].append(i)
    return list(found.values())


# --- stories of an edition --------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    """The articles of one event in this edition, the face first. `update_of` names the
    earlier edition that already sent this story, if one did."""

    articles: tuple[Article, ...]
    update_of: str | None = None

    @property
    def face(self) -> Article:
        return self.articles[0]

    @property
    def others(self) -> tuple[Article, ...]:
        return self.articles[1:]


def face_order(articles: Sequence[Article], preferred: Sequence[str] = ()) -> list[Article]:
    """Best face first: a preferred source (in the order given), then the most complete text,
    then the earliest report."""
    rank = {name: k for k, name in enumerate(preferred)}

    def key(article: Article) -> tuple[int, int, float]:
        when = article.published or article.first_seen
        return (rank.get(article.source, len(rank)), -len(article.text.split()),
                when.timestamp() if when else math.inf)

    return sorted(articles, key=key)


def stories_of(articles: Sequence[Article], *, countries: Sequence[str | None] | None = None,
               earlier: Sequence[tuple[str, Article]] = (), preferred: Sequence[str] = (),
               grouping: Grouping = Grouping()) -> list[Story]:
    """The edition's stories, in the order of their first article in `articles`.

    `countries` (one per article, or None) are their located countries; `earlier` holds
    (edition id, article) of articles already sent: a story that takes one of them in is an
    update of the earliest such edition, and only this edition's articles are shown in it.
    """
    countries = list(countries) if countries is not None else [None] * len(articles)
    reports = [Report(a.title, a.text, a.published or a.first_seen, c) for a, c in zip(articles, countries, strict=True)]
    reports += [Report(a.title, a.text, a.published or a.first_seen) for _, a in earlier]
    out = []
    for members in group(reports, grouping):  # ordered by first member: this edition's come first
        current = [articles[i] for i in members if i < len(articles)]
        if current:
            sent = sorted(earlier[i - len(articles)][0] for i in members if i >= len(articles))
            out.append(Story(tuple(face_order(current, preferred)), sent[0] if sent else None))
    return out
