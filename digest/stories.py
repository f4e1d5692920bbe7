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
import sys
from array import array
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np
from scipy.sparse import csr_matrix

from digest.data_files import data_lines
from digest.models import Article

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"[.!?:;\"“”] (\S+)")  # a token after one that ends a sentence
_TOKEN_CACHE = 500_000  # tokens whose terms are remembered
_TOKENS: dict[str, tuple[tuple[str, ...], bool]] = {}
_BARE: set[str] = set()  # remembered tokens that hold no term
_PAIR_CHUNK = 5_000  # candidate pairs scored at once: their sparse rows take ~15 MB (20,000: ~80 MB), no slower


@dataclass(frozen=True)
class Report:
    """One article as grouping sees it. `countries`: the countries it is located in, if known
    (two reports that both have some and share none are never one story)."""

    title: str
    text: str
    published: datetime | None = None
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Grouping:
    """The knobs of story grouping. The defaults were chosen on the dev set as a whole
    (benchmarks/bench_cluster.py reports its two halves too); most sit on a plateau."""

    threshold: float = 0.25  # least average cosine between a story's members
    lead_words: int = 200  # how much of the text after the title counts as the lead
    title_weight: float = 2.0  # a title word counts this many lead words
    name_weight: float = 1.5  # a word written capitalised inside a sentence: a name or place
    max_days: float = 2.0  # a story's articles are published within this many days
    idf_batch: int = 150  # document frequencies are read as if the batch had this many articles
    block_terms: int = 12  # each article is a candidate with those sharing one of its rarest terms
    max_block: int = 200  # a term in more articles than this is too common to block on


@dataclass
class _Story:
    members: list[int]
    # The sum of the members' unit vectors, as sorted term ids and their weights: average
    # link to another story is one sparse dot product, whatever the stories' sizes.
    terms: np.ndarray
    weights: np.ndarray
    earliest: datetime | None
    latest: datetime | None
    countries: set[str] = field(default_factory=set)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset(word for line in data_lines("stories_stopwords.txt") for word in line.split())


@lru_cache(maxsize=1)
def _number_words() -> dict[str, str]:
    pairs = (line.split(",", 1) for line in data_lines("stories_numbers.txt"))
    return {word.strip(): number.strip() for word, number in pairs}


@lru_cache(maxsize=1)
def _suffix_rules() -> dict[str, tuple[tuple[str, str], ...]]:
    """The stemmer's rules by the last letter of their suffix, in file order: a word is
    only tried against the rules that can end it."""
    rules: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in data_lines("stories_suffixes.txt"):
        suffix, replacement = line.split(",", 1)
        rules[suffix.strip()[-1]].append((suffix.strip(), replacement.strip()))
    return {last: tuple(found) for last, found in rules.items()}


def _term(word: str) -> str:
    """The term a word counts as, "" for none: stop words go, number words become numbers
    ("eight" and "8", "1,300" and "1300" agree), the rest are lower-cased and lightly
    stemmed (digest/data/stories_suffixes.txt: cheap enough for a vocabulary of 100,000
    words, where a full stemmer is not)."""
    if word[0].isdigit():
        return word.replace(",", "")
    lower = word.lower().replace("’", "'").removesuffix("'s")
    term = _number_words().get(lower, "")
    if not term and lower not in _stop_words() and len(lower) > 1:
        term = lower
        for suffix, replacement in _suffix_rules().get(lower[-1], ()):
            if lower.endswith(suffix) and len(lower) - len(suffix) >= 3:
                return lower[: len(lower) - len(suffix)] + replacement
    return term


def _token(token: str) -> tuple[tuple[str, ...], bool]:
    """What one whitespace-separated token holds: its terms ("anti-mobilisation" holds two)
    and whether it is written capitalised. Remembered per token."""
    words = _WORD.findall(token)
    found = (tuple(sys.intern(term) for term in map(_term, words) if term), bool(words) and words[0][0].isupper())
    if len(_TOKENS) < _TOKEN_CACHE:
        _TOKENS[token] = found
        if not found[0]:
            _BARE.add(token)
    return found


def term_weights(report: Report, grouping: Grouping = Grouping()) -> dict[str, float]:
    """Raw term weights of one article's title and the first `lead_words` words of its text.

    A word written capitalised that does not start a sentence is a name (or a place) and
    weighs `name_weight`; titles are not read for names (many are in title case).
    """
    weights: dict[str, float] = defaultdict(float)
    known = _TOKENS
    for token in report.title.split():
        for term in (known.get(token) or _token(token))[0]:
            weights[term] += grouping.title_weight
    # Reading at most 8 characters a word of the lead keeps the cost down for long texts.
    lead = report.text[: grouping.lead_words * 8].split()[: grouping.lead_words]
    if not lead:
        return weights
    # Counted per distinct token, not per occurrence: that is what keeps 10,000 articles fast.
    starts = Counter(_SENTENCE_START.findall(" ".join(lead)))
    starts[lead[0]] += 1
    counts = Counter(lead)
    bare = _BARE
    # Tokens known to hold no term (stop words, about half) are skipped; the rest are read in
    # the lead's order, so terms of equal weight keep one order from run to run (a set
    # difference would follow string hashes, and blocking on ties with it).
    for token in [token for token in counts if token not in bare]:
        terms, capitalised = known.get(token) or _token(token)
        if terms:
            count = counts[token]
            initial = starts.get(token, 0) if capitalised else count
            weight = initial + (count - initial) * grouping.name_weight
            for term in terms:
                weights[term] += weight
    return weights


def _terms(text: str) -> set[str]:
    return {term for token in text.split() for term in (_TOKENS.get(token) or _token(token))[0]}


def _names(text: str) -> set[str]:
    """Terms of the words written capitalised inside a sentence of `text`: names and places."""
    tokens = text.split()
    starts = set(_SENTENCE_START.findall(" ".join(tokens)))
    starts.update(tokens[:1])
    names = set()
    for token in set(tokens) - starts:
        terms, capitalised = _TOKENS.get(token) or _token(token)
        if capitalised:
            names.update(terms)
    return names


def new_development(current: Sequence[Report], sent: Sequence[Report]) -> frozenset[str]:
    """What the current articles of a story add to those already sent: the numbers and names
    of their titles (a name: a word the article itself writes capitalised inside a sentence)
    found nowhere in the sent articles' titles and texts. "Toll rises to 12", "Felipe visits":
    a new development; the same event retold in other words: nothing (an update)."""
    known = set().union(*(_terms(f"{r.title} {r.text}") for r in sent))
    new = set()
    for report in current:
        names = _names(report.text)
        new |= {term for term in _terms(report.title) if term[0].isdigit() or term in names} - known
    return frozenset(new)


def vectors(reports: Sequence[Report], grouping: Grouping = Grouping()) -> csr_matrix:
    """Unit TF-IDF vectors (sublinear TF) of the reports' salient terms, as the rows of one
    sparse matrix (columns: term ids; each row's terms in the order its report gave them).

    IDF comes from the batch, read as if it had `idf_batch` articles: a larger batch's document
    frequencies are scaled down to that size, so the weight of a word seen in 5% of the articles
    does not depend on whether the edition has 150 or 10,000 of them (nor does the threshold);
    a smaller batch counts the missing articles as having none of its words, so that two
    reports alone in a batch are compared on their words rather than on the little the
    batch can tell about them.
    """
    # Each report's weights go straight into flat arrays (term ids, weights, row lengths): a
    # dict per report kept for the whole batch would hold about ten times their memory.
    n, size, ids = len(reports), grouping.idf_batch, {}
    found, weighed, lengths = array("i"), array("d"), array("q")
    for report in reports:
        weights = term_weights(report, grouping)
        found.extend(ids.setdefault(term, len(ids)) for term in weights)
        weighed.extend(weights.values())
        lengths.append(len(weights))
    terms, values = np.frombuffer(found, dtype=np.int32), np.frombuffer(weighed, dtype=np.float64)
    rows = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(lengths, dtype=np.int64))
    scale = min(1.0, size / max(n, 1))
    idf = np.log((size + 1) / (np.bincount(terms, minlength=len(ids)) * scale + 0.5))
    keep = idf[terms] > 0
    terms, rows, values = terms[keep], rows[keep], values[keep]
    del found, weighed  # the arrays under the views just replaced
    np.log(values, out=values)
    values += 1.0
    values *= idf[terms]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n))
    values /= np.where(norms > 0, norms, 1.0)[rows]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n)))).astype(np.int64)
    return csr_matrix((values, terms, indptr), shape=(n, len(ids)))


def candidate_pairs(matrix: csr_matrix, grouping: Grouping = Grouping()) -> np.ndarray:
    """Pairs (i < j), one row each, sharing one of either's `block_terms` heaviest terms
    (of unit TF-IDF vectors: the rarest and most repeated).

    Each article joins at most `block_terms` blocks, and blocks over `max_block` articles are
    dropped, so the work grows linearly with the batch.
    """
    rows, terms = [], []
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        top = np.argsort(-matrix.data[start:end], kind="stable")[: grouping.block_terms]
        terms.append(matrix.indices[start:end][top])
        rows.append(np.full(len(top), i, dtype=np.int64))
    if not terms:
        return np.empty((0, 2), dtype=np.int64)
    term, row = np.concatenate(terms), np.concatenate(rows)
    order = np.lexsort((row, term))
    term, row = term[order], row[order]
    bounds = np.flatnonzero(np.diff(term)) + 1
    n, pairs, upper = matrix.shape[0], [], {}
    for members in np.split(row, bounds):
        if 1 < len(members) <= grouping.max_block:
            a, b = upper.get(len(members)) or upper.setdefault(len(members), np.triu_indices(len(members), k=1))
            pairs.append(members[a] * n + members[b])  # one integer a pair: a 1-D unique is fast
    if not pairs:
        return np.empty((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(pairs))
    return np.stack((codes // n, codes % n), axis=1)


def _similar_pairs(matrix: csr_matrix, pairs: np.ndarray, threshold: float) -> list[tuple[float, int, int]]:
    """(cosine, i, j) of the candidate pairs at or over `threshold`, computed as sparse rows
    in chunks: a Python loop over terms would cost more than all the rest of the grouping."""
    out = []
    for start in range(0, len(pairs), _PAIR_CHUNK):
        chunk = pairs[start:start + _PAIR_CHUNK]
        cosines = np.asarray(matrix[chunk[:, 0]].multiply(matrix[chunk[:, 1]]).sum(axis=1)).ravel()
        keep = np.flatnonzero(cosines >= threshold)
        out += [(float(cosines[k]), int(chunk[k, 0]), int(chunk[k, 1])) for k in keep]
    return out


def _link(a: _Story, b: _Story) -> float:
    """Average cosine between the members of two stories."""
    if len(a.terms) > len(b.terms):
        a, b = b, a
    at = np.minimum(np.searchsorted(b.terms, a.terms), len(b.terms) - 1)
    hit = b.terms[at] == a.terms
    return float(a.weights[hit] @ b.weights[at[hit]]) / (len(a.members) * len(b.members))


def _merge(a: _Story, b: _Story) -> None:
    """Fold story b into story a."""
    at = np.searchsorted(a.terms, b.terms)
    hit = at < len(a.terms)
    hit[hit] = a.terms[at[hit]] == b.terms[hit]
    a.weights[at[hit]] += b.weights[hit]  # b's terms are distinct: no index repeats
    a.terms = np.insert(a.terms, at[~hit], b.terms[~hit])
    a.weights = np.insert(a.weights, at[~hit], b.weights[~hit])
    a.members += b.members
    a.countries |= b.countries
    a.earliest = min(filter(None, (a.earliest, b.earliest)), default=None)
    a.latest = max(filter(None, (a.latest, b.latest)), default=None)


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
    matrix = vectors(reports, grouping)
    scored = sorted(_similar_pairs(matrix, candidate_pairs(matrix, grouping), grouping.threshold),
                    key=lambda s: (-s[0], s[1], s[2]))
    rows = matrix.copy()  # each story starts as its article's row, with its terms sorted
    rows.sort_indices()
    bounds = rows.indptr.tolist()
    stories = [_Story([i], rows.indices[bounds[i]:bounds[i + 1]], rows.data[bounds[i]:bounds[i + 1]],
                      r.published, r.published, set(r.countries)) for i, r in enumerate(reports)]
    owner = list(range(len(reports)))
    for _, i, j in scored:
        a, b = stories[owner[i]], stories[owner[j]]
        if a is b or not _compatible(a, b, grouping) or _link(a, b) < grouping.threshold:
            continue
        if len(a.members) < len(b.members):
            a, b = b, a
        _merge(a, b)
        for member in b.members:
            owner[member] = owner[a.members[0]]
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


def stories_of(articles: Sequence[Article], *, countries: Sequence[frozenset[str]] | None = None,
               earlier: Sequence[tuple[str, Article]] = (), preferred: Sequence[str] = (),
               grouping: Grouping = Grouping()) -> list[Story]:
    """The edition's stories, in the order of their first article in `articles`.

    `countries` (one set per article) are where they are located, if known; `earlier` holds
    (edition id, article) of articles already sent: a story that takes one of them in is an
    update of the earliest such edition, unless its titles bring a `new_development` (then it
    is shown as new); only this edition's articles are shown in it.
    """
    countries = list(countries) if countries is not None else [frozenset()] * len(articles)
    reports = [Report(a.title, a.text, a.published or a.first_seen, c) for a, c in zip(articles, countries, strict=True)]
    reports += [Report(a.title, a.text, a.published or a.first_seen) for _, a in earlier]
    out = []
    for members in group(reports, grouping):  # ordered by first member: this edition's come first
        current = [articles[i] for i in members if i < len(articles)]
        if current:
            sent = sorted(earlier[i - len(articles)][0] for i in members if i >= len(articles))
            if sent and new_development([reports[i] for i in members if i < len(articles)],
                                        [reports[i] for i in members if i >= len(articles)]):
                sent = []  # a new development is news, not an update
            out.append(Story(tuple(face_order(current, preferred)), sent[0] if sent else None))
    return out
