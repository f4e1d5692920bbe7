"""Collection speed and memory: one feed of N article pages served by a local HTTP server,
fetched, extracted and de-duplicated, with trafilatura's fast mode and the default side by side.

Pages are Wikinews articles (../shared/data/wikinews, CC BY 2.5) wrapped in site chrome,
every tenth one a lightly edited copy from "another outlet" so dedup has work to do. Each
mode runs in its own process so its peak memory (max RSS) is its own.

    .venv/bin/python benchmarks/bench_collect.py [--quick] [--pages N]
"""

from __future__ import annotations

import argparse
import html
import json
import resource
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIKINEWS = ROOT.parent / "shared" / "data" / "wikinews" / "articles.jsonl"
CHROME = ("<nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
          "<aside><h3>Most read</h3><ul>" + "".join(f"<li><a href='/r{i}'>Popular story {i}</a></li>" for i in range(8))
          + "</ul></aside>")


def build_site(n: int) -> dict[str, bytes]:
    stories = [json.loads(line) for line in WIKINEWS.read_text(encoding="utf-8").splitlines()]
    site: dict[str, bytes] = {}
    items = []
    for i in range(n):
        story = stories[i % len(stories)]
        text = story["text"]
        if i % 10 == 9:  # a syndicated copy of the previous story with a new intro line
            story = stories[(i - 1) % len(stories)]
            text = "Wire report. " + story["text"]
        body = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
        site[f"/a/{i}.html"] = (
            f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(story['title'])}</title>"
            f"<meta property='article:published_time' content='{story['date']}T08:00:00Z'></head><body>{CHROME}"
            f"<article><h1>{html.escape(story['title'])}</h1>{body}</article>"
            "<footer>Text from Wikinews, CC BY 2.5</footer></body></html>").encode()
        items.append(f"<item><title>{html.escape(story['title'])}</title><link>/a/{i}.html</link>"
                     f"<guid>{i}</guid><description>{html.escape(story['text'][:200])}</description></item>")
    site["/feed.rss"] = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Bench</title>"
                         + "".join(items) + "</channel></rss>").encode()
    return site


def serve(site: dict[str, bytes]) -> str:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            body = site.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/rss+xml" if self.path.endswith(".rss") else "text/html")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def child(mode: str, pages: int) -> None:
    from digest.collect import collect_source
    from digest.dedupe import deduplicate
    from digest.config import Config, SourceConfig

    base = serve(build_site(pages))
    config = Config(per_host_concurrency=4)
    source = SourceConfig(name="bench", kind="feed", url=base + "/feed.rss", local=True)
    start = time.perf_counter()
    result = collect_source(source, config, now=datetime.now(UTC), fast=mode == "fast")
    collected = time.perf_counter() - start
    unique = deduplicate(result.articles)
    elapsed = time.perf_counter() - start
    print(json.dumps({"mode": mode, "pages": len(result.articles), "errors": len(result.errors),
                      "unique": len(unique), "seconds": elapsed, "dedup_seconds": elapsed - collected,
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 pages instead of 500")
    ap.add_argument("--pages", type=int, default=None)
    ap.add_argument("--child", choices=["fast", "default"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    pages = args.pages or (60 if args.quick else 500)
    if not WIKINEWS.is_file():
        print(f"skipped: {WIKINEWS} not found")
        return
    if args.child:
        child(args.child, pages)
        return
    runs = {}
    for mode in ("default", "fast"):
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--pages", str(pages)],
                             capture_output=True, text=True, check=True).stdout
        runs[mode] = json.loads(out.strip().splitlines()[-1])
        r = runs[mode]
        print(f"{mode:<8} {r['pages']} pages ({r['errors']} errors) -> {r['unique']} unique in {r['seconds']:.1f} s: "
              f"{r['pages'] / r['seconds']:.1f} pages/s, dedup {r['dedup_seconds'] * 1000:.0f} ms, "
              f"peak RSS {r['max_rss_mb']:.0f} MB")
    d, f = runs["default"], runs["fast"]
    print(f"fast vs default: speed x{(f['pages'] / f['seconds']) / (d['pages'] / d['seconds']):.2f}, "
          f"peak memory x{f['max_rss_mb'] / d['max_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
