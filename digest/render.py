"""Render an edition as an email: Jinja2 templates, CSS inlined by premailer, plus plain text.

An edition becomes many emails (one per distinct region set), so `render_segment` renders
and inlines once per segment, leaving unguessable placeholder tokens where per-subscriber
values go; `Rendered.fill` (or `digest.message`, which does the same on encoded bytes)
substitutes them, escaped for their context. `render_edition` is the full web edition.
What the templates see (the views, subject, preheader) is `digest.render_views`'; this module
renders, inlines and fits the HTML to its size budget.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cssutils
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from digest.config import Config
from digest.inline import InlineSize, Parsed, inline_css, parse
from digest.models import Edition
from digest.render_views import (
    SectionView,
    clean_line,
    imprint_html,
    item_view,
    label_for_regions,
    preheader,
    section_views,
    sender_address,
    subject_line,
)

log = logging.getLogger(__name__)
# cssutils reports every vendor property (mso-hide, -webkit-…) as a warning on each render.
cssutils.log.setLevel(logging.CRITICAL)

# Gmail clips an HTML part over about 102 KB; leave room for the per-subscriber values.
HTML_BUDGET = 100_000
LANG = "en"
TEXT_WIDTH = 72
PREHEADER_PAD = 60
HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
INLINE_CSS = "digest.css"
HEAD_CSS = "digest-head.css"
# Per-subscriber fields. HTML context: greeting and email are text, the rest are href values.
FIELDS = ("greeting", "email", "unsubscribe", "preferences", "web_url")
URL_FIELDS = frozenset({"unsubscribe", "preferences", "web_url"})
LINK_SCHEMES = ("https://", "http://", "mailto:")  # what a per-subscriber link may be


@dataclass(frozen=True)
class Rendered:
    """One rendered email (or the web edition). `html` has its CSS inlined.

    `placeholders` maps each per-subscriber field to the token standing in for it in
    `html` and `text` (empty for the web edition).
    """

    html: str
    text: str
    subject: str
    placeholders: Mapping[str, str] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    stories: int = 0  # stories shown
    hidden: int = 0  # stories left for the web edition to keep under the size budget
    quiet: bool = False  # none of the subscriber's regions has a story today
    short_summaries: bool = False

    def fill(self, values: Mapping[str, str]) -> tuple[str, str]:
        """The HTML and text with every placeholder replaced by its escaped value."""
        html_values, text_values = field_values(values)
        return (substitute(self.html, self.placeholders, html_values),
                substitute(self.text, self.placeholders, text_values))


def field_values(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Per-subscriber values escaped for the HTML part and cleaned for the text part."""
    missing = set(FIELDS) - set(values)
    if missing:
        raise ValueError(f"missing per-subscriber fields: {', '.join(sorted(missing))}")
    text = {name: clean_line(values[name]) for name in FIELDS}
    for name in URL_FIELDS:
        if not text[name].startswith(LINK_SCHEMES):
            raise ValueError(f"{name} must be an absolute http(s) URL or a mailto: address, got {text[name]!r}")
    return {name: html.escape(value, quote=True) for name, value in text.items()}, text


def substitute(document: str, placeholders: Mapping[str, str], values: Mapping[str, str]) -> str:
    """Replace placeholder tokens in one pass (a value is never scanned for tokens again)."""
    if not placeholders:
        return document
    by_token = {token: values[name] for name, token in placeholders.items()}
    pattern = re.compile("|".join(re.escape(token) for token in by_token))
    return pattern.sub(lambda match: by_token[match.group(0)], document)


def edition_url(config: Config, edition_id: str) -> str:
    """Where the web archive serves an edition (the "view in your browser" link)."""
    return f"{config.mail.base_url.rstrip('/')}/editions/{edition_id}"


def render_edition(edition: Edition, config: Config, *, text: bool = True) -> Rendered:
    """The full edition, every region and story, for the HTML file and the web archive.

    Without `text` its plain-text part is left empty: the HTML file needs none, and wrapping
    every story of a large edition costs time and memory."""
    return _render(edition, config, regions=None, personal=False, text=text)


def render_segment(edition: Edition, config: Config, regions: frozenset[str] | None) -> Rendered:
    """The email for one region set, with placeholders for the per-subscriber fields.

    Stays under HTML_BUDGET: first summaries shrink to their first sentence, then the
    lowest-ranked stories move to the web edition ("N more stories …"), each region
    keeping its top stories.
    """
    return _render(edition, config, regions=regions, personal=True)


# --- templates and inlining ------------------------------------------------------------


def _wrap(text: str, width: int = TEXT_WIDTH, indent: str = "") -> str:
    """Wrap near `width` columns; long words (URLs, tokens) are never broken."""
    return textwrap.fill(str(text), width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.globals["rule"] = lambda char: char * TEXT_WIDTH
    return env


@lru_cache(maxsize=8)
def _stylesheets(templates_dir: Path) -> tuple[str, str]:
    return ((templates_dir / INLINE_CSS).read_text(encoding="utf-8"),
            (templates_dir / HEAD_CSS).read_text(encoding="utf-8"))


def _render(edition: Edition, config: Config, regions: frozenset[str] | None, personal: bool,
            text: bool = True) -> Rendered:
    env = _environment(Path(config.templates_dir))
    inline, head = _stylesheets(Path(config.templates_dir))
    zone = config.edition.zone
    narrowed = edition.for_regions(regions)
    quiet = personal and not narrowed.sections
    placeholders = ({name: f"dgst{secrets.token_hex(8)}{name.replace('_', '')}" for name in FIELDS}
                    if personal else {})
    total = len(narrowed.items)
    regions_label = label_for_regions(regions, config)
    if quiet:
        subject = clean_line(f"{edition.title} — {edition.date.day} {edition.date:%b}: "
                             f"nothing new from {regions_label}")
    else:
        subject = subject_line(edition, config, len(narrowed.sections), total)
    elsewhere = (tuple(item_view(s.items[0], edition, zone, short=True) for s in edition.sections[:5])
                 if quiet else ())
    base = dict(
        lang=LANG,
        title=clean_line(edition.title),
        subject=subject,
        date_label=f"{edition.date:%A}, {edition.date.day} {edition.date:%B %Y}",
        zone_label=config.edition.timezone,
        p=placeholders or None,
        quiet=quiet,
        elsewhere=elsewhere,
        regions_label=regions_label,
        home_url=config.mail.base_url,
        imprint=imprint_html(config.mail.imprint),
        imprint_text=clean_line(config.mail.imprint),
        sender=sender_address(config),
        inline_css=Markup(inline),
        head_css=Markup(head),
        preheader_pad=PREHEADER_PAD,
    )

    @lru_cache(maxsize=None)  # the size fit asks for the same views more than once
    def views(keep: int | None, short: bool) -> tuple[SectionView, ...]:
        return section_views(narrowed, zone, keep, short)

    def context(keep: int | None, short: bool) -> dict[str, object]:
        sections = views(keep, short)
        return dict(base, sections=sections, stories=total, preheader=preheader(sections) or subject)

    def page(keep: int | None, short: bool, *, more_in_every_section: bool = False) -> Parsed:
        """The HTML before inlining, parsed as the template streams it; `more_in_every_section`
        adds an "N more" line to each section, so the page holds every kind of element the
        size fit meets."""
        values = context(keep, short)
        if more_in_every_section:
            values["sections"] = tuple(replace(s, hidden=max(s.hidden, 1)) for s in values["sections"])
        return parse(env.get_template(HTML_TEMPLATE).generate(values))

    def rendered(keep: int | None, short: bool, document: str) -> Rendered:
        values = context(keep, short)
        shown = sum(len(s.items) for s in values["sections"])
        return Rendered(html=document, text=env.get_template(TEXT_TEMPLATE).render(values) if text else "",
                        subject=subject,
                        placeholders=placeholders, regions=tuple(s.region for s in narrowed.sections),
                        stories=shown, hidden=total - shown, quiet=quiet, short_summaries=short)

    def attempt(keep: int | None, short: bool) -> Rendered:
        return rendered(keep, short, inline_css(page(keep, short)))

    if not personal:
        return attempt(None, short=False)
    document = _inlined_if_it_fits(page(None, False))
    if document is not None:
        return rendered(None, False, document)
    return _fit(attempt, page, total)


def _inlined_if_it_fits(raw: Parsed) -> str | None:
    """The page inlined if it fits the budget; a page already over it before inlining is
    not inlined (the size fit does better). Its tree goes when this returns, before the fit
    parses pages of its own."""
    if raw.size > HTML_BUDGET:
        return None
    document = inline_css(raw)
    return document if len(document.encode("utf-8")) <= HTML_BUDGET else None


def _size(rendered: Rendered) -> int:
    return len(rendered.html.encode("utf-8"))


def _fit(attempt: Callable[[int | None, bool], Rendered], page: Callable[..., Parsed], total: int) -> Rendered:
    """All stories with full summaries if they fit, then shorter summaries; then the most
    stories that fit.

    Two inlining passes whatever the edition size: one of a page holding every kind of
    element teaches `InlineSize` what inlining adds, the choice is made on predicted sizes,
    and the chosen page is inlined. The step-by-step search is what remains if the
    prediction cannot hold (context-dependent CSS) or turns out wrong.
    """
    sizes = InlineSize.learn(page(None, False, more_in_every_section=True))

    def fits(keep: int | None, short: bool = True) -> bool:
        predicted = sizes.predict(page(keep, short)) if sizes else None
        if predicted is None:
            raise _Unpredictable
        return predicted <= HTML_BUDGET

    try:
        if fits(None, short=False):
            chosen = attempt(None, False)
        else:
            chosen = attempt(None if fits(None) else _most_that_fit(fits, total), True)
    except _Unpredictable:
        log.info("inlined sizes are not predictable for this stylesheet: fitting step by step")
        return _fit_by_search(attempt, total)
    if _size(chosen) > HTML_BUDGET and chosen.stories > 1:
        log.warning("inlined size prediction was wrong (%d bytes over the budget): fitting step by step",
                    _size(chosen) - HTML_BUDGET)
        return _fit_by_search(attempt, total)
    if _size(chosen) > HTML_BUDGET:
        log.warning("edition HTML is %d bytes with a single story, over the %d budget", _size(chosen), HTML_BUDGET)
    return chosen


class _Unpredictable(Exception):
    """A page the size model cannot predict (CSS that styles one element unlike its kind)."""


def _most_that_fit(fits: Callable[[int], bool], total: int) -> int:
    """The largest count below `total` that fits (1 if none does), for sizes growing with
    the count: doubling, then halving the last step, so the cost follows the answer, not
    the edition size."""
    low, high = 1, 2  # `low` fits or is the floor
    while high < total and fits(high):
        low, high = high, min(2 * high, total)
    high -= 1  # `high` is known not to fit, or is `total`, which does not
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _fit_by_search(attempt: Callable[[int | None, bool], Rendered], total: int) -> Rendered:
    """Shorter summaries first; then the most stories that fit, inlining each step of a
    binary search."""
    short = attempt(None, True)
    if _size(short) <= HTML_BUDGET:
        return short
    best = attempt(1, True)
    low, high = 1, total - 1  # `low` stories are known to fit (or nothing smaller would help)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = attempt(middle, True)
        if _size(candidate) <= HTML_BUDGET:
            best, low = candidate, middle
        else:
            high = middle - 1
    if _size(best) > HTML_BUDGET:
        log.warning("edition HTML is %d bytes with a single story, over the %d budget", _size(best), HTML_BUDGET)
    return best
