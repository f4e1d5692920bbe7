"""Extraction quality and speed on ../shared/data/extraction-dev (real pages, expected text).

Prints token-level bag-of-words precision/recall/F1 of the extracted body against the
expected text (as article-extraction benchmarks do; CJK/Thai/Burmese are counted per
character since they have no spaces) and CPU milliseconds per page, side by side in one
run: the project's method (fallback extractors and the deep date search only when the
quick path comes up short), main's method before it (every fallback and the deep date
search on every page), fast mode, the project's method given the page as bytes (as collection
gives it; the other rows get a str), and the plain library defaults as the baseline. F1 is
also given for two halves of the pages (alternate pages by name), as a check that nothing
is fitted to one of them.

The project's modules make trafilatura's regular-expression tests cheaper (`digest/regex_xpaths.py`,
the same matches) for the whole process, so the library rows here run them so too: to see that
change, compare the project's rows of runs from two trees.

CPU time is per page the least of --repeats runs (the machine is shared: the least is the
one least disturbed by other processes), methods interleaved page by page.

    .venv/bin/python benchmarks/bench_extract.py [--quick] [--repeats N]
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
from trafilatura.utils import load_html

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest import extract as project_extract  # noqa: E402
from digest import main_text as project_main_text  # noqa: E402
from digest.extract import EXTRACTION_SETTINGS, ExtractError, extract_html  # noqa: E402
from digest.page_metadata import DATE_PARAMS  # noqa: E402

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


# Each page's file as bytes, as collection hands pages over (fetched, undecoded), keyed by its text.
AS_FETCHED: dict[str, bytes] = {}


def load_pages(quick: bool) -> list[tuple[str, str, str | None, str]]:
    pages = []
    for line in (DATA / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("duplicate_html_of"):
            continue  # the same HTML as another page: count it once
        with gzip.open(DATA / entry["html"]) as f:
            raw = f.read()
        html = raw.decode("utf-8")
        AS_FETCHED[html] = raw
        expected = (DATA / entry["txt"]).read_text(encoding="utf-8")
        pages.append((entry["stem"], html, entry.get("url"), expected))
    if quick:
        pages = [p for p in pages if len(p[1]) < 400_000][:8]
    return pages


def library(**kwargs):  # noqa: ANN003, ANN201
    def extract(html: str, url: str | None) -> str:
        return trafilatura.extract(html, url=url, **kwargs) or ""
    return extract


def project(fast: bool):  # noqa: ANN201
    return lambda html, url: extract_html(html, url=url, fast=fast).text


def as_fetched(fast: bool):  # noqa: ANN201
    return lambda html, url: extract_html(AS_FETCHED[html], url=url, fast=fast).text


def main_method(html: str, url: str | None) -> str:
    """extract_html as on main before the quick path: trafilatura's whole cascade with its
    metadata and the deep date search, on every page."""
    doc = trafilatura.bare_extraction(load_html(html), url=url, with_metadata=True, fast=False,
                                      date_extraction_params=DATE_PARAMS, **EXTRACTION_SETTINGS)
    if doc is None:
        raise ExtractError(url or "<html>")
    return project_extract._tidy(doc.text, drop_first=(doc.title or "").strip())


def measure(methods: dict, pages, repeats: int) -> dict[str, dict]:  # noqa: ANN001
    """Scores and the least CPU time of `repeats` runs, per page, methods interleaved."""
    results = {name: {"scores": [], "ms": [], "failed": 0} for name in methods}
    for stem, html, url, expected in pages:
        for name, extract in methods.items():
            best = float("inf")
            for _ in range(repeats):
                start = time.process_time()
                try:
                    text = extract(html, url)
                except ExtractError:
                    text = None
                best = min(best, time.process_time() - start)
            results[name]["ms"].append(best * 1000)
            results[name]["failed"] += text is None
            results[name]["scores"].append((stem, *prf(text or "", expected)))
    return results


def report(name: str, result: dict) -> None:
    scores, n = result["scores"], len(result["scores"])
    mean = [sum(s[i] for s in scores) / n for i in (1, 2, 3)]
    halves = [sum(s[3] for s in scores[h::2]) / len(scores[h::2]) for h in (0, 1)]
    worst = sorted(scores, key=lambda s: s[3])[:3]
    print(f"{name:<44} P={mean[0]:.3f} R={mean[1]:.3f} F1={mean[2]:.3f} (halves {halves[0]:.3f} / {halves[1]:.3f}) "
          f"{sum(result['ms']) / n:6.1f} ms CPU/page (median {sorted(result['ms'])[n // 2]:.1f})  "
          f"failed={result['failed']}  worst: {', '.join(f'{s[0]} {s[3]:.2f}' for s in worst)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a handful of small pages, one run each")
    ap.add_argument("--repeats", type=int, help="runs per page and method (least CPU time kept); 3, or 1 with --quick")
    ap.add_argument("--all-settings", action="store_true", help="also try precision/recall variants")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return
    pages = load_pages(args.quick)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"{len(pages)} pages from {DATA}; project settings: {EXTRACTION_SETTINGS}; least of {repeats} runs")
    fallbacks = []
    needs_fallback = project_main_text.needs_fallback

    def counted(doc, tree):  # noqa: ANN001, ANN202
        fallbacks.append(needs_fallback(doc, tree))
        return fallbacks[-1]

    methods = {"baseline: trafilatura defaults": library(),
               "main: every fallback, deep date search": main_method,
               "project: fallbacks only when short": project(False),
               "project fast mode (fast=True)": project(True),
               "project, the page as bytes (as collected)": as_fetched(False)}
    if args.all_settings:
        methods |= {"library favor_precision": library(favor_precision=True),
                    "library favor_precision, no comments": library(favor_precision=True, include_comments=False),
                    "library fast, favor_precision": library(fast=True, favor_precision=True),
                    "library favor_recall": library(favor_recall=True),
                    "library favor_recall, no comments": library(favor_recall=True, include_comments=False),
                    "library no comments": library(include_comments=False),
                    "library fast, favor_recall": library(fast=True, favor_recall=True, include_comments=False)}
    for html, url in ((p[1], p[2]) for p in pages[:3]):  # imports and caches warm before timing
        for extract in methods.values():
            extract(html, url)
    project_main_text.needs_fallback = counted
    try:
        results = measure(methods, pages, repeats)
    finally:
        project_main_text.needs_fallback = needs_fallback
    for name, result in results.items():
        report(name, result)
    ran = sum(fallbacks) // (2 * repeats)  # one decision per page and run in each of the two default-mode rows
    base, old, new = (results[k] for k in list(methods)[:3])
    f1 = {k: sum(s[3] for s in r["scores"]) / len(r["scores"]) for k, r in (("base", base), ("old", old), ("new", new))}
    ms = {k: sum(r["ms"]) / len(r["ms"]) for k, r in (("base", base), ("old", old), ("new", new))}
    print(f"project: fallback extractors ran on {ran} of {len(pages)} pages")
    print(f"project vs main:     F1 {f1['new'] - f1['old']:+.3f}, CPU x{ms['new'] / ms['old']:.2f}")
    print(f"project vs baseline: F1 {f1['new'] - f1['base']:+.3f}, CPU x{ms['new'] / ms['base']:.2f}")


if __name__ == "__main__":
    main()
