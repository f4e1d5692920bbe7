"""Main text and metadata from pages and article files."""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.extract import ExtractError, extract_file, extract_html

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = ROOT / "sample" / "articles" / "syrian-peace-talks-astana.txt"
CHROME = ["Tuesday , 17 October 2017", "Home /", "Show Buttons", "Hide Buttons", "Share on", "Courtesy",
          "Dawn News", "Related Posts", "Comments are closed", "International News"]


def test_the_seed_dump_comes_out_as_one_clean_article():
    found = extract_file(SEED)
    assert found.title == "First day of Syrian peace talks end without breakthrough"
    assert found.text.startswith("ASTANA: A first day of indirect talks between the Syrian government")
    assert found.text.endswith("the last scheduled day of the meeting.")
    for chrome in CHROME:
        assert chrome not in found.text
    assert len(found.text.split("\n\n")) == 5  # its five paragraphs, kept apart


def test_the_date_banner_of_a_dump_becomes_its_date_not_its_text():
    assert extract_file(SEED).published == datetime(2017, 10, 17, tzinfo=UTC)


def test_other_chrome_styles_are_removed_by_the_same_generic_patterns():
    found = extract_file(FIXTURES / "articles" / "harbour-strike-dump.txt")
    assert found.title == "Harbour cranes idle as dock strike enters third day"
    assert found.text.startswith("Container ships queued")
    assert found.text.endswith("due to resume on Wednesday.")  # a short last paragraph is kept
    for chrome in ("You are here", "Print", "Share this", "Facebook", "Photo:", "Tags:", "You may also like", "©"):
        assert chrome not in found.text


def test_a_dump_with_no_paragraph_is_an_error_naming_the_file(tmp_path):
    menu = tmp_path / "menu.txt"
    menu.write_text("Home\nNews\nSport\n")
    with pytest.raises(ExtractError, match="menu.txt"):
        extract_file(menu)


def test_an_html_page_gives_text_and_metadata_without_site_chrome():
    found = extract_file(FIXTURES / "feeds" / "pages" / "dock-strike.html")
    assert found.title == "Harbour cranes idle as dock strike enters third day"
    assert found.text.startswith("Container ships queued outside the harbour")
    assert "Most read" not in found.text and "Privacy" not in found.text
    assert (found.author, found.sitename, found.language) == ("Jane Doe", "Example News", "en")
    assert found.published == datetime(2017, 10, 16, 21, 15, tzinfo=UTC)
    assert found.canonical_url.startswith("https://news.example.org/world/dock-strike")


def test_a_page_without_main_text_is_an_error_naming_the_url():
    with pytest.raises(ExtractError, match="https://example.org/empty"):
        extract_html("<html><body><nav><a href='/'>Home</a></nav></body></html>", url="https://example.org/empty")


def test_bytes_in_a_legacy_charset_are_decoded():
    html = ("<html><head><meta charset='windows-1251'><title>Новости</title></head><body><article>"
            + "<p>Правительство объявило о новых мерах поддержки для фермеров после засухи этим летом.</p>" * 4
            + "</article></body></html>").encode("cp1251")
    assert "Правительство" in extract_html(html, url="https://example.ru/a").text


def test_extraction_agrees_with_the_expected_texts_of_real_pages(shared_data):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_extract import prf

    data = shared_data / "extraction-dev"
    scores = []
    for line in (data / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["duplicate_html_of"] or entry["html_bytes"] > 500_000:
            continue  # the multi-megabyte pages are left to the benchmark
        with gzip.open(data / entry["html"], "rt", encoding="utf-8") as f:
            text = extract_html(f.read(), url=entry["url"]).text
        scores.append(prf(text, (data / entry["txt"]).read_text(encoding="utf-8"))[2])
    assert sum(scores) / len(scores) >= 0.90
