"""Putting an edition together: section order, sections, who gets what, its stats and preview.

Pure functions on the models; `digest.pipeline` calls them between its stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from digest.models import (
    GLOBAL_REGION,
    DigestItem,
    Edition,
    EditionStats,
    Location,
    Section,
    Subscriber,
)
from digest.quality import QualityReport
from digest.stories import Story

T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in consecutive lists of at most `size`."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def story_items(stories: Sequence[Story], summaries: Sequence[tuple[str, ...]],
                locations: Sequence[Location]) -> list[DigestItem]:
    """One item per story: its face with the face's summary, the story's place and its other articles."""
    return [DigestItem(story.face, summary, location, story.others, story.update_of)
            for story, summary, location in zip(stories, summaries, locations, strict=True)]


def story_text(story: Story) -> tuple[str, str]:
    """The title and text a story is located from: the face's title, every article's text."""
    return story.face.title, "\n\n".join(article.text for article in story.articles)


def section_order(configured: Sequence[str], table_regions: Sequence[str],
                  fallback: str = GLOBAL_REGION) -> list[str]:
    """Configured regions first, then the table's; the fallback (Global) always last."""
    order = [r for r in configured if r != fallback]
    order += [r for r in table_regions if r not in order and r != fallback]
    return order + [fallback]


def build_edition(title: str, edition_date: date, created: datetime, items: Sequence[DigestItem],
                  order: Sequence[str], stats: EditionStats, edition_id: str = "") -> Edition:
    """Sections in `order` (fallback last), empty ones left out; unlisted regions go before the last."""
    order = list(order)
    for item in items:
        if item.location.region not in order:
            order.insert(max(len(order) - 1, 0), item.location.region)
    sections = tuple(
        Section(region, tuple(i for i in items if i.location.region == region)) for region in order
    )
    return Edition(title, edition_date, created, tuple(s for s in sections if s.items), stats, edition_id)


def narrow_subscribers(subscribers: Sequence[Subscriber], regions: Sequence[str] | None,
                       all_regions: Sequence[str]) -> list[Subscriber]:
    """Each subscriber's regions cut down to `regions`; those left with none are skipped."""
    if not regions:
        return list(subscribers)
    wanted = frozenset(regions)
    narrowed = []
    for sub in subscribers:
        keep = (sub.regions if sub.regions is not None else frozenset(all_regions)) & wanted
        if keep:
            narrowed.append(Subscriber(sub.email, sub.name, frozenset(keep), sub.id))
    return narrowed


def stats_json(stats: EditionStats, quality: QualityReport | None,
               sections: Sequence[Section] = ()) -> dict[str, Any]:
    """The edition's stats as stored with it (JSON-ready), with its stories per region and the
    stories themselves (headline, link, outlet, summary), which the web archive shows."""
    return {
        "regions": {s.region: len(s.items) for s in sections},
        "sections": [{"region": s.region,
                      "stories": [{"title": i.article.title, "url": i.article.url, "source": i.article.source,
                                   "summary": list(i.summary), "update": i.update_of is not None}
                                  for i in s.items]}
                     for s in sections],
        "sources": stats.sources, "sources_failed": stats.sources_failed,
        "articles_collected": stats.articles_collected, "articles_in_window": stats.articles_in_window,
        "articles_without_text": stats.articles_without_text,
        "errors": [{"source": e.source, "location": e.location, "error": e.error} for e in stats.errors],
        "timings": stats.timings,
        "quality": [{"check": c.name, "value": c.value, "limit": c.limit, "passed": c.passed,
                     "detail": c.detail}
                    for c in quality.checks] if quality else [],
    }


def _md(text: str) -> str:
    """Markdown-safe inline text (titles come from the web)."""
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in " ".join(text.split()))


def preview_markdown(edition: Edition, html_path: Path, quality: QualityReport, held: bool,
                     forced: bool, per_section: int = 3) -> str:
    """A short Markdown preview for the operator: the gate's verdict and the top stories per region."""
    status = "**HELD — not sent**" if held else ("sent despite failed checks (forced)" if forced else "passed")
    lines = [f"# {_md(edition.title)} — {edition.date.isoformat()}", "",
             f"HTML edition: [{html_path.name}]({html_path.resolve().as_uri()}) (`{html_path}`)", "",
             f"Quality gate: {status}", ""]
    for check in quality.checks:
        lines.append(f"- {'✅' if check.passed else '❌'} `{check.name}`: {_md(check.detail)}")
    for section in edition.sections:
        lines += ["", f"## {_md(section.region)} ({len(section.items)})", ""]
        for item in section.items[:per_section]:
            lines.append(f"- [{_md(item.article.title)}]({item.article.url}) — "
                         f"{_md(' '.join(item.summary)) or '_no summary_'}")
        if len(section.items) > per_section:
            lines.append(f"- … and {len(section.items) - per_section} more")
    return "\n".join(lines)
