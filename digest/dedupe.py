"""The same story from several outlets: same URL, same text or near-copies fold into one Article.

Near-copies are found with MinHash LSH over word 5-shingles (candidate pairs), each pair then
checked on its exact shingle sets; the first article seen is kept and lists the others'
outlets in `also_reported_by`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np
from datasketch import MinHash, MinHashLSH

from digest.models import Article

SHINGLE_WORDS = 5
MIN_SHINGLES = 20  # below this a text is too short to call a near-copy; only exact copies fold
NUM_PERM = 128
LSH_THRESHOLD = 0.3  # candidate pairs; each is then checked on the exact shingle sets
NEAR_JACCARD = 0.45  # the same text with small edits
NEAR_CONTAINMENT = 0.75  # one text mostly inside the other (a trimmed or extended copy)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i:i + k]) for i in range(max(0, len(words) - k + 1))}


def is_near_copy(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return False
    common = len(a & b)
    union = len(a) + len(b) - common  # no union set built: this runs for every LSH candidate pair
    return common / union >= NEAR_JACCARD or common / min(len(a), len(b)) >= NEAR_CONTAINMENT


def deduplicate(articles: list[Article]) -> list[Article]:
    """One item per story: same URL, same text or near-copies fold into the first one seen,
    which lists the other outlets in `also_reported_by`. Order is kept."""
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_by_key: dict[str, int] = {}
    for i, article in enumerate(articles):
        for key in (article.url, article.content_hash):
            if key in first_by_key:
                join(first_by_key[key], i)
            else:
                first_by_key[key] = i
    # Shingle sets are made one article at a time and not kept (10,000 of them hold hundreds of
    # MB): one is made again only for an LSH candidate pair, which is rare. Only the MinHash
    # bands are kept, in one array: MinHashLSH's tables (a set per band and article) held
    # ~100 MB at 10,000. The articles signed are those left by the exact folding above.
    signed: list[int] = []

    def to_sign() -> Iterator[list[bytes]]:
        for i, article in enumerate(articles):
            if root(i) == i and len(shingle_set := shingles(article.text)) >= MIN_SHINGLES:
                signed.append(i)
                yield [s.encode("utf-8") for s in shingle_set]

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)  # for its banding (b bands of r rows)
    used = lsh.b * lsh.r
    bands = np.array([m.hashvalues[:used] for m in MinHash.generator(to_sign(), num_perm=NUM_PERM)],
                     dtype=np.uint64).reshape(-1, lsh.b, lsh.r)
    current: tuple[int, set[str]] = (-1, set())
    for p, q in _band_pairs(bands):  # q's shingles are reused across its candidates (q ascending)
        i, j = signed[q], signed[p]
        if current[0] != i:
            current = (i, shingles(articles[i].text))
        if root(j) != root(i) and is_near_copy(current[1], shingles(articles[j].text)):
            join(j, i)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    return [_fold(articles[g[0]], (articles[i] for i in g[1:])) for g in groups.values()]


def _band_pairs(bands: np.ndarray) -> list[tuple[int, int]]:
    """(p, q), p < q, of the rows of `bands` (signature, band, row) equal in at least one
    band, ordered by q then p: the candidates MinHashLSH's query would give, without its tables."""
    pairs: set[tuple[int, int]] = set()
    for band in range(bands.shape[1]):
        values = bands[:, band, :]
        order = np.lexsort(values.T[::-1])
        ordered = values[order]
        starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1), True])
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            if b - a > 1:
                same = sorted(order[a:b].tolist())
                pairs.update((x, y) for k, y in enumerate(same) for x in same[:k])
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


def _fold(kept: Article, others: Iterable[Article]) -> Article:
    outlets = list(kept.also_reported_by)
    for other in others:
        outlets += [other.source, *other.also_reported_by]
    outlets = [o for o in dict.fromkeys(outlets) if o != kept.source]
    return replace(kept, also_reported_by=tuple(outlets)) if outlets else kept
