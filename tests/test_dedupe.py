"""Near-copy candidates: the banding over one array finds the pairs MinHashLSH itself would."""

from __future__ import annotations

import random

import numpy as np
from datasketch import MinHash, MinHashLSH

from digest.dedupe import LSH_THRESHOLD, NUM_PERM, _band_pairs, deduplicate
from digest.models import Article


def _texts(count: int) -> list[str]:
    """Texts over a small vocabulary, many of them edited copies of an earlier one."""
    rng = random.Random(3)
    vocabulary = [f"w{k}" for k in range(300)]
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.5:
            words = rng.choice(texts).split()
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        else:
            words = rng.choices(vocabulary, k=60)
        texts.append(" ".join(words))
    return texts


def test_band_pairs_are_the_candidates_minhash_lsh_queries_give() -> None:
    minhashes = list(MinHash.generator([[w.encode() for w in set(t.split())] for t in _texts(300)], num_perm=NUM_PERM))
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    expected = set()
    for q, minhash in enumerate(minhashes):
        expected |= {(p, q) for p in lsh.query(minhash)}
        lsh.insert(q, minhash)
    bands = np.array([m.hashvalues[:lsh.b * lsh.r] for m in minhashes]).reshape(-1, lsh.b, lsh.r)
    found = _band_pairs(bands)
    assert expected and set(found) == expected
    assert found == sorted(found, key=lambda pair: (pair[1], pair[0]))


def test_edited_copies_fold_into_the_first_and_distinct_texts_stay() -> None:
    base = " ".join(f"word{k}" for k in range(80))
    edited = base.replace("word40", "changed")
    other = " ".join(f"other{k}" for k in range(80))
    articles = [Article(f"https://n/{k}", f"T{k}", text, source=f"S{k}") for k, text in enumerate((base, other, edited))]
    folded = deduplicate(articles)
    assert [(a.url, a.also_reported_by) for a in folded] == [("https://n/0", ("S2",)), ("https://n/1", ())]


def test_no_articles_fold_to_none() -> None:
    assert deduplicate([]) == []
