"""Extraction quality and speed on ../shared/data/extraction-dev (real pages, expected text).

Prints token-level bag-of-words precision/recall/F1 of the extracted body against the
expected text (as article-extraction benchmarks do; CJK/Thai/Burmese are counted per
character since they have no spaces) and pages per second, for several trafilatura
settings side by side: the project's default, fast mode, and the plain library defaults
as the baseline.

    .venv/bin/python benchmarks/bench_extract.py [--quick]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.extract import EXTRACTION_SETTINGS, ExtractError, extract_html  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "extraction-dev"
# Scripts written without spaces between words: each character is a token.
_UNSPACED = r"\u0e00-\u0e7f\u1000-\u109f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_UNSPACED}]|[^\W{_UNSPACED}]+", re.UNICODE)


def tokens(text: str) -> Counter[str]:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def prf(got: str, expected: str) -> tuple[float, float, float]:
    g, e = tokens(got), tokens(expected)
    common = sum((g & e).values())
    p = common / sum(g.values()) if g else 0.0
    r = common / sum(e.values()) if e else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def load_pages(quick: bool) -> list[tuple[str, str, str | None, str]]:
    pages = []
    for line in (DATA / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("duplicate_html_of"):
            continue  # the same HTML as another page: count it once
        with gzip.open(DATA / entry["html"], "rt", encoding="utf-8") as f:
            html = f.read()
        expected = (DATA / entry["txt"]).read_text(encoding="utf-8")
        pages.append((entry["stem"], html, entry.get("url"), expected))
    if quick:
        pages = [p for p in pages if len(p[1]) < 400_000][:8]
    return pages


def run(name: str, extract, pages) -> dict[str, float]:  # noqa: ANN001
    scores, failures = [], 0
    start = time.perf_counter()
    for stem, html, url, expected in pages:
        try:
            text = extract(html, url)
        except ExtractError:
            text, failures = "", failures + 1
        scores.append((stem, *prf(text, expected)))
    elapsed = time.perf_counter() - start
    n = len(scores)
    result = {"P": sum(s[1] for s in scores) / n, "R": sum(s[2] for s in scores) / n,
              "F1": sum(s[3] for s in scores) / n, "pages/s": n / elapsed, "failed": failures,
              "worst": sorted(scores, key=lambda s: s[3])[:3]}
    print(f"{name:<34} P={result['P']:.3f} R={result['R']:.3f} F1={result['F1']:.3f} "
          f"{result['pages/s']:6.1f} pages/s  failed={failures}  "
          f"worst: {', '.join(f'{s[0]} {s[3]:.2f}' for s in result['worst'])}")
    return result


def library(**kwargs):  # noqa: ANN003, ANN201
    def extract(html: str, url: str | None) -> str:
        return trafilatura.extract(html, url=url, **kwargs) or ""
    return extract


def project(fast: bool):  # noqa: ANN201
    return lambda html, url: extract_html(html, url=url, fast=fast).text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a handful of small pages, one pass")
    ap.add_argument("--all-settings", action="store_true", help="also try precision/recall variants")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return
    pages = load_pages(args.quick)
    print(f"{len(pages)} pages from {DATA}; project settings: {EXTRACTION_SETTINGS}")
    base = run("baseline: trafilatura defaults", library(), pages)
    default = run("project default (fast=False)", project(False), pages)
    fast = run("project fast mode (fast=True)", project(True), pages)
    if args.all_settings:
        run("library favor_precision", library(favor_precision=True), pages)
        run("library favor_precision, no comments", library(favor_precision=True, include_comments=False), pages)
        run("library fast, favor_precision", library(fast=True, favor_precision=True), pages)
        run("library favor_recall", library(favor_recall=True), pages)
        run("library favor_recall, no comments", library(favor_recall=True, include_comments=False), pages)
        run("library no comments", library(include_comments=False), pages)
        run("library fast, favor_recall", library(fast=True, favor_recall=True, include_comments=False), pages)
    print(f"default vs baseline: F1 {default['F1'] - base['F1']:+.3f}, speed x{default['pages/s'] / base['pages/s']:.2f}")
    print(f"fast vs default:     F1 {fast['F1'] - default['F1']:+.3f}, speed x{fast['pages/s'] / default['pages/s']:.2f}")


if __name__ == "__main__":
    main()
