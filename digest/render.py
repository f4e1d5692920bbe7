"""Render an edition as an email: Jinja2 templates, CSS inlined by premailer, plus plain text.

An edition becomes many emails (one per distinct region set), so `render_segment` renders
and inlines once per segment, leaving unguessable placeholder tokens where per-subscriber
values go; `Rendered.fill` (or `digest.message`, which does the same on encoded bytes)
substitutes them, escaped for their context. `render_edition` is the full web edition.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import cssutils
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from digest.config import Config
from digest.inline import InlineSize, inline_css
from digest.models import DigestItem, Edition, Section

log = logging.getLogger(__name__)
# cssutils reports every vendor property (mso-hide, -webkit-…) as a warning on each render.
cssutils.log.setLevel(logging.CRITICAL)

# Gmail clips an HTML part over about 102 KB; leave room for the per-subscriber values.
HTML_BUDGET = 100_000
LANG = "en"
TEXT_WIDTH = 72
PREHEADER_CHARS = 140
PREHEADER_PAD = 60
HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
INLINE_CSS = "digest.css"
HEAD_CSS = "digest-head.css"
# Per-subscriber fields. HTML context: greeting and email are text, the rest are href values.
FIELDS = ("greeting", "email", "unsubscribe", "preferences", "web_url")
URL_FIELDS = frozenset({"unsubscribe", "preferences", "web_url"})
LINK_SCHEMES = ("https://", "http://", "mailto:")  # what a per-subscriber link may be

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


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


def clean_line(value: str) -> str:
    """One line of text: whitespace runs (CR/LF included) become one space, controls go."""
    return _CONTROL.sub("", " ".join(value.split()))


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


def render_edition(edition: Edition, config: Config) -> Rendered:
    """The full edition, every region and story, for the HTML file and the web archive."""
    return _render(edition, config, regions=None, personal=False)


def render_segment(edition: Edition, config: Config, regions: frozenset[str] | None) -> Rendered:
    """The email for one region set, with placeholders for the per-subscriber fields.

    Stays under HTML_BUDGET: first summaries shrink to their first sentence, then the
    lowest-ranked stories move to the web edition ("N more stories …"), each region
    keeping its top stories.
    """
    return _render(edition, config, regions=regions, personal=True)


# --- views: what the templates see ---------------------------------------------------


@dataclass(frozen=True)
class _Outlet:
    name: str
    url: str  # "" when the outlet is known only by name (a folded near-copy) or has no web link


@dataclass(frozen=True)
class _Item:
    title: str
    url: str
    meta: str
    summary: str
    also: tuple[_Outlet, ...]  # every other outlet of the story
    region: str = ""
    update: bool = False  # the story went out in an earlier edition; this is news of it


@dataclass(frozen=True)
class _Section:
    region: str
    anchor: str
    total: int
    items: tuple[_Item, ...]
    hidden: int


def _absolute(url: str) -> str:
    """Only http(s) links go into an email. Anything else (a folder source's file:// article)
    gives "", and the templates show the title without a link."""
    return url if url.startswith(("https://", "http://")) else ""


def _time_label(published: datetime | None, edition: Edition, zone: ZoneInfo) -> str:
    if published is None or published.tzinfo is None:
        return ""
    local = published.astimezone(zone)
    clock = f"{local:%H:%M} {local:%Z}"
    return clock if local.date() == edition.date else f"{local.day} {local:%b}, {clock}"


def _item(item: DigestItem, edition: Edition, zone: ZoneInfo, short: bool) -> _Item:
    article = item.article
    sentences = [clean_line(s) for s in item.summary if s.strip()]
    meta = " · ".join(part for part in (clean_line(article.source), _time_label(article.published, edition, zone)) if part)
    return _Item(
        title=clean_line(article.title) or "(untitled)",
        url=_absolute(clean_line(article.url)),
        meta=meta,
        summary=" ".join(sentences[:1] if short else sentences),
        also=tuple(_Outlet(clean_line(name), _absolute(clean_line(url)))
                   for name, url in item.outlets if name.strip()),
        region=item.location.region,
        update=item.update_of is not None,
    )


def _kept_counts(sections: tuple[Section, ...], keep: int | None) -> list[int]:
    """How many stories each section shows when `keep` fit in total: round-robin by rank,
    so every region keeps its top stories before any region gets its fourth."""
    sizes = [len(s.items) for s in sections]
    if keep is None or keep >= sum(sizes):
        return sizes
    kept = [0] * len(sizes)
    remaining = keep
    rank = 0
    while remaining > 0:
        for i, size in enumerate(sizes):
            if remaining and rank < size:
                kept[i] += 1
                remaining -= 1
        rank += 1
    return kept


def _sections(edition: Edition, zone: ZoneInfo, keep: int | None, short: bool) -> tuple[_Section, ...]:
    counts = _kept_counts(edition.sections, keep)
    return tuple(
        _Section(
            region=clean_line(section.region),
            anchor=section.anchor,
            total=len(section.items),
            items=tuple(_item(item, edition, zone, short) for item in section.items[:count]),
            hidden=len(section.items) - count,
        )
        for section, count in zip(edition.sections, counts, strict=True)
    )


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _regions_label(regions: frozenset[str] | None, config: Config) -> str:
    if regions is None:
        return "all regions"
    order = {name: i for i, name in enumerate(config.edition.regions)}
    names = sorted(regions, key=lambda name: (order.get(name, len(order)), name))
    return _join_names([clean_line(name) for name in names]) if names else "no regions"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _subject(edition: Edition, config: Config, sections: int, stories: int) -> str:
    pattern = config.edition.subject
    try:
        subject = pattern.format(title=edition.title, date=edition.date, regions=sections, stories=stories,
                                 region_count=_count(sections, "region", "regions"),
                                 story_count=_count(stories, "story", "stories"))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"edition.subject pattern {pattern!r} cannot be filled (fields: title, date, "
                         f"regions, stories, region_count, story_count): {exc}") from exc
    return clean_line(subject)


def _preheader(sections: tuple[_Section, ...]) -> str:
    """The inbox preview line: the top story of each region, then the next ones."""
    ranked = [item.title for rank in range(3) for s in sections if rank < len(s.items) for item in [s.items[rank]]]
    return textwrap.shorten(" · ".join(ranked), PREHEADER_CHARS, placeholder=" …") if ranked else ""


def _imprint_html(imprint: str) -> Markup:
    """The configured imprint, escaped, with its URLs made into links."""
    escaped = str(escape(clean_line(imprint)))
    return Markup(_URL_IN_TEXT.sub(lambda m: f'<a class="footer-link" href="{m[0]}">{m[0]}</a>', escaped))


def _sender_address(config: Config) -> str:
    return config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()


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


def _render(edition: Edition, config: Config, regions: frozenset[str] | None, personal: bool) -> Rendered:
    env = _environment(Path(config.templates_dir))
    inline, head = _stylesheets(Path(config.templates_dir))
    zone = config.edition.zone
    narrowed = edition.for_regions(regions)
    quiet = personal and not narrowed.sections
    placeholders = ({name: f"dgst{secrets.token_hex(8)}{name.replace('_', '')}" for name in FIELDS}
                    if personal else {})
    total = len(narrowed.items)
    regions_label = _regions_label(regions, config)
    if quiet:
        subject = clean_line(f"{edition.title} — {edition.date.day} {edition.date:%b}: "
                             f"nothing new from {regions_label}")
    else:
        subject = _subject(edition, config, len(narrowed.sections), total)
    elsewhere = (tuple(_item(s.items[0], edition, zone, short=True) for s in edition.sections[:5])
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
        imprint=_imprint_html(config.mail.imprint),
        imprint_text=clean_line(config.mail.imprint),
        sender=_sender_address(config),
        inline_css=Markup(inline),
        head_css=Markup(head),
        preheader_pad=PREHEADER_PAD,
    )

    @lru_cache(maxsize=None)  # the size fit asks for the same views more than once
    def views(keep: int | None, short: bool) -> tuple[_Section, ...]:
        return _sections(narrowed, zone, keep, short)

    def context(keep: int | None, short: bool) -> dict[str, object]:
        sections = views(keep, short)
        return dict(base, sections=sections, stories=total, preheader=_preheader(sections) or subject)

    def page(keep: int | None, short: bool, *, more_in_every_section: bool = False) -> str:
        """The HTML before inlining; `more_in_every_section` adds an "N more" line to each
        section, so the page holds every kind of element the size fit meets."""
        values = context(keep, short)
        if more_in_every_section:
            values["sections"] = tuple(replace(s, hidden=max(s.hidden, 1)) for s in values["sections"])
        return env.get_template(HTML_TEMPLATE).render(values)

    def rendered(keep: int | None, short: bool, document: str) -> Rendered:
        values = context(keep, short)
        shown = sum(len(s.items) for s in values["sections"])
        return Rendered(html=document, text=env.get_template(TEXT_TEMPLATE).render(values), subject=subject,
                        placeholders=placeholders, regions=tuple(s.region for s in narrowed.sections),
                        stories=shown, hidden=total - shown, quiet=quiet, short_summaries=short)

    def attempt(keep: int | None, short: bool) -> Rendered:
        return rendered(keep, short, inline_css(page(keep, short)))

    if not personal:
        return attempt(None, short=False)
    raw = page(None, False)
    # A page already over the budget before inlining goes straight to the size fit.
    if len(raw.encode("utf-8")) <= HTML_BUDGET:
        document = inline_css(raw)
        if len(document.encode("utf-8")) <= HTML_BUDGET:
            return rendered(None, False, document)
    return _fit(attempt, page, total)


def _size(rendered: Rendered) -> int:
    return len(rendered.html.encode("utf-8"))


def _fit(attempt: Callable[[int | None, bool], Rendered], page: Callable[..., str], total: int) -> Rendered:
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
