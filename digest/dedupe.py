"""The same story from several outlets: same URL, same text or near-copies fold into one Article.

Near-copies are found with MinHash LSH over word 5-shingles (candidate pairs), each pair then
checked on its exact shingle sets; the first article seen is kept and lists the others'
outlets in `also_reported_by`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import replace

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
    # MB): an earlier article's is made again only for an LSH candidate pair, which is rare.
    # Near-copy joins only ever re-parent the current index, so which articles are roots (and
    # signed) does not depend on them; MinHash.generator shares one set of permutations.
    signed: list[tuple[int, set[str]]] = []

    def to_sign() -> Iterator[list[bytes]]:
        for i, article in enumerate(articles):
            if root(i) == i and len(shingle_set := shingles(article.text)) >= MIN_SHINGLES:
                signed.append((i, shingle_set))
                yield [s.encode("utf-8") for s in shingle_set]

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    for signature in MinHash.generator(to_sign(), num_perm=NUM_PERM):
        i, shingle_set = signed.pop()
        for j in lsh.query(signature):
            if root(j) != root(i) and is_near_copy(shingle_set, shingles(articles[j].text)):
                join(j, i)
        lsh.insert(i, signature)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    return [_fold(articles[g[0]], (articles[i] for i in g[1:])) for g in groups.values()]


def _fold(kept: Article, others: Iterable[Article]) -> Article:
    outlets = list(kept.also_reported_by)
    for other in others:
        outlets += [other.source, *other.also_reported_by]
    outlets = [o for o in dict.fromkeys(outlets) if o != kept.source]
    return replace(kept, also_reported_by=tuple(outlets)) if outlets else kept
