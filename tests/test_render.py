"""Rendering an edition: template, inlining, plain text, size budget, escaping."""

from __future__ import annotations

import logging
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from edition_builders import LOCAL_FILE_URL, REGIONS, edition, item, synthetic, wikinews, with_local_file
from lxml import etree
from lxml import html as lxml_html
from premailer import Premailer

from digest import render
from digest.config import Config, EditionConfig

VALUES = {"greeting": "Hello Ana", "email": "ana@example.org",
          "unsubscribe": "https://digest.example.org/unsubscribe/tok-1",
          "preferences": "https://digest.example.org/preferences/tok-2",
          "web_url": "https://digest.example.org/editions/2019-01-04"}


@pytest.fixture
def config() -> Config:
    return Config()


def filled(rendered: render.Rendered) -> tuple[str, str]:
    return rendered.fill(VALUES)


def parse(document: str):
    return lxml_html.document_fromstring(document)


def kept_style(document: str) -> str:
    return "\n".join(style.text or "" for style in parse(document).iter("style"))


def test_sections_follow_the_edition_order_and_the_toc_links_each_with_its_count(config):
    rendered = render.render_segment(synthetic(10), config, None)
    tree = parse(filled(rendered)[0])
    headings = [(h.get("id"), h.text_content()) for h in tree.iter("h2")]
    assert [name for _, name in headings] == list(REGIONS)
    toc = [(a.get("href"), a.getparent().getnext().text_content()) for a in tree.find_class("toc-link")]
    assert [href for href, _ in toc] == [f"#{anchor}" for anchor, _ in headings]
    assert toc[0][1] == "2 stories" and toc[-1][1] == "1 story"


def test_each_card_shows_linked_title_outlet_local_time_summary_and_other_outlets(config):
    config.edition = EditionConfig(timezone="Europe/Berlin")
    story = item("Talks end without breakthrough", "Middle East", url="https://news.example.org/talks",
                 summary=("The first day ended.", "Talks resume Wednesday."), source="Dawn News",
                 published=datetime(2019, 1, 4, 5, 30, tzinfo=UTC), also=("Reuters", "BBC"))
    tree = parse(filled(render.render_segment(edition([story]), config, None))[0])
    card = tree.find_class("card")[0]
    link = card.find(".//a")
    assert (link.get("href"), link.text_content()) == ("https://news.example.org/talks", "Talks end without breakthrough")
    assert card.find_class("meta")[0].text_content() == "Dawn News · 06:30 CET"
    assert card.find_class("summary")[0].text_content() == "The first day ended. Talks resume Wednesday."
    assert card.find_class("also")[0].text_content() == "Also reported by Reuters, BBC"


def test_a_story_from_the_day_before_shows_its_date(config):
    story = item("Late story", "Europe", published=datetime(2019, 1, 3, 22, 5, tzinfo=UTC))
    tree = parse(filled(render.render_segment(edition([story]), config, None))[0])
    assert tree.find_class("meta")[0].text_content() == "Example News · 3 Jan, 22:05 UTC"


def test_css_is_inlined_and_mobile_and_dark_mode_rules_survive_in_the_head(config):
    document = filled(render.render_segment(synthetic(5), config, None))[0]
    tree = parse(document)
    card = tree.find_class("card")[0]
    assert "padding:12px 24px 14px 24px" in card.get("style")
    styles = kept_style(document)
    assert "@media screen and (max-width: 520px)" in styles
    assert "@media (prefers-color-scheme: dark)" in styles
    assert ".stack { display: block !important" in styles  # !important kept for the overrides
    assert "[data-ogsc] .summary" in styles  # Outlook.com's dark mode selector, matching nothing here
    assert "font-family: Georgia" not in styles  # the inlined rules are not sent twice
    assert tree.find(".//meta[@name='color-scheme']").get("content") == "light dark"
    assert tree.getroottree().getroot().get("lang") == "en"
    assert "<!--[if mso]>" in document


def test_markup_in_article_text_is_shown_as_text_never_run(config):
    story = item('<script>alert("x")</script> & <b>bold</b>', "Europe",
                 summary=('<img src=x onerror="alert(1)"> said the minister.',), source="<i>Wire</i>")
    rendered = render.render_segment(edition([story]), config, None)
    document, text = filled(rendered)
    tree = parse(document)
    assert tree.findall(".//script") == [] and tree.findall(".//img") == [] and tree.findall(".//b") == []
    assert tree.find_class("card-link")[0].text_content() == '<script>alert("x")</script> & <b>bold</b>'
    assert '<img src=x onerror="alert(1)"> said the minister.' in text


def test_line_breaks_in_titles_do_not_reach_the_subject_or_break_the_text(config):
    story = item("Breaking\r\nBcc: victim@example.org\nnews", "Europe")
    rendered = render.render_segment(edition([story]), config, None)
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert "Breaking Bcc: victim@example.org news" in rendered.text


def test_subject_follows_the_configured_pattern(config):
    config.edition = EditionConfig(subject="{title}: {stories} stories in {regions} regions, {date:%d.%m.}")
    rendered = render.render_segment(synthetic(9), config, frozenset({"Asia", "Europe"}))
    assert rendered.subject == "World Digest: 3 stories in 2 regions, 04.01."


def test_a_subject_pattern_with_an_unknown_field_names_the_pattern(config):
    # Config refuses such a pattern when it is loaded; render still names it when handed one.
    config.edition = EditionConfig.model_construct(subject="{title} {weather}")
    with pytest.raises(ValueError, match=r"edition.subject pattern '\{title\} \{weather\}'"):
        render.render_segment(synthetic(2), config, None)


def test_plain_text_is_wrapped_near_72_columns_and_lists_every_link(config):
    ed = synthetic(14, sentences=3)
    text = filled(render.render_segment(ed, config, None))[1]
    for line in text.splitlines():
        assert len(line) <= 72 or re.fullmatch(r"\s*(\S+: )?https?://\S+", line), line
    for entry in ed.items:
        assert f"  {entry.article.url}\n" in text
    assert VALUES["unsubscribe"] in text and VALUES["preferences"] in text
    assert text.index("AFRICA") < text.index("ASIA") < text.index("US & CANADA")


def test_a_region_set_gets_only_its_sections(config):
    rendered = render.render_segment(synthetic(14), config, frozenset({"Europe", "Asia"}))
    tree = parse(filled(rendered)[0])
    assert [h.text_content() for h in tree.iter("h2")] == ["Asia", "Europe"]
    assert rendered.regions == ("Asia", "Europe") and rendered.stories == 4
    assert "from Asia and Europe" in tree.find_class("intro")[0].text_content()


def test_a_region_set_without_stories_gets_a_quiet_day_note_with_headlines_elsewhere(config):
    rendered = render.render_segment(synthetic(7), config, frozenset({"Antarctica"}))
    assert rendered.quiet and rendered.stories == 0
    assert rendered.subject == "World Digest — 4 Jan: nothing new from Antarctica"
    tree = parse(filled(rendered)[0])
    assert "nothing new from Antarctica today" in tree.find_class("intro")[0].text_content()
    assert len(tree.find_class("quiet")[0].findall(".//a")) == 5
    assert "ELSEWHERE TODAY" in rendered.text


def assert_links_lead_somewhere(document: str) -> None:
    """Every link is absolute (http(s) or mailto) or an in-page anchor whose target exists."""
    tree = parse(document)
    ids = {element.get("id") for element in tree.iter() if element.get("id")}
    hrefs = [a.get("href") for a in tree.iter("a")]
    assert hrefs and None not in hrefs
    for href in hrefs:
        if href.startswith("#"):
            assert href[1:] in ids, href
        else:
            assert urlsplit(href).scheme in {"https", "http", "mailto"} and urlsplit(href).netloc, href


def test_every_link_is_absolute_and_every_anchor_has_its_target(config):
    assert_links_lead_somewhere(filled(render.render_segment(synthetic(21), config, None))[0])


@pytest.mark.parametrize("regions", [None, frozenset({"Antarctica"})], ids=["its region", "quiet day elsewhere"])
def test_a_local_file_article_shows_its_title_without_a_link(config, regions):
    rendered = render.render_segment(with_local_file(), config, regions)
    document, text = filled(rendered)
    assert 'href=""' not in document and "file://" not in document
    assert_links_lead_somewhere(document)
    title = "First day of Syrian peace talks end without breakthrough"
    [heading] = [e for e in parse(document).iter("h3", "p") if title in e.text_content()]
    assert heading.findall(".//a") == []
    assert title in text and "file://" not in text
    assert not any(line.isspace() for line in text.splitlines()), "a story with no address leaves no blank URL line"


def test_the_web_edition_shows_a_local_file_article_without_a_link(config):
    document = render.render_edition(with_local_file(), config).html
    assert 'href=""' not in document and LOCAL_FILE_URL not in document
    assert_links_lead_somewhere(document)


def test_html_parses_without_errors(config):
    document = filled(render.render_segment(synthetic(7), config, None))[0]
    parser = etree.HTMLParser()
    etree.fromstring(document.encode("utf-8"), parser)
    assert [str(e) for e in parser.error_log if e.level_name != "WARNING"] == []


def test_forty_stories_fit_the_gmail_budget_untrimmed(config):
    rendered = render.render_segment(synthetic(40), config, None)
    assert (rendered.stories, rendered.hidden, rendered.short_summaries) == (40, 0, False)
    assert len(filled(rendered)[0].encode("utf-8")) < 102_000


def test_forty_real_wikinews_stories_fit_the_budget(config, shared_data):
    rendered = render.render_segment(wikinews(shared_data, 40), config, None)
    assert rendered.hidden == 0
    assert len(filled(rendered)[0].encode("utf-8")) < 102_000


def test_long_summaries_are_shortened_before_any_story_is_dropped(config):
    rendered = render.render_segment(synthetic(40, sentences=5, sentence_words=60), config, None)
    assert rendered.short_summaries and rendered.hidden == 0
    assert len(filled(rendered)[0].encode("utf-8")) <= render.HTML_BUDGET + 1000


def test_an_oversized_edition_moves_its_lowest_stories_to_the_web_edition(config):
    ed = synthetic(300, sentences=3, sentence_words=40)
    rendered = render.render_segment(ed, config, None)
    document = filled(rendered)[0]
    assert len(document.encode("utf-8")) < 102_000
    assert 40 < rendered.stories < 300 and rendered.hidden == 300 - rendered.stories
    tree = parse(document)
    more = tree.find_class("more-link")
    assert len(more) == len(REGIONS)  # every region keeps its top stories and says how many more
    assert more[0].get("href") == VALUES["web_url"] + "#region-africa"
    hidden = sum(int(re.match(r"(\d+) more", link.text_content()).group(1)) for link in more)
    assert hidden == rendered.hidden
    assert ed.sections[0].items[0].article.title in document


@pytest.fixture
def inlining_passes(monkeypatch) -> list[int]:
    """The size of each document premailer inlines (the real premailer, counted)."""
    passes: list[int] = []
    transform = Premailer.transform

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        passes.append(len(self.html) if isinstance(self.html, str) else -1)
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(Premailer, "transform", counted)
    return passes


@pytest.mark.parametrize("stories", [300, 1000])
def test_fitting_an_oversized_edition_costs_two_inlining_passes_whatever_its_size(config, inlining_passes, stories):
    rendered = render.render_segment(synthetic(stories, sentences=3, sentence_words=40), config, None)
    assert len(inlining_passes) == 2
    assert 40 < rendered.stories < 300 and len(rendered.html.encode("utf-8")) <= render.HTML_BUDGET


def test_the_fit_keeps_as_many_stories_as_inlining_each_step_of_a_search_would(config):
    # the sizes the fit predicts without inlining agree with what inlining gives
    for ed in (synthetic(300, sentences=3, sentence_words=40), synthetic(40, sentences=5, sentence_words=60),
               synthetic(160, sentences=2, sentence_words=30),
               synthetic(300, sentences=3, sentence_words=40).for_regions(frozenset(REGIONS[:3]))):
        searched = {}

        def search_instead(attempt, page, total):  # noqa: ANN001, ANN202
            searched["rendered"] = render._fit_by_search(attempt, total)
            return searched["rendered"]

        predicted = render.render_segment(ed, config, None)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(render, "_fit", search_instead)
            render.render_segment(ed, config, None)
        step_by_step = searched["rendered"]
        assert (predicted.stories, predicted.short_summaries) == (step_by_step.stories, step_by_step.short_summaries)
        assert len(predicted.html) == len(step_by_step.html)


def test_a_stylesheet_styling_one_element_unlike_its_kind_is_still_fitted(config, tmp_path, caplog):
    # a rule for one section's id styles one heading unlike the others of its kind: the size
    # model refuses to learn from that page and the fit inlines each step instead
    templates = tmp_path / "templates"
    shutil.copytree(Path(config.templates_dir), templates)
    with (templates / "digest.css").open("a", encoding="utf-8") as css:
        css.write("#region-africa { letter-spacing: 2px; }\n")
    themed = config.model_copy(update={"templates_dir": str(templates)})
    with caplog.at_level(logging.INFO, logger="digest.render"):
        rendered = render.render_segment(synthetic(300, sentences=3, sentence_words=40), themed, None)
    assert "fitting step by step" in caplog.text
    assert 40 < rendered.stories < 300 and len(rendered.html.encode("utf-8")) <= render.HTML_BUDGET
    assert "letter-spacing:2px" in rendered.html.replace(": ", ":")


def test_the_web_edition_has_every_story_and_no_subscriber_fields(config):
    rendered = render.render_edition(synthetic(12), config)
    assert rendered.placeholders == {} and "dgst" not in rendered.html
    tree = parse(rendered.html)
    assert len(tree.find_class("card")) == 12
    assert tree.find_class("intro") == []
    assert "Subscribe or change your regions" in tree.find_class("footer")[0].text_content()


def test_placeholders_are_filled_escaped_for_html_and_plain_for_text(config):
    rendered = render.render_segment(synthetic(3), config, None)
    document, text = rendered.fill(dict(VALUES, greeting='Hello <b>Ana</b> & "Co"'))
    assert "Hello &lt;b&gt;Ana&lt;/b&gt; &amp; &#34;Co&#34;" in document or \
        "Hello &lt;b&gt;Ana&lt;/b&gt; &amp; &quot;Co&quot;" in document
    assert 'Hello <b>Ana</b> & "Co".' in text
    assert not any(token in document or token in text for token in rendered.placeholders.values())


def test_a_subscriber_link_that_is_neither_http_nor_mailto_is_refused(config):
    rendered = render.render_segment(synthetic(1), config, None)
    with pytest.raises(ValueError, match=r"unsubscribe must be an absolute http\(s\) URL or a mailto: address, "
                                         r"got 'javascript:alert\(1\)'"):
        rendered.fill(dict(VALUES, unsubscribe="javascript:alert(1)"))


def test_a_mailto_unsubscribe_link_is_accepted(config):
    rendered = render.render_segment(synthetic(1), config, None)
    document, text = rendered.fill(dict(VALUES, unsubscribe="mailto:leave@digest.example.org?subject=unsubscribe"))
    assert 'href="mailto:leave@digest.example.org?subject=unsubscribe"' in document
    assert "Unsubscribe: mailto:leave@digest.example.org?subject=unsubscribe" in text


def test_a_segment_rendered_again_after_many_others_is_the_same_email(config):
    # premailer caches parsed CSS and selectors across documents: many renders in one process
    # (one per region set) must not leak styles from one email into the next.
    ed = synthetic(21)
    first = filled(render.render_segment(ed, config, frozenset({"Asia"})))
    for regions in [None, *(frozenset({region}) for region in REGIONS), frozenset({"Antarctica"})]:
        render.render_segment(ed, config, regions)
    render.render_edition(ed, config)
    assert filled(render.render_segment(ed, config, frozenset({"Asia"}))) == first


@pytest.fixture
def pages(monkeypatch) -> list[str]:
    """Each page the renderer parses, as one string (the renderer streams it)."""
    seen: list[str] = []
    parse = render.parse

    def kept(pieces):  # noqa: ANN001, ANN202
        seen.append("".join(pieces))
        return parse([seen[-1]])

    monkeypatch.setattr(render, "parse", kept)
    return seen


def _premailer_alone(document: str) -> str:
    return Premailer(document, allow_network=False, allow_loading_external_files=False, disable_link_rewrites=True,
                     remove_classes=False, keep_style_tags=False, strip_important=True, disable_validation=True,
                     cssutils_logging_level=logging.CRITICAL, method="html").transform(pretty_print=False)


@pytest.mark.parametrize("extra_css", ["", ".card .meta { letter-spacing: 1px; }\n"])
def test_inlining_gives_premailers_own_document(config, pages, tmp_path, extra_css):
    # the default stylesheet selects by tag and class, so premailer sees one element of each
    # kind and the rest follow their kind; a rule that looks at context is inlined by premailer
    # on the whole page. Either way the document is premailer's, byte for byte.
    templates = tmp_path / "templates"
    shutil.copytree(Path(config.templates_dir), templates)
    with (templates / "digest.css").open("a", encoding="utf-8") as css:
        css.write(extra_css)
    themed = config.model_copy(update={"templates_dir": str(templates)})
    web = render.render_edition(synthetic(120, sentences=3), themed)
    segment = render.render_segment(with_local_file(), themed, frozenset(REGIONS[:2]))
    assert web.html == _premailer_alone(pages[0])
    assert segment.html == _premailer_alone(pages[-1])
    if extra_css:
        assert "letter-spacing:1px" in web.html.replace(": ", ":")


def test_premailer_sees_one_element_of_each_kind_not_every_story(config, monkeypatch):
    elements: list[int] = []
    transform = Premailer.transform

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        elements.append(sum(1 for _ in self.html.iter()))
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(Premailer, "transform", counted)
    rendered = render.render_edition(synthetic(300, sentences=3), config)
    assert len(parse(rendered.html).find_class("card")) == 300
    assert len(elements) == 1 and elements[0] < 150
