"""The named summarizers a run can choose from (`[edition] summarizer`, `digest summarize --summarizer`).

To add one, add a line to SUMMARIZERS: its name and where its implementation lives. The
implementation is imported only when its name is chosen, so this module stays light enough for
the config and the batch command to import, and a summarizer's own dependencies (numpy, for
sumy's graph and LSA rankers) cost nothing to runs that use another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

DEFAULT = "news"
SUMMARIZERS: dict[str, str] = {
    "news": "digest.summarize:NEWS",          # lede, then what adds most (digest.scoring); the default
    "lead": "digest.summarize:LEAD",          # the first sentences: the baseline news is measured against
    "lexrank": "digest.summarize:LEXRANK",    # sumy's rankers over the same sentences, stemmer and stop words
    "textrank": "digest.summarize:TEXTRANK",
    "lsa": "digest.summarize:LSA",
}


@dataclass(frozen=True)
class Summarizer:
    """`summarize(text, title, sentences, language)` gives the article's own sentences, verbatim, in
    article order; `key()` names the algorithm, its version, settings and data (for the cache)."""

    summarize: Callable[[str, str | None, int, str | None], list[str]]
    key: Callable[[], str]


def check_name(name: str) -> str:
    if name not in SUMMARIZERS:
        raise ValueError(f"unknown summarizer {name!r} (offered: {', '.join(sorted(SUMMARIZERS))})")
    return name


def get_summarizer(name: str = DEFAULT) -> Summarizer:
    """The implementation registered as `name` (ValueError naming those offered if there is none)."""
    module, _, attribute = SUMMARIZERS[check_name(name)].partition(":")
    return getattr(import_module(module), attribute)
