"""The gazetteer's answers to the geoparser's scan, remembered across stories."""

from __future__ import annotations

import functools
from itertools import repeat

from digest.gazetteer import Gazetteer, LocalPlace, Place, normal

# The gazetteer's answers, remembered in plain dicts (one a question, per index): toponyms._scan asks
# them for each of a story's ~95 capitalised words and ~40 spans, and a dict lookup, done by map for
# all words at once, costs a fraction of an lru_cache hit and of the Python calls behind an answer.
# Bounded: a dict that reaches ANSWERS_HELD is emptied.
ANSWERS_HELD = 100_000
_UNASKED = object()


@functools.lru_cache(maxsize=4)
def answers(gaz: Gazetteer) -> tuple[dict[str, int | None], dict[str, bool],
                                     dict[str, tuple[Place | None, tuple[LocalPlace, ...]]]]:
    """The remembered answers of `tokens_after`, `starts_name` and the meanings of a name."""
    return {}, {}, {}


def _remember(memo: dict, key: str, answer):
    if len(memo) >= ANSWERS_HELD:
        memo.clear()
    memo[key] = answer
    return answer


def tokens_after(gaz: Gazetteer, words: list[str]) -> list[int | None]:
    """gaz.tokens_after of each word."""
    memo = answers(gaz)[0]
    mosts = list(map(memo.get, words, repeat(_UNASKED)))
    if _UNASKED in mosts:
        mosts = [_remember(memo, word, gaz.tokens_after(word)) if most is _UNASKED else most
                 for word, most in zip(words, mosts)]
    return mosts


def starts_name(gaz: Gazetteer, memo: dict[str, bool], prefix: str) -> bool:
    # as for a span: only "’" or a double space make normal() change a run's first tokens
    return _remember(memo, prefix, gaz.starts_name(normal(prefix) if "’" in prefix or "  " in prefix else prefix))


def meanings(gaz: Gazetteer, memo: dict, name: str) -> tuple[Place | None, tuple[LocalPlace, ...]]:
    return _remember(memo, name, (gaz.core.get(name), gaz.local(name)))
