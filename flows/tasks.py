"""The `daily-digest` flow's tasks: `digest.pipeline`'s stages with the retries, caching and
concurrency tags Prefect adds. The flow itself, and how it strings them together, is in
`flows/daily_digest.py`.
"""

# No `from __future__ import annotations`: Prefect builds each task's parameter model from its
# signature, and string annotations fail to resolve when a runner loads the flow by path.
import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.states import State
from sqlalchemy import Engine

from digest import pipeline
from digest.bounces import BounceError, process_mailbox
from digest.config import Config, SourceConfig
from digest.credentials import Secrets
from digest.gazetteer import open_gazetteer
from digest.models import Edition, Location, SourceError
from digest.pipeline import Delivery, Face, Place
from digest.regions import RegionTable
from digest.render import Rendered
from digest.store import open_store

MIN_RETRY_BUDGET = 1.0  # seconds a retry gets when its delay used up the rest of the source's budget


@lru_cache(maxsize=4)
def store_engine(url: str) -> Engine:
    """One engine per process and store URL (task runs on Dask workers open their own)."""
    return open_store(url)


class SourceFailed(Exception):
    """A source failed as a whole (not one of its pages); raised so that Prefect retries it."""

    def __init__(self, source: str, errors: list[SourceError], time_left: float) -> None:
        super().__init__(source, errors, time_left)
        self.source = source
        self.errors = errors
        self.time_left = time_left  # of the source's budget, which its retries share

    def __str__(self) -> str:
        return f"{self.source}: " + "; ".join(f"{e.location}: {e.error}" for e in self.errors)


def _budget_left(budget: float) -> float:
    """Seconds left of a source's budget: Prefect keeps a task run's start time across its
    retries, so the attempts of one source share one budget instead of each having all of it."""
    context = TaskRunContext.get()
    started = context.task_run.start_time if context and context.task_run else None
    if started is None:
        return budget
    return budget - (datetime.now(UTC) - started).total_seconds()


def _retry_while_budget_lasts(_task: Any, _task_run: Any, state: State) -> bool:
    failure = state.data
    return not isinstance(failure, SourceFailed) or failure.time_left > 0


class Collected(NamedTuple):
    """What a collect task run hands back: counts and errors. Its articles are in the store,
    where the later stages read them; holding them in task results would cost memory for nothing."""

    articles: int
    errors: list[SourceError]
    without_text: int


# No concurrency tag: the flow run holds the `digest-fetch` slots for all its collect task runs
# (flows/fetch_limit.py).
@task(name="collect-source", task_run_name="collect {source.name}",
      cache_policy=NO_CACHE, persist_result=False, retry_jitter_factor=0.5,
      retry_condition_fn=_retry_while_budget_lasts)
def collect_source_task(source: SourceConfig, config: Config, now: datetime) -> Collected:
    # A retry whose delay ate the rest of the budget still gets a moment to try once more.
    budget = max(_budget_left(config.source_budget), MIN_RETRY_BUDGET)
    result = pipeline.collect(store_engine(config.store_url), source, config, now=now, budget=budget)
    if result.failed:
        raise SourceFailed(source.name, list(result.errors), _budget_left(config.source_budget))
    return Collected(len(result.articles), result.errors, result.without_text)


def _summary_cache_key(_context: Any, parameters: dict[str, Any]) -> str:
    """Content hashes, titles and the summarizer's own keys: same input text, same summaries."""
    keys = parameters["summarizer_keys"]
    digest = hashlib.sha256()
    for face in parameters["faces"]:
        digest.update(f"{face.content_hash}\x1f{face.title}\x1f{keys[face.language]}\x1e".encode())
    return f"summaries-{digest.hexdigest()}"


@task(name="summarize-batch", cache_key_fn=_summary_cache_key, cache_expiration=timedelta(days=30),
      persist_result=True)
def summarize_batch(faces: list[Face], sentences: int, summarizer: str,
                    summarizer_keys: dict[str | None, str]) -> list[tuple[str, ...]]:
    """`summarizer_keys` (by language) only keys the cache: computed once per run, not per article."""
    logger = get_run_logger()
    return pipeline.summarize_faces(faces, sentences, lambda what, exc: logger.warning(
        "%s failed: %s: %s", what, type(exc).__name__, exc), summarizer=summarizer)


@task(name="locate-batch", cache_policy=NO_CACHE, persist_result=False)
def locate_batch(places: list[Place], table: RegionTable, gazetteer: Path) -> list[Location]:
    # The index goes by path (opened once per process): the opened gazetteer holds 350,000 names.
    logger = get_run_logger()
    return pipeline.locate_places(places, table, open_gazetteer(gazetteer), lambda what, exc: logger.warning(
        "%s failed: %s: %s", what, type(exc).__name__, exc))


# The edition and the engine are passed `quote`d: Prefect would otherwise walk every item of the
# edition's object graph looking for futures, for nothing.
@task(name="render", cache_policy=NO_CACHE, persist_result=False)
def render_task(edition: Edition, config: Config) -> tuple[Rendered, Path]:
    return pipeline.render(edition, config)


@task(name="bounces", cache_policy=NO_CACHE, persist_result=False)
def bounces_task(config: Config, engine: Engine, secrets: Secrets) -> dict[str, int]:
    """Read the bounce and unsubscribe mailbox once delivery is done ([mail.imap]).

    A mailbox that cannot be read is a warning: it must not fail an edition already sent."""
    logger = get_run_logger()
    try:
        report = process_mailbox(config, engine, secrets)
    except BounceError as exc:
        logger.warning("bounces: %s", exc)
        return {}
    logger.info("bounces: %s: %s", report.mailbox,
                ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts.items())) or "nothing new")
    return report.counts


@task(name="deliver", cache_policy=NO_CACHE, persist_result=False)
def deliver_task(engine: Engine, edition: Edition, config: Config, secrets: Secrets, regions: list[str] | None,
                 all_regions: list[str], retry_failed: bool = False, only_listed: bool = False) -> Delivery:
    return pipeline.deliver(engine, edition, config, secrets, regions=regions, all_regions=all_regions,
                            retry_failed=retry_failed, only_listed=only_listed, logger=get_run_logger())
