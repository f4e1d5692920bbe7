"""What the email templates see: an edition as views (sections of items with their outlets),
cut to a number of stories, and the lines around them (subject, preheader, imprint), every
value cleaned to one line of text.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from digest.config import Config
from digest.models import DigestItem, Edition, Section

PREHEADER_CHARS = 140

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")


def clean_line(value: str) -> str:
    """One line of text: whitespace runs (CR/LF included) become one space, controls go."""
    return _CONTROL.sub("", " ".join(value.split()))


@dataclass(frozen=True)
class Outlet:
    name: str
    url: str  # "" when the outlet is known only by name (a folded near-copy) or has no web link


@dataclass(frozen=True)
class ItemView:
    title: str
    url: str
    meta: str
    summary: str
    also: tuple[Outlet, ...]  # every other outlet of the story
    region: str = ""
    update: bool = False  # the story went out in an earlier edition; this is news of it


@dataclass(frozen=True)
class SectionView:
    region: str
    anchor: str
    total: int
    items: tuple[ItemView, ...]
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


def item_view(item: DigestItem, edition: Edition, zone: ZoneInfo, short: bool) -> ItemView:
    article = item.article
    sentences = [clean_line(s) for s in item.summary if s.strip()]
    meta = " · ".join(part for part in (clean_line(article.source), _time_label(article.published, edition, zone)) if part)
    return ItemView(
        title=clean_line(article.title) or "(untitled)",
        url=_absolute(clean_line(article.url)),
        meta=meta,
        summary=" ".join(sentences[:1] if short else sentences),
        also=tuple(Outlet(clean_line(name), _absolute(clean_line(url)))
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


def section_views(edition: Edition, zone: ZoneInfo, keep: int | None, short: bool) -> tuple[SectionView, ...]:
    counts = _kept_counts(edition.sections, keep)
    return tuple(
        SectionView(
            region=clean_line(section.region),
            anchor=section.anchor,
            total=len(section.items),
            items=tuple(item_view(item, edition, zone, short) for item in section.items[:count]),
            hidden=len(section.items) - count,
        )
        for section, count in zip(edition.sections, counts, strict=True)
    )


def _join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def label_for_regions(regions: frozenset[str] | None, config: Config) -> str:
    if regions is None:
        return "all regions"
    order = {name: i for i, name in enumerate(config.edition.regions)}
    names = sorted(regions, key=lambda name: (order.get(name, len(order)), name))
    return _join_names([clean_line(name) for name in names]) if names else "no regions"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def subject_line(edition: Edition, config: Config, sections: int, stories: int) -> str:
    pattern = config.edition.subject
    try:
        subject = pattern.format(title=edition.title, date=edition.date, regions=sections, stories=stories,
                                 region_count=_count(sections, "region", "regions"),
                                 story_count=_count(stories, "story", "stories"))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"edition.subject pattern {pattern!r} cannot be filled (fields: title, date, "
                         f"regions, stories, region_count, story_count): {exc}") from exc
    return clean_line(subject)


def preheader(sections: tuple[SectionView, ...]) -> str:
    """The inbox preview line: the top story of each region, then the next ones."""
    ranked = [item.title for rank in range(3) for s in sections if rank < len(s.items) for item in [s.items[rank]]]
    return textwrap.shorten(" · ".join(ranked), PREHEADER_CHARS, placeholder=" …") if ranked else ""


def imprint_html(imprint: str) -> Markup:
    """The configured imprint, escaped, with its URLs made into links."""
    escaped = str(escape(clean_line(imprint)))
    return Markup(_URL_IN_TEXT.sub(lambda m: f'<a class="footer-link" href="{m[0]}">{m[0]}</a>', escaped))


def sender_address(config: Config) -> str:
    return config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()
