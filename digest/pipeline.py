"""One edition, stage by stage, as plain functions.

plan → collect (`digest.collect` finds, `collect` here records) → select → group into stories →
summarize faces → locate stories → assemble → render → judge → deliver → archive.
`flows/daily_digest.py` wraps these stages as Prefect tasks (retries, caching, concurrency,
logging); `digest.proof` and the benchmarks call them directly, so there is one sequence, not
copies of it.

The summarize and locate stages take compact inputs (`Face`, `Place`: a few strings each) rather
than Articles and Stories, so that a task runner ships, hashes and inspects only what they read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.engine import Engine

from digest import progress
from digest.collect import SourceMemory, SourceResult, collect_source, fetcher_for
from digest.config import Config, SourceConfig
from digest.credentials import Secrets
from digest.dedupe import deduplicate
from digest.deliver import DeliveryError, deliver_edition, transport_for
from digest.edition import (
    build_edition,
    narrow_subscribers,
    section_order,
    stats_json,
    story_items,
    story_text,
)
from digest.gazetteer import Gazetteer
from digest.store.ledger import OUTBOX, edition_status, ledger_counts, ledger_subscriber_ids
from digest.message import build_mime
from digest.models import Article, Edition, EditionStats, EditionStatus, Location, Subscriber
from digest.quality import QualityReport, evaluate
from digest.regions import RegionTable, locate
from digest.render import Rendered, render_edition
from digest.fetch import Fetcher
from digest.store import (
    get_source_state,
    known_articles,
    record_articles,
    save_edition,
    save_source_state,
    select_edition,
    sent_articles,
)
from digest.stories import Grouping, Story, stories_of
from digest.subscribers import active_subscribers, sync_from_config
from digest.summarizers import DEFAULT as DEFAULT_SUMMARIZER, get_summarizer

log = logging.getLogger(__name__)

OnError = Callable[[str, Exception], None]  # (what failed, e.g. "title (url)", the exception)


@dataclass(frozen=True)
class EditionPlan:
    """Which edition a run builds: its id, date, time (the window's end) and window rules."""

    id: str
    date: date
    time: datetime  # the edition time, in the edition's zone
    created: datetime  # when the run began (UTC): the edition's timestamp, and "now" for collection
    title: str
    window_hours: float
    max_lookback_hours: float
    order: tuple[str, ...]  # section order, fallback region last

    def check_regions(self, regions: Sequence[str] | None) -> None:
        """Refuse a region list naming a section this edition cannot have."""
        unknown = sorted(set(regions or ()) - set(self.order))
        if unknown:
            raise ValueError(f"unknown regions {unknown}; known: {list(self.order)}")


def plan_edition(config: Config, table: RegionTable, edition_date: date | None = None, *,
                 now: datetime | None = None) -> EditionPlan:
    """The plan for `edition_date` (default: today in the edition's time zone)."""
    zone = config.edition.zone
    now = now or datetime.now(UTC)
    edition_date = edition_date or now.astimezone(zone).date()
    return EditionPlan(
        id=edition_date.isoformat(), date=edition_date,
        time=datetime.combine(edition_date, config.edition.edition_time, tzinfo=zone), created=now,
        title=config.edition.title, window_hours=config.edition.window_hours,
        max_lookback_hours=config.edition.max_lookback_hours,
        order=tuple(section_order(config.edition.regions, table.regions, table.fallback)))


def collect(engine: Engine | None, source: SourceConfig, config: Config, *, now: datetime,
            fetcher: Fetcher | None = None, fast: bool = False, budget: float | None = None) -> SourceResult:
    """One source collected with what the store remembers of it, and what it found recorded:
    the articles (returned as stored, first-seen times kept) with the pages they were read
    from, and the source's status and conditional-GET validators. Without an engine, nothing
    is remembered or recorded (`digest sources check`)."""
    if engine is None:
        return collect_source(source, config, now=now, fetcher=fetcher, fast=fast, budget=budget)
    state = get_source_state(engine, source.name, source.url)
    memory = SourceMemory(etag=state.etag if state else None, last_modified=state.last_modified if state else None,
                          known=lambda urls: known_articles(engine, urls))
    result = collect_source(source, config, now=now, memory=memory, fetcher=fetcher, fast=fast, budget=budget)
    if result.articles:
        result.articles = record_articles(engine, result.articles, now, raw_html=result.raw_pages)
    validators = result.validators._asdict() if result.validators else {}
    save_source_state(engine, source.name, source.url, status=result.status,
                      error="; ".join(e.error for e in result.errors) or None, now=now, **validators)
    # Recorded: the pages need not travel back to the caller (a flow's task runner ships results).
    result.raw_pages = {}
    return result


def collect_all(engine: Engine | None, config: Config, *, now: datetime, fast: bool = False) -> list[SourceResult]:
    """Every configured source (`collect`), sharing one polite fetcher; results in config order."""
    with fetcher_for(config) as fetcher, ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda s: collect(engine, s, config, now=now, fetcher=fetcher, fast=fast),
                             config.sources))


@dataclass(frozen=True)
class Selection:
    """The edition's articles: all in its window, and those left after folding copies."""

    selected: list[Article]
    articles: list[Article]
    since: datetime
    until: datetime


def select(engine: Engine, plan: EditionPlan, *, record: bool) -> Selection:
    """The articles of the plan's window from the store, copies folded.

    With `record` the selection is written (a dry run or proof records nothing, so it does not
    freeze the real edition).
    """
    selected, since, until = select_edition(engine, plan.id, plan.time, plan.window_hours,
                                            plan.max_lookback_hours, title=plan.title, record=record)
    return Selection(selected, deduplicate(selected), since, until)


def group(engine: Engine, selection: Selection) -> list[Story]:
    """The selection's stories; an article of a story sent in the last few days is an update."""
    earlier = sent_articles(engine, selection.since - timedelta(days=Grouping().max_days), selection.since)
    return stories_of(selection.articles, earlier=earlier)


class Face(NamedTuple):
    """What a story's summary is made from: its face article's text."""

    url: str
    content_hash: str
    title: str
    text: str
    language: str | None


class Place(NamedTuple):
    """What a story is located from (`story_text`): the face's title and every article's text,
    and the home of the face's outlet when the operator gave one."""

    url: str
    title: str
    text: str
    home: str | None = None


def faces_of(stories: Sequence[Story]) -> list[Face]:
    return [Face(s.face.url, s.face.content_hash, s.face.title, s.face.text, s.face.language) for s in stories]


def places_of(stories: Sequence[Story], homes: Mapping[str, str] | None = None) -> list[Place]:
    """What each story is located from; `homes` maps a source's name to its home (`source_homes`)."""
    homes = homes or {}
    return [Place(s.face.url, *story_text(s), homes.get(s.face.source)) for s in stories]


def source_homes(config: Config) -> dict[str, str]:
    return {source.name: source.home for source in config.sources if source.home}


def _log_error(what: str, exc: Exception) -> None:
    log.warning("%s failed: %s: %s", what, type(exc).__name__, exc)


def summarize_faces(faces: Sequence[Face], sentences: int, on_error: OnError = _log_error,
                    summarizer: str = DEFAULT_SUMMARIZER) -> list[tuple[str, ...]]:
    """Each face's summary by the named summarizer (`digest.summarizers`); one that fails is told to
    `on_error` and gets none (the gate counts those)."""
    summarize = get_summarizer(summarizer).summarize
    summaries: list[tuple[str, ...]] = []
    for face in faces:
        try:
            summaries.append(tuple(summarize(face.text, face.title, sentences, face.language)))
        except Exception as exc:  # noqa: BLE001 - one article must not spoil the others
            on_error(f"summarizing {face.title} ({face.url})", exc)
            summaries.append(())
    return summaries


def locate_places(places: Sequence[Place], table: RegionTable, gazetteer: Gazetteer,
                  on_error: OnError = _log_error) -> list[Location]:
    """Each story's place; one that fails is told to `on_error` and goes to the fallback region."""
    locations: list[Location] = []
    for place in places:
        try:
            locations.append(locate(place.title, place.text, table, gazetteer, place.home))
        except Exception as exc:  # noqa: BLE001 - one story must not spoil the others
            on_error(f"locating {place.title} ({place.url})", exc)
            locations.append(Location(None, table.fallback))
    return locations


def assemble(plan: EditionPlan, stories: Sequence[Story], summaries: Sequence[tuple[str, ...]],
             locations: Sequence[Location], stats: EditionStats) -> Edition:
    """The edition: one item per story, in sections in the plan's order.

    Its articles carry no text: what comes after (render, the quality gate, delivery, the
    archive) reads titles, links and summaries, and the texts of 10,000 articles would be
    ~20 MB kept to the end of the run. The store keeps every article's text."""
    items = [replace(item, article=_without_text(item.article), others=tuple(map(_without_text, item.others)))
             for item in story_items(stories, summaries, locations)]
    return build_edition(plan.title, plan.date, plan.created, items, plan.order, stats, plan.id)


def _without_text(article: Article) -> Article:
    return replace(article, text="")


def build_from_store(engine: Engine, plan: EditionPlan, config: Config, table: RegionTable,
                     gazetteer: Gazetteer, *, record: bool,
                     stats: EditionStats | None = None) -> tuple[Edition, Selection, list[Story]]:
    """select → group → summarize → locate → assemble, in this process (no task runner)."""
    selection = select(engine, plan, record=record)
    stories = group(engine, selection)
    summaries = summarize_faces(faces_of(stories), config.edition.sentences,
                                summarizer=config.edition.summarizer)
    locations = locate_places(places_of(stories, source_homes(config)), table, gazetteer)
    return assemble(plan, stories, summaries, locations, stats or EditionStats()), selection, stories


def render(edition: Edition, config: Config) -> tuple[Rendered, Path]:
    """The full edition rendered (its HTML only: no plain-text part), and written as
    `editions/<id>.html` under the output folder."""
    rendered = render_edition(edition, config, text=False)
    path = config.output_dir / "editions" / f"{edition.id}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rendered.html, encoding="utf-8")
    return rendered, path


@dataclass(frozen=True)
class Verdict:
    """The quality gate's word on an edition: held unless it passed or is forced."""

    quality: QualityReport
    held: bool
    forced: bool  # sent although checks failed

    @property
    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail} (limit {c.limit:g})" for c in self.quality.failed]


def judge(edition: Edition, html: str, config: Config, table: RegionTable, *, force: bool) -> Verdict:
    quality = evaluate(edition, html, config.quality, fallback_region=table.fallback)
    return Verdict(quality, held=not quality.passed and not force, forced=force and not quality.passed)


@dataclass
class Delivery:
    """What delivery did: where messages went, and how the edition's delivery stands."""

    messages: list[str]
    status: EditionStatus  # sent | partial | deferred
    problem: str | None = None
    uncertain: int = 0


def deliver(engine: Engine, edition: Edition, config: Config, secrets: Secrets, *, regions: Sequence[str] | None,
            all_regions: Sequence[str], retry_failed: bool = False, only_listed: bool = False,
            logger: logging.Logger | logging.LoggerAdapter = log) -> Delivery:
    """Messages to the outbox (one .eml each) or through SMTP; says where each one went.

    `regions` narrows every subscriber to those of `all_regions` (the plan's order); `only_listed` (finishing an earlier
    edition) sends only to subscribers with a ledger row, not to those who subscribed since.
    A server problem does not raise: the edition is reported partial or deferred, so the caller
    records it and the next run finishes it. `secrets` (resolved at the edge) signs the links
    and logs in to the server.
    """
    sync_from_config(engine, config)
    subscribers = narrow_subscribers(active_subscribers(engine), regions, all_regions)
    if only_listed:
        listed = ledger_subscriber_ids(engine, edition.id)
        subscribers = [s for s in subscribers if s.id in listed]

    def no_message(subscriber: Subscriber, exc: Exception) -> None:
        logger.warning("deliver: no message for %s: %s", subscriber.email, exc)

    # Ready-made bytes: much cheaper per message than EmailMessage objects, and built lazily.
    # The caller finishes the "deliver" progress stage (it may still log or record after this).
    progress.current().start("deliver", total=len(subscribers), unit="messages")
    messages = progress.counted(build_mime(edition, edition.id, subscribers, config, secrets, on_error=no_message),
                                "deliver")
    transport = transport_for(config, secrets)
    outbox = transport.taken == OUTBOX
    before = ledger_counts(engine, edition.id).get(OUTBOX, 0) if outbox else 0
    problem = None
    try:
        report = deliver_edition(engine, edition.id, messages, transport, retry_failed=retry_failed)
    except DeliveryError as exc:
        if exc.report is None:
            raise
        report, problem = exc.report, str(exc)
        logger.error("deliver: %s", problem)
    counts = ledger_counts(engine, edition.id)
    if outbox:
        new = counts.get(OUTBOX, 0) - before
        # A rerun writes the same files again: say so, rather than look as if it sent again.
        logger.info("deliver: %d messages in %s: %d new, %d written again (already there from an earlier run)",
                    report.sent, transport.name, new, report.sent - new)
    else:
        logger.info("deliver: %d sent, %d already sent earlier, %d deferred, %d failed, %d bounced, "
                    "%d being sent by another run, %d sent again after a crash (uncertain)",
                    report.sent, report.already_done, report.deferred, report.failed, report.bounced,
                    report.busy, report.uncertain)
    for problem_line in report.problems:
        logger.warning("deliver: %s", problem_line)
    # Outbox rows stay unfinished in the ledger (an SMTP run still owes them), but the edition is out.
    status = EditionStatus.SENT if outbox and problem is None else EditionStatus(edition_status(counts))
    return Delivery(report.delivered, status, problem, report.uncertain)


# What a run that only finishes an earlier edition's delivery leaves as the first run stored it.
COLLECTION_STATS = ("sources", "sources_failed", "articles_collected", "articles_without_text", "errors")


def archive(engine: Engine, edition: Edition, verdict: Verdict, delivery: Delivery | None,
            html_path: Path, *, finishing: bool = False) -> None:
    """Record how the edition ended (held, or its delivery status) with its stats; `finishing`
    keeps the collection figures of the run that built it."""
    status = EditionStatus.HELD if verdict.held else delivery.status if delivery else EditionStatus.BUILT
    save_edition(engine, edition.id, status=status, html_path=str(html_path),
                 stats=stats_json(edition.stats, verdict.quality, edition.sections),
                 keep=COLLECTION_STATS if finishing else ())
