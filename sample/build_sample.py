"""Build the offline sample corpus from Wikinews (CC BY 2.5) in ../shared/data/wikinews.

Run once by a maintainer; its output (feeds/, pages/) is committed so the sample needs
nothing at run time. Publication times are moved to the sample day (17 October 2017,
the seed article's day) so that one edition holds them all; each item keeps a link to
its Wikinews original and the attribution the licence asks for.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent / "shared" / "data" / "wikinews" / "articles.jsonl"
SAMPLE_DAY = datetime(2017, 10, 17, 5, 30, tzinfo=timezone.utc)
LICENCE = "https://creativecommons.org/licenses/by/2.5/"
CHANGED = "whitespace normalised, dateline and image captions removed, publication time moved to the sample day"

# Titles (prefixes) chosen for a spread over every region; the first group goes to the
# RSS feed with full pages, the second to the Atom feed with full content.
RSS_TITLES = [
    "Nickey Iyambo", "Benin, Nigeria join African Union", "Longtime leader of Zimbabwe",
    "Eliud Kipchoge of Kenya", "Thai political party", "Taiwan's legislature",
    "Hong Kong protesters surround", "Seoul city Mayor", "New Zealand mosque",
    "Sitting Tongan Prime Minister", "Escape room fire", "Thousands march in anti-Brexit",
    "Notre Dame in Paris", "State-run bus crashes in Cuba", "Argentine president",
    "Iranian cargo plane", "Block of flats collapses in Aleppo", "Oil facilities in Saudi Arabia",
    "Florida highway pileup", "Canada 2019 general election",
]
ATOM_TITLES = [
    "Burundi President", "South African 'Lion Man'", "Hotel fire kills at least seventeen",
    "Indonesian security minister", "New South Wales decriminalizes", "Samoan government temporarily",
    "Former president of France Jacques Chirac", "Fire erupts in parking structure",
    "Serbian protesters", "Belarussian opposition", "Chilean authorities report",
    "World leaders call to address Amazon", "Mokha, Yemen bomb", "Iraqi Parliament votes",
    "Sultan Qaboos of Oman", "Toronto serial killer", "Louisiana declares state of emergency",
    "World Health Organization names new coronavirus", "SARS-CoV-2 surpasses one million infections",
    # Also in the RSS feed: the same story reached through two feeds is one digest item.
    "Canada 2019 general election",
]


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]


def pick(articles: list[dict], prefixes: list[str]) -> list[dict]:
    chosen = []
    for prefix in prefixes:
        matches = [a for a in articles if a["title"].startswith(prefix)]
        if len(matches) != 1:
            raise SystemExit(f"{prefix!r} matches {len(matches)} articles")
        chosen.append(matches[0])
    return chosen


def attribution(article: dict) -> str:
    return (f'From Wikinews, "{article["title"]}" ({article["url"]}), CC BY 2.5 ({LICENCE}); {CHANGED}.')


def paragraphs_html(text: str) -> str:
    return "\n".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))


def page_html(article: dict, published: datetime) -> str:
    iso = published.isoformat()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(article["title"])} - Wikinews sample</title>
<link rel="canonical" href="{escape(article["url"])}">
<meta property="og:title" content="{escape(article["title"])}">
<meta property="og:site_name" content="Wikinews">
<meta property="article:published_time" content="{iso}">
<meta name="author" content="Wikinews contributors">
</head>
<body>
<header><nav><a href="index.html">Sample news</a> | <a href="#">World</a> | <a href="#">Science</a> | <a href="#">Subscribe</a></nav></header>
<main>
<article>
<h1>{escape(article["title"])}</h1>
<p class="meta">By Wikinews contributors · <time datetime="{iso}">{published:%d %B %Y, %H:%M} UTC</time></p>
{paragraphs_html(article["text"])}
</article>
</main>
<aside><h2>Most read</h2><ul><li><a href="#">Another story</a></li><li><a href="#">Yet another story</a></li></ul></aside>
<footer><p class="attribution">{escape(attribution(article))}</p>
<p><a href="{escape(LICENCE)}">Creative Commons Attribution 2.5</a></p></footer>
</body>
</html>
"""


def rss(items: list[tuple[dict, datetime]]) -> str:
    entries = []
    for article, published in items:
        first = article["text"].split("\n\n")[0]
        entries.append(f"""  <item>
    <title>{escape(article["title"])}</title>
    <link>../pages/{slug(article["title"])}.html</link>
    <guid isPermaLink="false">{escape(article["url"])}</guid>
    <pubDate>{format_datetime(published)}</pubDate>
    <dc:creator>Wikinews contributors</dc:creator>
    <description>{escape(first)}</description>
  </item>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Sample World News (from Wikinews)</title>
  <link>https://en.wikinews.org/</link>
  <description>Articles from Wikinews, CC BY 2.5 ({LICENCE}); {CHANGED}. Each item links to its original.</description>
  <language>en</language>
{chr(10).join(entries)}
</channel>
</rss>
"""


def atom(items: list[tuple[dict, datetime]]) -> str:
    entries = []
    for article, published in items:
        entries.append(f"""  <entry>
    <title>{escape(article["title"])}</title>
    <link rel="alternate" href="{escape(article["url"])}"/>
    <id>{escape(article["url"])}</id>
    <published>{published.isoformat()}</published>
    <updated>{published.isoformat()}</updated>
    <author><name>Wikinews contributors</name></author>
    <rights>{escape(attribution(article))}</rights>
    <content type="html">{escape(paragraphs_html(article["text"]))}</content>
  </entry>""")
    newest = max(p for _, p in items).isoformat()
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Sample Wire (from Wikinews)</title>
  <id>urn:sample:wikinews-wire</id>
  <updated>{newest}</updated>
  <link rel="self" href="wire.atom"/>
  <rights>Articles from Wikinews, CC BY 2.5 ({LICENCE}); {CHANGED}.</rights>
{chr(10).join(entries)}
</feed>
"""


def main() -> None:
    articles = [json.loads(line) for line in SOURCE.open(encoding="utf-8")]
    rss_items = [(a, SAMPLE_DAY + timedelta(minutes=37 * i)) for i, a in enumerate(pick(articles, RSS_TITLES))]
    atom_items = [(a, SAMPLE_DAY + timedelta(minutes=41 * i + 13)) for i, a in enumerate(pick(articles, ATOM_TITLES))]
    (HERE / "feeds").mkdir(exist_ok=True)
    (HERE / "pages").mkdir(exist_ok=True)
    for article, published in rss_items:
        (HERE / "pages" / f"{slug(article['title'])}.html").write_text(page_html(article, published), encoding="utf-8")
    (HERE / "feeds" / "world.rss").write_text(rss(rss_items), encoding="utf-8")
    (HERE / "feeds" / "wire.atom").write_text(atom(atom_items), encoding="utf-8")
    credits = ["# Sample corpus credits", "",
               "Every article in `feeds/` and `pages/` is from Wikinews, licensed CC BY 2.5",
               f"({LICENCE}). Changes: {CHANGED}.", ""]
    seen = set()
    for article, _ in rss_items + atom_items:
        if article["url"] not in seen:
            seen.add(article["url"])
            credits.append(f'- "{article["title"]}", Wikinews, {article["url"]}')
    (HERE / "CREDITS.md").write_text("\n".join(credits) + "\n", encoding="utf-8")
    print(f"{len(rss_items)} RSS items with pages, {len(atom_items)} Atom entries")


if __name__ == "__main__":
    main()
