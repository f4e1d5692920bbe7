"""Main text and metadata from pages and article files."""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trafilatura
from lxml import etree
from trafilatura.utils import load_html

from digest import main_text, regex_xpaths
from digest.extract import EXTRACTION_SETTINGS, ExtractError, extract_file, extract_html
from digest.page_load import load_page

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


def _page(body: str, head: str = "") -> str:
    return f"<html lang='en'><head><title>Harbour strike</title>{head}</head><body>{body}</body></html>"


STORY = "".join(f"<p>Container ships queued outside the harbour on day {n} of the strike, and the port authority "
                f"said talks with the dockers' union would resume after the weekend.</p>" for n in range(1, 9))
# A page with a line break and characters of 1 to 4 bytes in UTF-8, the widest last.
_WIDE = "<!DOCTYPE html>\n" + _page("<p>Résumé: 港口罢工 — day one 🚢</p>" + STORY)
MENU = "<nav>" + "".join(f"<a href='/s{n}'>Section number {n} of the site with a long name</a>" for n in range(60)) + "</nav>"


@pytest.fixture
def cascades(monkeypatch) -> list[str]:
    """The steps of trafilatura's cascade run for a page: "main" for each run of its main
    extractor, "fallbacks" for each comparison with its fallback extractors."""
    runs: list[str] = []

    def counted(step, name):
        def run(*args, **kwargs):
            runs.append(name)
            return step(*args, **kwargs)
        return run

    monkeypatch.setattr(main_text, "extract_content", counted(main_text.extract_content, "main"))
    monkeypatch.setattr(main_text, "compare_extraction", counted(main_text.compare_extraction, "fallbacks"))
    return runs


def test_an_article_of_paragraphs_is_extracted_by_the_main_extractor_alone(cascades):
    found = extract_html(_page(MENU + f"<article><h1>Harbour strike</h1>{STORY}</article>"), url="https://example.org/a")
    assert found.text.startswith("Container ships queued outside the harbour on day 1")
    assert cascades == ["main"]


STUB = "<article><p>Ships queued outside the harbour as the strike went on.</p></article>"


def test_a_page_whose_main_text_is_short_also_gets_the_fallback_extractors(cascades):
    found = extract_html(_page(MENU + STUB), url="https://example.org/stub")
    assert "Ships queued outside the harbour" in found.text
    assert cascades == ["main", "fallbacks"]  # the main extractor's result is reused, not redone


def test_the_main_extractor_runs_again_for_the_fallbacks_only_on_a_page_with_teasers(cascades):
    # its recovery of short texts keeps teaser blocks in fast mode only
    teaser = "<div class='teaser'><p>Read also: the port authority answers questions about the strike.</p></div>"
    extract_html(_page(MENU + STUB + teaser), url="https://example.org/teaser")
    assert cascades == ["main", "main", "fallbacks"]


def test_a_short_text_covering_little_of_its_page_also_gets_the_fallback_extractors(cascades):
    # under 3,000 characters and under a fifth of the page's text: the main extractor may have
    # taken one block of a page whose story is spread over several
    short = "".join(f"<p>{'Ships queued outside the harbour as the strike went on. ' * 3}</p>" for _ in range(3))
    sidebars = "".join(f"<div class='box'><p>{'Other news of the region in a long teaser text. ' * 8}</p></div>"
                       for _ in range(12))
    extract_html(_page(f"<article>{short}</article>{sidebars}"), url="https://example.org/short")
    assert cascades == ["main", "fallbacks"]


def test_fast_mode_never_runs_the_fallback_extractors(cascades):
    extract_html(_page(MENU + STUB), url="https://example.org/stub", fast=True)
    assert cascades == ["main"]


NEXT_STORY = "<p>" + "The next story of the site, appended below the first one. " * 6 + "</p>"
CASCADE_PAGES = {
    "article": _page(MENU + f"<article><h1>Harbour strike</h1>{STORY}</article>"),
    "short": _page(MENU + STUB),
    "short with teasers": _page(MENU + STUB + "<div class='Teaser'><p>Read also: the port answers questions.</p></div>"),
    "table": _page("<table>" + "".join(f"<tr><td>Berth {n}</td><td>idle since Monday, ships waiting</td></tr>"
                                       for n in range(30)) + "</table>"),
    "comments": _page(f"<article>{STORY}</article><div id='comments'><p>{'A reader wrote about it. ' * 9}</p></div>"),
    "comment list": _page(f"<article>{STORY}<ul class='comment-list'><li>{'A reader wrote. ' * 9}</li></ul></article>"),
    "infinite scroll": _page(f"<div><h1>Harbour strike</h1>{STORY}</div><div class='infinite-scroll'>"
                             + NEXT_STORY * 3 + "</div>"),
    "short with comments": _page(MENU + STUB + "<div id='comments'>" + NEXT_STORY * 8 + "</div>"),
    "no text": _page("<nav><a href='/'>Home</a></nav>"),
}


def test_trafilaturas_prunes_are_skipped_only_where_they_were_read_for_this_version():
    # None means they always run: correct, but slower; re-read the fragments from its expressions
    assert None not in (main_text._MAY_BE_APPENDED, main_text._MAY_BE_COMMENTS, main_text._MAY_HAVE_TEASERS)


@pytest.mark.parametrize("name", CASCADE_PAGES)
def test_both_steps_give_what_trafilaturas_own_cascade_gives(name):
    """The project runs trafilatura's cascade in two steps: each must give what its
    `bare_extraction` gives with the same settings (a new trafilatura version is noticed here)."""
    page, url = CASCADE_PAGES[name], "https://example.org/page"

    def library(fast: bool) -> str | None:
        doc = trafilatura.bare_extraction(page, url=url, fast=fast, **EXTRACTION_SETTINGS)
        return doc and doc.text

    main = main_text.MainText(load_page(page), url)
    fast = main.fast()
    assert (fast and fast.text) == library(True)
    for full in (main.full(), main_text.MainText(load_page(page), url).full()):  # after the fast step, and alone
        assert (full and full.text) == library(False)


@pytest.mark.parametrize("name", ["comments", "comment list", "infinite scroll", "article"])
def test_the_cascade_leaves_the_page_whole_for_the_metadata(name):
    # trafilatura prunes comment sections and appended articles from the raw page: on a copy,
    # made only when there is something to prune
    tree = load_page(CASCADE_PAGES[name])
    before = etree.tostring(tree)
    main = main_text.MainText(tree, "https://example.org/page")
    main.fast(), main.full()
    assert etree.tostring(tree) == before
    assert (main.raw is tree) == (name == "article")


# ids, classes and styles in both orders, one or both matching trafilatura's patterns, or neither
ATTRIBUTE_ORDERS = _page("".join(
    f"<{tag} {first}><p>{tag} text</p></{tag}>"
    for tag in ("div", "section", "span", "p", "article", "main", "a", "h1", "h2", "list")
    for first in ("class='hidden x' id='main'", "id='main' class='hidden x'", "id='sidebar' class='x'",
                  "class='x' id='sidebar'", "style='hidden' id='x'", "id='x' style='display:none'",
                  "class='author-name'", "id='authorBox'", "class='comment-list'", "id='comments'",
                  "class='Cookie-Banner'", "class='post-content'", "id='story-body'", "class='plain'",
                  "class=''", "id=''")))


def test_trafilaturas_regular_expression_tests_are_all_made_cheaper():
    # a form the rewrite does not know stays as it was (correct, slower): noticed here
    from trafilatura import xpaths
    left = [expression.path for value in vars(xpaths).values() if isinstance(value, list)
            for expression in value if isinstance(expression, etree.XPath) and "re:test(@" in expression.path]
    assert left == []
    assert len(regex_xpaths.rewritten()) >= 20


def _same_matches(tree: etree._Element) -> None:
    for cheaper, original in regex_xpaths.rewritten().items():
        assert cheaper(tree) == original(tree), original.path


def test_the_cheaper_expressions_find_what_trafilaturas_own_find():
    for page in (*CASCADE_PAGES.values(), ATTRIBUTE_ORDERS):
        _same_matches(load_page(page))


def test_the_cheaper_expressions_find_what_trafilaturas_own_find_on_real_pages(shared_data):
    for line in (shared_data / "extraction-dev" / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        with gzip.open(shared_data / "extraction-dev" / json.loads(line)["html"]) as f:
            _same_matches(load_page(f.read()))


def test_a_date_given_only_in_the_story_text_is_found_by_the_deep_search():
    body = f"<article><h1>Harbour strike</h1><p>The council met again on 16 October 2017 about the harbour.</p>{STORY}</article>"
    assert extract_html(_page(body), url="https://example.org/a").published == datetime(2017, 10, 16, tzinfo=UTC)


@pytest.mark.parametrize("case", [
    pytest.param(_page(STORY).encode("cp1252"), id="bytes without a declared charset"),
    pytest.param("<html><head><meta charset='windows-1251'></head><body><p>Правительство объявило.</p></body></html>"
                 .encode("cp1251"), id="legacy charset declared"),
    pytest.param("<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN' 'dtd/x.dtd'>\n<html/>\n" + _page(STORY)[6:],
                 id="doctype with a slash and a self-closing html tag"),
    pytest.param(_page("<p>control\x01 characters\x0b and a noncharacter\ufffe</p>" + STORY), id="control characters"),
    pytest.param(_page(f"<p>{'one very long first line ' * 400}</p>" + STORY), id="first line over 4096 characters"),
    # UTF-8 bytes, which go to libxml2 as they are unless decoding or a repair would change them
    pytest.param(_WIDE.encode(), id="utf-8 bytes with wide characters"),
    pytest.param(_WIDE.encode()[:-len("</html>") - 1], id="utf-8 bytes cut inside a character"),
    pytest.param(gzip.compress(_WIDE.encode()), id="gzip-compressed utf-8 bytes"),
    pytest.param(("<!DOCTYPE html PUBLIC '-//W3C//DTD XHTML 1.0//EN' 'dtd/x.dtd'>\n<html/>\n" + _page(STORY)[6:]).encode(),
                 id="utf-8 bytes with a doctype and html tag to repair"),
    pytest.param(("<!DOCTYPE html>\n" + _page("<p>control\x01 characters\x0b</p>" + STORY)).encode(),
                 id="utf-8 bytes with control characters"),
    pytest.param(("<!DOCTYPE html>\n" + _page("<p>a noncharacter\uffff</p>" + STORY)).encode(),
                 id="utf-8 bytes with a noncharacter"),
    pytest.param(("<!DOCTYPE html>\n<html/>" + "\u20ac" * 5000 + _page(STORY)[6:]).encode(),
                 id="utf-8 bytes with many-byte characters around the 4096th"),
    pytest.param(("<!DOCTYPE html>" + "\u20ac" * 5000 + "\n<html/>\n" + _page(STORY)[6:]).encode(),
                 id="utf-8 bytes with a first line of many-byte characters"),
])
def test_pages_are_parsed_to_the_same_tree_as_trafilaturas_loader(case):
    assert etree.tostring(load_page(case)) == etree.tostring(load_html(case))


@pytest.mark.parametrize("byline", [
    "<span class='byline'>By Jane Doe</span>",  # trafilatura's first and second author expressions
    "<div id='author-box'><a href='/jane'>Jane Doe</a></div>",
    "<p class='article-writer'>Jane Doe</p>",  # its last resort
    "<author>Jane Doe</author>",
])
def test_an_author_named_in_the_markup_is_found_as_trafilatura_finds_it(byline):
    page = _page(byline + STORY)
    assert extract_html(page).author == trafilatura.bare_extraction(page, with_metadata=True).author == "Jane Doe"


def test_a_page_without_author_markup_has_no_author():
    assert extract_html(_page("<span class='credit'>Photo: Jane Doe</span>" + STORY)).author is None


def test_a_caller_with_the_date_already_can_skip_the_date_search():
    page = _page(STORY, head="<meta property='article:published_time' content='2017-10-16T21:15:00+00:00'>")
    assert extract_html(page).published == datetime(2017, 10, 16, 21, 15, tzinfo=UTC)
    skipped = extract_html(page, with_date=False)
    assert skipped.published is None and skipped.text == extract_html(page).text
