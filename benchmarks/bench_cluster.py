"""Story grouping: B-cubed precision/recall/F1 on ../shared/data/clustering-dev and speed.

Side by side in one run: every article alone, today's near-copy folding
(`digest.dedupe.deduplicate`) and the story grouping (`digest.stories.group`), on the whole
dev set and on its two halves (split by a hash of the event id; the defaults were chosen on
the whole set, so the halves show how much of the figure is fitted). The grouping is also run
with each article's located countries (`digest.regions.locate`, top two), as the pipeline
could pass them. Then: Wikinews articles (../shared/data/wikinews, all different stories, with
their dates), where every merge hides a story; and speed at 1,000 and 10,000 articles made
from the dev articles (each repeat is a new event: its words that are not stop words get a
prefix of their own, so the vocabulary grows as a real one does, and its time moves on by three days), near-copy folding alongside (at the smaller size: it is the slow one).

Speed is also measured on the 2,000 generated articles of bench_flow.py (distinct stories
dealt from the dev sets' sentences), and every speed figure is given for the grouping of a baseline
revision too (`--baseline`, default: the commit before the linear grouping), in the same run.

    .venv/bin/python benchmarks/bench_cluster.py [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import time
import types
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data"
EVENTS = DATA / "clustering-dev" / "events.jsonl"
WIKINEWS = DATA / "wikinews" / "articles.jsonl"
_WORD = re.compile(r"\b[^\W\d_]+")
BASELINE = "fb58864"  # the last commit with the quadratic merge of big stories


def baseline_group(revision: str):
    """`digest.stories.group` as it was at `revision` (read with git, run from memory)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:digest/stories.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("stories_baseline")
    module.__file__ = str(ROOT / "digest" / "stories.py")  # its data files are those of today
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:digest/stories.py", "exec"), module.__dict__)  # noqa: S102
    return module.group


def bcubed(gold: Sequence[object], predicted: Sequence[object]) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1) over items."""
    by_gold, by_pred = defaultdict(set), defaultdict(set)
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        by_gold[g].add(i)
        by_pred[p].add(i)
    precision = recall = 0.0
    for i, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        common = len(by_gold[g] & by_pred[p])
        precision += common / len(by_pred[p])
        recall += common / len(by_gold[g])
    precision, recall = precision / len(gold), recall / len(gold)
    return precision, recall, 2 * precision * recall / (precision + recall)


def labels(groups: list[list[int]], n: int) -> list[int]:
    out = [0] * n
    for k, members in enumerate(groups):
        for i in members:
            out[i] = k
    return out


def half(record: dict) -> int:
    return int(hashlib.sha1(str(record["event"]).encode()).hexdigest(), 16) % 2


def articles_of(records: list[dict]):
    from digest.models import Article

    return [Article(url=f"https://example.org/{r['id']}", title=r["title"], text=r["text"], source=r["id"],
                    published=r.get("published")) for r in records]


def fold_groups(records: list[dict]) -> list[list[int]]:
    """Near-copy folding as groups: each kept article with the articles folded into it."""
    from digest.dedupe import deduplicate

    articles = articles_of(records)
    index = {a.source: i for i, a in enumerate(articles)}
    return [[index[a.source], *(index[name] for name in a.also_reported_by)] for a in deduplicate(articles)]


def story_groups(records: list[dict], countries: list[frozenset[str]] | None = None) -> list[list[int]]:
    from digest.stories import Report, group

    return group([Report(r["title"], r["text"], r.get("published"), countries[i] if countries else frozenset())
                  for i, r in enumerate(records)])


def quality(records: list[dict]) -> None:
    from digest.gazetteer import load_gazetteer
    from digest.regions import load_region_table, locate

    table, gazetteer = load_region_table(), load_gazetteer()
    located = [frozenset(code for code, _ in locate(r["title"], r["text"], table, gazetteer).countries[:2])
               for r in records]
    parts = [("all", list(range(len(records)))),
             *((f"half {h}", [i for i, r in enumerate(records) if half(r) == h]) for h in (0, 1))]
    print("| grouping | " + " | ".join(f"{name} ({len(ix)} articles) F1 (P / R)" for name, ix in parts) + " |")
    print("| --- | " + " | ".join("---" for _ in parts) + " |")
    methods = [
        ("every article alone", lambda rs, cs: [[i] for i in range(len(rs))]),
        ("near-copy folding (today)", lambda rs, cs: fold_groups(rs)),
        ("story grouping", lambda rs, cs: story_groups(rs)),
        ("story grouping + located countries", lambda rs, cs: story_groups(rs, cs)),
    ]
    for name, method in methods:
        cells = []
        for _, ix in parts:
            rs = [records[i] for i in ix]
            p, r, f = bcubed([x["event"] for x in rs], labels(method(rs, [located[i] for i in ix]), len(rs)))
            cells.append(f"{f:.3f} ({p:.3f} / {r:.3f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def wikinews() -> None:
    records = [json.loads(line) for line in WIKINEWS.read_text(encoding="utf-8").splitlines()]
    for r in records:
        r["published"] = datetime.fromisoformat(r["date"]).replace(hour=12, tzinfo=UTC)
    merged = [g for g in story_groups(records) if len(g) > 1]
    print(f"\nWikinews: {len(records)} different stories → {len(records) - sum(len(g) - 1 for g in merged)} "
          f"items; {len(merged)} merges:")
    for g in merged:
        print("  - " + " / ".join(f"{records[i]['date']} {records[i]['title'][:60]}" for i in g))


def scaled(records: list[dict], n: int) -> list[dict]:
    """n articles from the dev set; each repeat is a new event (own words, later time)."""
    from digest.stories import _stop_words

    stop = _stop_words()
    start = datetime(2022, 9, 19, tzinfo=UTC)
    out = []
    for i in range(n):
        r, round_ = records[i % len(records)], i // len(records)
        tag = "".join(chr(ord("a") + int(d)) for d in str(round_)) if round_ else ""

        def edit(text: str, tag: str = tag) -> str:
            return _WORD.sub(lambda m: m[0] if m[0].lower() in stop or not tag else
                             (tag.capitalize() + m[0].lower() if m[0][0].isupper() else tag + m[0]), text)

        out.append({"id": f"{r['id']}-{round_}", "title": edit(r["title"]), "text": edit(r["text"]),
                    "event": f"{r['event']}-{round_}", "published": start + timedelta(days=3 * round_)})
    return out


def flow_reports(n: int) -> list:
    """bench_flow.py's generated articles: distinct stories dealt from the dev sets' sentences."""
    from bench_flow import Deck, _article, sentence_pool

    from digest.stories import Report

    deck = Deck(sentence_pool(), random.Random(20240502))
    return [Report(*_article(deck, k)) for k in range(n)]


def _cpu(fn, *args) -> tuple[float, object]:
    started = time.process_time()
    out = fn(*args)
    return time.process_time() - started, out


def speed(records: list[dict], sizes: list[int], flow_size: int, revision: str) -> None:
    from digest.stories import Report, group

    old_group = baseline_group(revision)
    print(f"\n| articles | near-copy folding s (CPU) | grouping at {revision} s (CPU) | story grouping s (CPU) "
          "| per 1,000 articles | stories | B-cubed F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        batch = scaled(records, n)
        fold = "—"
        if n == sizes[0]:
            fold = f"{_cpu(fold_groups, batch)[0]:.2f}"
        reports = [Report(r["title"], r["text"], r.get("published")) for r in batch]
        old, old_groups = _cpu(old_group, reports)
        seconds, groups = _cpu(group, reports)
        _, _, f = bcubed([r["event"] for r in batch], labels(groups, n))
        _, _, old_f = bcubed([r["event"] for r in batch], labels(old_groups, n))
        print(f"| {n:,} | {fold} | {old:.2f} | {seconds:.2f} | {seconds * 1000 / n:.3f} | "
              f"{len(groups):,} (at {revision}: {len(old_groups):,}) | {f:.3f} (at {revision}: {old_f:.3f}) |")
    reports = flow_reports(flow_size)
    old, old_groups = _cpu(old_group, reports)
    seconds, groups = _cpu(group, reports)
    same = sorted(map(sorted, groups)) == sorted(map(sorted, old_groups))
    print(f"| {flow_size:,} generated (bench_flow) | — | {old:.2f} | {seconds:.2f} | "
          f"{seconds * 1000 / flow_size:.3f} | {len(groups):,} (at {revision}: {len(old_groups):,}) | "
          f"{'the same stories' if same else 'other stories'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="speed at 1,000 and 2,000 articles only")
    parser.add_argument("--baseline", default=BASELINE, help="git revision whose grouping is timed alongside")
    args = parser.parse_args()
    if not EVENTS.exists():
        print(f"skipped: {EVENTS} is not there")
        return
    records = [json.loads(line) for line in EVENTS.read_text(encoding="utf-8").splitlines()]
    quality(records)
    if WIKINEWS.exists():
        wikinews()
    speed(records, [1000, 2000] if args.quick else [1000, 10000], 500 if args.quick else 2000, args.baseline)


if __name__ == "__main__":
    main()
