"""The quality gate run before delivery: pure checks on a built edition.

An edition that fails any check is still built and archived, but held (not sent) unless
the operator forces it. Thresholds come from the `[quality]` section of the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from digest.config import QualityConfig
from digest.models import GLOBAL_REGION, DigestItem, Edition


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    passed: bool
    detail: str


@dataclass(frozen=True)
class QualityReport:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.passed)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _at_most(name: str, value: float, limit: float, detail: str) -> Check:
    return Check(name, value, limit, value <= limit, detail)


def evaluate(edition: Edition, html: str, thresholds: QualityConfig,
             fallback_region: str = GLOBAL_REGION) -> QualityReport:
    """Every check, passed or not, so the artifact can show the whole picture.

    `fallback_region` is where unlocated stories go (the region table's last region).
    """
    stats = edition.stats
    items = edition.items
    failed_share = _share(stats.sources_failed, stats.sources)
    empty = sum(1 for item in items if not item.summary)
    global_count = sum(1 for item in items if item.location.region == fallback_region)
    html_bytes = len(html.encode("utf-8"))
    size_detail = f"the HTML edition is {html_bytes:,} bytes"
    if html_bytes > thresholds.max_html_bytes and items:
        size_detail += _dominant_story(items)
    return QualityReport((
        _at_most("failed_sources", failed_share, thresholds.max_failed_source_share,
                 f"{stats.sources_failed} of {stats.sources} sources failed"),
        Check("articles", len(items), thresholds.min_articles, len(items) >= thresholds.min_articles,
              f"{len(items)} articles in the edition (at least {thresholds.min_articles} wanted)"),
        _at_most("empty_summaries", _share(empty, len(items)), thresholds.max_empty_summary_share,
                 f"{empty} of {len(items)} articles have no summary"),
        _at_most("global_share", _share(global_count, len(items)), thresholds.max_global_share,
                 f"{global_count} of {len(items)} articles could not be placed in a region"),
        _at_most("html_bytes", html_bytes, thresholds.max_html_bytes, size_detail),
    ))


def _dominant_story(items: list[DigestItem]) -> str:
    """Names the story when one holds most of the edition's text: then the fix is that
    story's source (or the collection limits), not the edition."""
    def size(item: DigestItem) -> int:
        return len(item.article.title.encode("utf-8")) + sum(len(s.encode("utf-8")) for s in item.summary)

    largest = max(items, key=size)
    if size(largest) * 2 < sum(size(item) for item in items):
        return ""
    title = largest.article.title[:60] + ("…" if len(largest.article.title) > 60 else "")
    return (f", mostly one story ({largest.article.source}: {title!r}, "
            f"{size(largest):,} bytes of title and summary)")
