"""Summary quality against the lead, speed and start-up, side by side in one run.

Quality, each set split in two halves by a hash of the article id (A: where weights were tuned,
B: held out), every figure beside its baseline:
  * headline as the human reference, title hidden from the summarizer, on wikinews/articles.jsonl
    summaries-dev/bbc_dev.jsonl and geoparsing-dev/lgl.jsonl (US local news, whose texts open with
    their headline: it is split off and hidden, the text read from ../shared at run time): ROUGE-1 and ROUGE-2 recall of the headline at 1 and 2
    sentences against Lead-1 and Lead-2, and how many of the headline's numbers the summary keeps;
  * summaries-dev/bbc_dev.jsonl references: 3-sentence ROUGE-2 F1 against Lead-3 (a regression
    check; the references are machine-extractive). The title is given, as in the digest.
The judged set (tests/fixtures/summary_judged.toml): share of Wikinews cases whose 2-sentence
summary gives the named fact, with the title (as in the digest) and without, against Lead-2.
Speed: articles/s on one core for ~500-word articles (2 sentences) beside sumy's Reduction rating of
the same sentences (the core of the previous default), ms per article at several lengths (cost
should grow linearly), and the time `digest summarize` takes to answer one line from process start.

    .venv/bin/python benchmarks/bench_summarize.py [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.fact_check import numbers  # noqa: E402
from digest.summarize import build_document, make_summarizer, sentence_ratings, split_sentences, summarize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
BBC = SHARED / "summaries-dev" / "bbc_dev.jsonl"
WIKINEWS = SHARED / "wikinews" / "articles.jsonl"
LGL = SHARED / "geoparsing-dev" / "lgl.jsonl"
JUDGED = ROOT / "tests" / "fixtures" / "summary_judged.toml"
LANGUAGE = "english"

Summarizer = Callable[[str, str | None, int], list[str]]


def lead(text: str, title: str | None, count: int) -> list[str]:
    return split_sentences(text, LANGUAGE)[:count]


def ours(text: str, title: str | None, count: int) -> list[str]:
    return summarize(text, title=title, sentences=count, language="en")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


WORD = re.compile(r"\w+")


def without_headline(row: dict) -> dict:
    """An LGL article with the headline its text opens with split off (hidden from the summarizer).
    The headline's words are matched word by word, since the text spells some differently
    (soft hyphens, "Section | Headline")."""
    wanted = WORD.findall(row["title"])
    found = list(WORD.finditer(row["text"]))[:len(wanted)]
    text = row["text"]
    if [m.group() for m in found] == wanted:
        text = text[found[-1].end():].lstrip(" .:|-")
    return {"id": row["id"], "title": row["title"].strip(), "text": text.strip()}


def half(row: dict) -> str:
    return "A" if hashlib.sha256(row["id"].encode()).digest()[0] % 2 == 0 else "B"


def spread(rows: list[dict], limit: int) -> list[dict]:
    """An even sample across the file (the BBC set is sorted by category)."""
    step = max(1, len(rows) // limit)
    return rows[::step][:limit]


def headline_scores(scorer, rows: list[dict], method: Summarizer, count: int,
                    per_article: dict[str, float] | None = None) -> dict[str, tuple]:
    """Per half: (mean R-1 recall, mean R-2 recall, headline numbers kept, headline numbers, articles).
    Each article's R-1 recall goes into `per_article` (by id) when it is given."""
    sums: dict[str, list[float]] = {}
    for row in rows:
        got = " ".join(method(row["text"], None, count))
        s = scorer.score(row["title"], got)
        if per_article is not None:
            per_article[row["id"]] = s["rouge1"].recall
        wanted = numbers(row["title"])
        for key in (half(row), "all"):
            acc = sums.setdefault(key, [0.0, 0.0, 0, 0, 0])
            acc[0] += s["rouge1"].recall
            acc[1] += s["rouge2"].recall
            acc[2] += len(wanted & numbers(got))
            acc[3] += len(wanted)
            acc[4] += 1
    return {k: (v[0] / v[4] * 100, v[1] / v[4] * 100, v[2], v[3], v[4]) for k, v in sums.items()}


def reference_scores(scorer, rows: list[dict], method: Summarizer) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for row in rows:
        s = scorer.score("\n".join(row["reference"]), "\n".join(method(row["text"], row["title"], 3)))
        for key in (half(row), "all"):
            acc = sums.setdefault(key, [0.0, 0])
            acc[0] += s["rouge2"].fmeasure
            acc[1] += 1
    return {k: v[0] / v[1] for k, v in sums.items()}


def articles_of(rows: list[dict], words: int, count: int) -> list[str]:
    """Articles of about `words` words, cut at paragraph ends from the dev texts in a stream."""
    articles, current, total = [], [], 0
    for row in rows * 20:
        for para in row["text"].split("\n\n"):
            current.append(para)
            total += len(para.split())
            if total >= words:
                articles.append("\n\n".join(current))
                current, total = [], 0
                if len(articles) == count:
                    return articles
    return articles


def ms_per_article(articles: list[str], method: Callable[[str], object]) -> float:
    start = time.process_time()
    for text in articles:
        method(text)
    return (time.process_time() - start) / len(articles) * 1000


def ours_2(text: str) -> list[str]:
    return summarize(text, sentences=2, language="en")


def reduction_rating(text: str) -> list[float]:
    """sumy's Reduction rating of the article's sentences: what the previous default computed."""
    from sumy.summarizers.reduction import ReductionSummarizer

    document = build_document([split_sentences(p, LANGUAGE) for p in text.split("\n\n")][:40], LANGUAGE)
    return sentence_ratings(make_summarizer(ReductionSummarizer, LANGUAGE), document)


def judged_rate(articles: dict[str, dict], method: Summarizer, with_title: bool) -> tuple[int, int]:
    cases = tomllib.loads(JUDGED.read_text(encoding="utf-8"))["case"]
    right = 0
    for case in cases:
        row = articles[case["id"]]
        summary = " ".join(method(row["text"], row["title"] if with_title else None, 2)).casefold()
        right += all(words.casefold() in summary for words in case["must"])
    return right, len(cases)


CLI_FIRST_LINE = ["-c", "from digest.cli import app; app()", "summarize", "--jsonl"]
LIBRARY_FIRST_SUMMARY = ["-c", "import sys, json; from digest.summarize import summarize; "
                         "print(summarize(json.loads(sys.stdin.readline())['text']))"]


def first_line_seconds(arguments: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds for a fresh process to answer one article."""
    record = json.dumps({"id": 1, "title": "t", "text": "The talks ended on Monday. Delegates left."})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], input=record + "\n", capture_output=True, text=True,
                   check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a sample of each set (well under a minute)")
    args = parser.parse_args()
    if not BBC.exists() or not WIKINEWS.exists():
        print(f"skipped: {SHARED} is not beside this clone")
        return 0

    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2"], use_stemmer=True)
    sets = {"Wikinews": load(WIKINEWS), "BBC": load(BBC)}
    if LGL.exists():
        sets["LGL local"] = [without_headline(row) for row in load(LGL)]
    if args.quick:
        sets = {name: spread(rows, 80) for name, rows in sets.items()}

    print("Headline as reference, title hidden; halves by id hash (A tuned on, B held out).\n")
    print("| set | half | n | sentences | R-1 recall ours / lead | R-2 recall ours / lead "
          "| headline numbers kept ours / lead (of n) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    verdicts, paired = [], []
    for name, rows in sets.items():
        for count in (1, 2):
            mine_each: dict[str, float] = {}
            base_each: dict[str, float] = {}
            mine = headline_scores(scorer, rows, ours, count, mine_each)
            base = headline_scores(scorer, rows, lead, count, base_each)
            paired.append(f"{name}, {count} sentence(s): " + "; ".join(
                f"{key} {sum(mine_each[r['id']] > base_each[r['id']] for r in part)} better / "
                f"{sum(mine_each[r['id']] < base_each[r['id']] for r in part)} worse"
                for key, part in (("A", [r for r in rows if half(r) == "A"]),
                                  ("B", [r for r in rows if half(r) == "B"]))))
            for key in ("A", "B", "all"):
                m, b = mine[key], base[key]
                print(f"| {name} | {key} | {m[4]} | {count} | {m[0]:.2f} / {b[0]:.2f} | {m[1]:.2f} / {b[1]:.2f} "
                      f"| {m[2]} / {b[2]} (of {m[3]}) |")
            m, b = mine["all"], base["all"]
            margin = 1.0 if count == 2 else 0.0
            verdicts.append(f"{name}, {count} sentence(s): R-1 {m[0]:.1f} vs Lead-{count} {b[0]:.1f}"
                            f"{' + 1.0' if margin else ''}: {'meets' if m[0] >= b[0] + margin else 'MISSES'}"
                            + (f"; numbers {m[2]} vs {b[2]}: {'meets' if m[2] > b[2] else 'MISSES'}"
                               if count == 2 else ""))

    # A mean gain that rests on a handful of articles either way is noise, not a better rule.
    print("\nArticles whose headline R-1 recall is above / below the lead's (of the same half):\n"
          + "\n".join(f"- {p}" for p in paired))

    bbc_mine, bbc_lead = reference_scores(scorer, sets["BBC"], ours), reference_scores(scorer, sets["BBC"], lead)
    print("\nBBC references, 3 sentences, ROUGE-2 F1 (title given): "
          + "; ".join(f"{k} {bbc_mine[k]:.4f} vs Lead-3 {bbc_lead[k]:.4f}" for k in ("A", "B", "all")))
    verdicts.append(f"BBC 3-sentence R-2 F1 {bbc_mine['all']:.4f} vs Lead-3 {bbc_lead['all']:.4f}: "
                    f"{'meets' if bbc_mine['all'] >= bbc_lead['all'] else 'MISSES'}")

    wikinews_by_id = {row["id"]: row for row in load(WIKINEWS)}
    rates = {(name, titled): judged_rate(wikinews_by_id, method, titled)
             for name, method in (("ours", ours), ("Lead-2", lead)) for titled in (True, False)}
    total = rates[("ours", True)][1]
    print(f"\nJudged set ({total} Wikinews cases, 2 sentences): "
          + "; ".join(f"{name} {'with' if titled else 'without'} title {right}/{n} = {right / n:.0%}"
                      for (name, titled), (right, n) in rates.items()))
    right = rates[("ours", True)][0]
    verdicts.append(f"judged set {right}/{total} = {right / total:.0%}: {'meets' if right / total >= 0.9 else 'MISSES'} >= 90%")

    per = 30 if args.quick else 200
    speed_set = articles_of(sets["BBC"], 500, per)
    mean_words = statistics.mean(len(a.split()) for a in speed_set)
    ours_2(speed_set[0]), reduction_rating(speed_set[0])  # warm caches and imports
    ms = ms_per_article(speed_set, ours_2)
    reduction_ms = ms_per_article(speed_set, reduction_rating)
    print(f"\nSpeed (CPU time, one process): {len(speed_set)} articles of ~{mean_words:.0f} words, 2 sentences: "
          f"{ms:.2f} ms/article = {1000 / ms:.0f} articles/s; sumy's Reduction rating of the same sentences "
          f"alone (the previous default's core): {reduction_ms:.2f} ms = {1000 / reduction_ms:.0f}/s")
    lengths = []
    for words in (250, 500, 1000, 2000):
        sample = articles_of(sets["BBC"], words, per // 2)
        lengths.append(f"{words} words {ms_per_article(sample, ours_2):.2f} ms")
    print("Cost by length (ms/article; content is capped at 40 sentences): " + ", ".join(lengths))
    verdicts.append(f"speed {1000 / ms:.0f} articles/s: {'meets' if 1000 / ms >= 300 else 'MISSES'} >= 300")
    runs = 1 if args.quick else 3
    wall, cpu = min(first_line_seconds(CLI_FIRST_LINE) for _ in range(runs))
    library_wall, library_cpu = min(first_line_seconds(LIBRARY_FIRST_SUMMARY) for _ in range(runs))
    print(f"`digest summarize` first line: {wall:.2f} s wall, {cpu:.2f} s CPU; a process importing only "
          f"digest.summarize: {library_wall:.2f} s wall, {library_cpu:.2f} s CPU (best of {runs})")
    verdicts.append(f"first line {wall:.2f} s wall / {cpu:.2f} s CPU: {'meets' if cpu < 0.5 else 'MISSES'} < 0.5 s")
    print("\nTargets:\n" + "\n".join(f"- {v}" for v in verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
