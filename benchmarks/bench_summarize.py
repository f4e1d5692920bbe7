"""Summary quality (ROUGE) and speed: Lead-k, every sumy algorithm, and our default, side by side.

Two dev sets from ../shared/data:
  * summaries-dev/bbc_dev.jsonl — 3-sentence summaries against the (machine-extractive) reference:
    ROUGE-1, ROUGE-2 and ROUGE-Lsum F1 with stemming (sentences joined by newlines for Lsum).
    The title is given to our default (it is in the digest too); sumy's algorithms take no title.
  * wikinews/articles.jsonl — the headline as a human-written reference: ROUGE-1/2 recall of the
    title by a one-sentence summary; nobody gets the title.
Speed: milliseconds per article and articles per second (one process, so per core) on articles cut
to about 500 words.

    .venv/bin/python benchmarks/bench_summarize.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sumy.summarizers.edmundson import EdmundsonSummarizer  # noqa: E402
from sumy.summarizers.kl import KLSummarizer  # noqa: E402
from sumy.summarizers.lex_rank import LexRankSummarizer  # noqa: E402
from sumy.summarizers.lsa import LsaSummarizer  # noqa: E402
from sumy.summarizers.luhn import LuhnSummarizer  # noqa: E402
from sumy.summarizers.reduction import ReductionSummarizer  # noqa: E402
from sumy.summarizers.sum_basic import SumBasicSummarizer  # noqa: E402
from sumy.summarizers.text_rank import TextRankSummarizer  # noqa: E402
from sumy.utils import get_stop_words  # noqa: E402

from digest.summarize import build_document, make_summarizer, split_sentences, summarize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BBC = SHARED / "summaries-dev" / "bbc_dev.jsonl"
WIKINEWS = SHARED / "wikinews" / "articles.jsonl"
LANGUAGE = "english"
SPEED_WORDS = 500

# Edmundson's cue method needs bonus and stigma words; news cue words (what happened, who said it)
# and hedges/asides. Its title and location methods need null (stop) words.
EDMUNDSON_BONUS = ("said", "says", "announced", "reported", "confirmed", "agreed", "killed", "won",
                   "first", "new", "government", "president", "minister", "officials", "police")
EDMUNDSON_STIGMA = ("however", "meanwhile", "perhaps", "maybe", "also", "although", "example",
                    "interview", "click", "photo", "read")

Summarizer = Callable[[str, str | None, int], list[str]]


def paragraphs(text: str) -> list[list[str]]:
    return [split_sentences(p, LANGUAGE) for p in text.split("\n\n") if p.strip()]


def lead(text: str, title: str | None, count: int) -> list[str]:
    return split_sentences(text, LANGUAGE)[:count]


def sumy_method(cls: type) -> Summarizer:
    summarizer = make_summarizer(cls, LANGUAGE)
    if cls is EdmundsonSummarizer:
        summarizer.bonus_words = EDMUNDSON_BONUS
        summarizer.stigma_words = EDMUNDSON_STIGMA
        summarizer.null_words = get_stop_words(LANGUAGE)

    def run(text: str, title: str | None, count: int) -> list[str]:
        return [str(s) for s in summarizer(build_document(paragraphs(text), LANGUAGE), count)]

    return run


def ours(with_title: bool) -> Summarizer:
    def run(text: str, title: str | None, count: int) -> list[str]:
        return summarize(text, title=title if with_title else None, sentences=count, language="en")

    return run


METHODS: dict[str, Summarizer] = {
    "Lead": lead,
    "LexRank": sumy_method(LexRankSummarizer),
    "TextRank": sumy_method(TextRankSummarizer),
    "LSA": sumy_method(LsaSummarizer),
    "Luhn": sumy_method(LuhnSummarizer),
    "SumBasic": sumy_method(SumBasicSummarizer),
    "KL": sumy_method(KLSummarizer),
    "Reduction": sumy_method(ReductionSummarizer),
    "Edmundson": sumy_method(EdmundsonSummarizer),
    "default (no title)": ours(with_title=False),
    "default": ours(with_title=True),
}


def load(path: Path, limit: int | None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def spread(rows: list[dict], limit: int) -> list[dict]:
    """An even sample across the file (the BBC set is sorted by category)."""
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


def speed_articles(rows: list[dict], count: int) -> list[str]:
    """Articles of about SPEED_WORDS words, cut at paragraph ends from the dev texts in a stream."""
    articles, current, words = [], [], 0
    for row in rows * 4:
        for para in row["text"].split("\n\n"):
            current.append(para)
            words += len(para.split())
            if words >= SPEED_WORDS:
                articles.append("\n\n".join(current))
                current, words = [], 0
                if len(articles) == count:
                    return articles
    return articles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a sample of each set (well under a minute)")
    args = parser.parse_args()
    if not BBC.exists() or not WIKINEWS.exists():
        print(f"skipped: {SHARED} is not beside this clone")
        return 0

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    bbc = load(BBC, None)
    wikinews = load(WIKINEWS, None)
    if args.quick:
        bbc, wikinews = spread(bbc, 60), spread(wikinews, 60)
    speed_set = speed_articles(bbc, 40 if args.quick else 200)
    mean_words = statistics.mean(len(a.split()) for a in speed_set)

    results = {}
    for name, method in METHODS.items():
        r1 = r2 = rl = 0.0
        for row in bbc:
            got = method(row["text"], row["title"], 3)
            s = scorer.score("\n".join(row["reference"]), "\n".join(got))
            r1, r2, rl = r1 + s["rouge1"].fmeasure, r2 + s["rouge2"].fmeasure, rl + s["rougeLsum"].fmeasure
        h1 = h2 = 0.0
        for row in wikinews:
            got = method(row["text"], None, 1)
            s = scorer.score(row["title"], " ".join(got))
            h1, h2 = h1 + s["rouge1"].recall, h2 + s["rouge2"].recall
        start = time.perf_counter()
        for text in speed_set:
            method(text, None, 2)
        ms = (time.perf_counter() - start) / len(speed_set) * 1000
        results[name] = (r1 / len(bbc), r2 / len(bbc), rl / len(bbc), h1 / len(wikinews),
                         h2 / len(wikinews), ms)

    lead3_r2, lead1_h1 = results["Lead"][1], results["Lead"][3]
    print(f"BBC dev: {len(bbc)} articles, 3 sentences (Lead = Lead-3); "
          f"Wikinews: {len(wikinews)} headlines, 1 sentence (Lead = Lead-1); "
          f"speed: {len(speed_set)} articles of ~{mean_words:.0f} words, 2 sentences, one process\n")
    print("| method | BBC R-1 F1 | BBC R-2 F1 | BBC R-Lsum F1 | headline R-1 recall | headline R-2 recall "
          "| ms/article | articles/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (r1, r2, rl, h1, h2, ms) in results.items():
        print(f"| {name} | {r1:.4f} | {r2:.4f} | {rl:.4f} | {h1:.4f} | {h2:.4f} | {ms:.2f} | {1000 / ms:.0f} |")
    r2, h1, ms = results["default"][1], results["default"][3], results["default"][5]
    print(f"\ndefault vs Lead-3 on BBC ROUGE-2 F1: {r2:.4f} / {lead3_r2:.4f} = {r2 / lead3_r2:.3f} "
          f"({'meets' if r2 >= lead3_r2 else 'MISSES'} target)")
    print(f"default vs Lead-1 on headline ROUGE-1 recall: {h1:.4f} / {lead1_h1:.4f} = {h1 / lead1_h1:.3f} "
          f"({'meets' if h1 >= lead1_h1 else 'MISSES'} target)")
    print(f"default speed: {1000 / ms:.0f} articles/s on one core "
          f"({'meets' if 1000 / ms >= 100 else 'MISSES'} the 100/s target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
