"""The `daily-digest` Prefect flow: collect (and store) → select → group stories → summarize →
locate → render → quality gate → deliver, one edition per run.

Article processing (collection, summaries, regions) runs on the flow's task runner — threads
by default, a Dask cluster when `DIGEST_TASK_RUNNER=dask` — in batches, so a 2,000-article
edition makes tens of task runs, not thousands. Storing, rendering and delivery stay in the
flow's own process: the archive and the outbox live where the flow runs.
"""

# No `from __future__ import annotations`: Prefect builds the parameter model from the flow's
# signature, and string annotations fail to resolve when a runner loads this file by path.
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import ObjectNotFound
from prefect.futures import PrefectFutureList, as_completed
from prefect.schedules import Cron
from prefect.states import Completed, Failed, State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from digest import pipeline, progress
from digest.allocator import long_lived_frozen, release_free_memory
from digest.config import Config, gazetteer_path
from digest.config_file import load_config
from digest.credentials import resolve_secrets
from digest.edition import batches, preview_markdown
from digest.gazetteer import load_gazetteer
from digest.models import (
    Edition,
    EditionStats,
    EditionStatus,
    RunReport,
    SourceError,
)
from digest.pipeline import Delivery, Verdict
from digest.regions import load_region_table
from digest.store.ledger import unfinished_editions
from digest.summarize import summarizer_key
from flows.blocks import SECRET_BLOCKS, secret_from_block
from flows.fetch_limit import FETCH_TAG, at_most, ensure_fetch_limit, fetch_slots
from flows.tasks import (
    Collected,
    SourceFailed,
    bounces_task,
    collect_source_task,
    deliver_task,
    locate_batch,
    render_task,
    store_engine,
    summarize_batch,
)

HELD = "Held"
HELD_TAG = "held"
# `digest serve` registers its own deployment; deployments/prefect.yaml's (work pool) is "daily".
SERVE_NAME = "serve"
FINISH_DAYS = 7  # earlier editions whose delivery stopped short are finished this long after


def task_runner_from_env(environ: Mapping[str, str] = os.environ) -> TaskRunner:
    """The task runner named by DIGEST_TASK_RUNNER: `threads` (default) or `dask`.

    For Dask, DIGEST_DASK_ADDRESS names a running scheduler (tcp://host:8786); without it a
    temporary LocalCluster with DIGEST_DASK_WORKERS worker processes is started per run.
    """
    kind = environ.get("DIGEST_TASK_RUNNER", "threads").strip().lower()
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=int(environ.get("DIGEST_THREADS", "8")))
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        address = environ.get("DIGEST_DASK_ADDRESS")
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": int(environ.get("DIGEST_DASK_WORKERS", "2")),
                                              "threads_per_worker": 1})
    raise ValueError(f"DIGEST_TASK_RUNNER={kind!r}: expected 'threads' or 'dask'")


@contextmanager
def _stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Times the block as stage `name`, then hands the pages its garbage left in the C
    allocator back to the system, so that the next stage's peak does not stand on them."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - start, 3)
        release_free_memory()


def _collect(config: Config, now: datetime, limit: int) -> tuple[int, list[SourceError], int, int]:
    """Every source as its own task run, at most as many at once as the run holds `digest-fetch`
    slots (of `limit`); failed ones become SourceErrors, never exceptions.

    Returns how many articles were collected (each task has stored its own, and hands back
    only counts), the errors, how many sources failed and how many entries had no text.
    """
    if limit <= 0:
        # Prefect aborts the task runs of a tag whose limit is 0 instead of delaying them; so does
        # the run: no source is fetched, and the edition is built from what the store holds.
        reason = (f"not fetched: the Prefect concurrency limit '{FETCH_TAG}' is {limit}, which stops "
                  f"every fetch; raise it with `prefect concurrency-limit create {FETCH_TAG} N`")
        progress.current().advance("collect", len(config.sources), failed=len(config.sources))
        errors = [SourceError(source.name, source.url, reason) for source in config.sources]
        return 0, errors, len(config.sources), 0
    o = config.orchestration
    collect = collect_source_task.with_options(
        retries=o.fetch_retries, retry_delay_seconds=exponential_backoff(o.fetch_retry_delay))
    tracker = progress.current()
    # Each task's result read once, as it finishes: the totals below go in source order.
    outcomes: dict[int, Collected | BaseException] = {}
    with fetch_slots(len(config.sources), limit) as slots:
        for index, future in at_most(slots, lambda source: collect.submit(source, config, now), config.sources):
            outcome = outcomes[index] = future.state.result(raise_on_failure=False)
            if isinstance(outcome, Collected):
                tracker.advance("collect", articles=outcome.articles)
            else:
                tracker.advance("collect", failed=1)
    articles = 0
    errors: list[SourceError] = []
    failed = without_text = 0
    for index, source in enumerate(config.sources):
        outcome = outcomes[index]
        if isinstance(outcome, Collected):
            articles += outcome.articles
            errors.extend(outcome.errors)
            without_text += outcome.without_text
        elif isinstance(outcome, SourceFailed):
            failed += 1
            errors.extend(outcome.errors)
        else:
            failed += 1
            errors.append(SourceError(source.name, source.url, f"{type(outcome).__name__}: {outcome}"))
    return articles, errors, failed, without_text


def _tracked(futures: PrefectFutureList, stage: str) -> list[list[Any]]:
    """The batches' results in order, advancing `stage` by each batch's size as it finishes.

    Each result is read once: a read is a hop to Prefect's event loop thread (and a summary
    batch's a read of its stored result), ~20 ms each while the task threads hold the GIL."""
    tracker = progress.current()
    order = {future.task_run_id: index for index, future in enumerate(futures)}
    results: list[list[Any]] = [[] for _ in futures]
    for future in as_completed(futures):
        result = results[order[future.task_run_id]] = future.result()
        tracker.advance(stage, len(result))
    return results


def _publish_artifacts(edition: Edition, html_path: Path, verdict: Verdict) -> None:
    stats, quality = edition.stats, verdict.quality
    create_table_artifact(
        key="digest-regions",
        table=[{"region": s.region, "articles": len(s.items)} for s in edition.sections],
        description=f"Articles per region, edition {edition.id}")
    create_table_artifact(
        key="digest-failed-sources",
        table=[{"source": e.source, "where": e.location, "error": e.error} for e in stats.errors]
        or [{"source": "—", "where": "—", "error": "no failures"}],
        description=f"{stats.sources_failed} of {stats.sources} sources failed, edition {edition.id}")
    create_table_artifact(
        key="digest-timings",
        table=[{"stage": stage, "seconds": seconds} for stage, seconds in stats.timings.items()],
        description=f"Seconds per stage, edition {edition.id}")
    create_table_artifact(
        key="digest-quality",
        table=[{"check": c.name, "passed": c.passed, "value": round(c.value, 4), "limit": c.limit,
                "detail": c.detail} for c in quality.checks],
        description=("HELD: failed " + ", ".join(c.name for c in quality.failed)) if quality.failed
        else "All quality checks passed")
    create_markdown_artifact(
        key="digest-preview",
        markdown=preview_markdown(edition, html_path, quality, verdict.held, verdict.forced),
        description=f"Preview of edition {edition.id}")


def _mark_held(edition_id: str) -> None:
    """A held run ends Completed, like a sent one: its tag and name say "held" in lists and the UI."""
    run = FlowRunContext.get().flow_run
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, name=f"{run.name}-held-{edition_id}",
                               tags=sorted({*run.tags, HELD_TAG}))


@flow(name="daily-digest", task_runner=task_runner_from_env(),
      description="Collect, summarize, group by region, render and deliver one edition of the digest.")
def daily_digest(
    edition_date: date | None = None,
    config_path: str = "digest.toml",
    regions: list[str] | None = None,
    send: bool = True,
    force: bool = False,
    retry_failed: bool = False,
    finish: bool = False,
) -> RunReport | State:
    """Build (and unless `send` is false, deliver) the edition of `edition_date`.

    Args:
        edition_date: The edition to build, YYYY-MM-DD. Empty: today in the edition's time zone.
        config_path: The digest.toml to use, relative to the working directory of the run.
        regions: Send only these sections, e.g. ["Europe", "Africa"]; subscribers are cut down
            to them and those left with none get nothing. Empty: every region.
        send: Deliver to the outbox or through SMTP. Off: a dry run that writes the HTML edition
            and records and delivers nothing.
        force: Send even when the quality gate holds the edition.
        retry_failed: Also send again the messages a server refused for good in an earlier run.
        finish: Only finish an earlier edition whose delivery stopped short: collect nothing,
            and send only to the subscribers it was meant for (who have a ledger row).

    The run ends Failed, with the report, when delivery stops short (partial or deferred).
    A run first finishes the earlier editions of the last FINISH_DAYS days whose delivery
    stopped short, as subflows with `finish`.
    """
    with long_lived_frozen():
        return _edition(edition_date, config_path, regions, send, force, retry_failed, finish)


def _edition(edition_date: date | None, config_path: str, regions: list[str] | None, send: bool, force: bool,
             retry_failed: bool, finish: bool) -> RunReport | State:
    """The body of `daily_digest` (see there), in a flow run."""
    logger = get_run_logger()
    tracker = progress.current()
    tracker.finish("prefect", "API up, flow run started")
    timings: dict[str, float] = {}
    config = load_config(config_path)
    table = load_region_table(config.edition.region_table)
    plan = pipeline.plan_edition(config, table, edition_date)
    plan.check_regions(regions)
    # Resolved here, not passed in: flow parameters are stored by the Prefect API.
    secrets = resolve_secrets(config, os.environ, secret_from_block)
    if secrets.from_fallback:
        logger.info("secrets: loaded from Prefect Secret blocks %s",
                    ", ".join(SECRET_BLOCKS[name] for name in secrets.from_fallback))
    engine = store_engine(config.store_url)
    fetch_limit = ensure_fetch_limit(config.orchestration.fetch_concurrency)

    if send and not finish:
        for earlier in unfinished_editions(engine, before=plan.id,
                                           since=(plan.date - timedelta(days=FINISH_DAYS)).isoformat()):
            logger.info("deliver: finishing the delivery of edition %s first", earlier)
            daily_digest(edition_date=date.fromisoformat(earlier), config_path=config_path, force=True,
                         retry_failed=retry_failed, finish=True, return_state=True)

    tracker.start("collect", total=0 if finish else len(config.sources), unit="sources",
                  order=("entries", "articles", "failed"))
    with _stage(timings, "collect"):
        collected, errors, failed, without_text = _collect(config, plan.created, fetch_limit) if not finish else (0, [], 0, 0)
    tracker.finish("collect")
    logger.info("collect: %d articles from %d sources, %d failed", collected,
                len(config.sources), failed)
    for err in errors:
        logger.warning("collect: %s (%s): %s", err.source, err.location, err.error)

    # Each collect task has already recorded its source's articles (with the raw pages).
    # A dry run records no edition, so previewing early does not freeze the real one.
    with _stage(timings, "select"), tracker.stage("select"):
        selection = pipeline.select(engine, plan, record=send)
        tracker.advance("select", 0, articles=len(selection.articles))
    logger.info("select: %d articles in the window %s – %s, %d after folding copies", len(selection.selected),
                selection.since.isoformat(timespec="minutes"), selection.until.isoformat(timespec="minutes"),
                len(selection.articles))

    with _stage(timings, "stories"), tracker.stage("stories"):
        stories = pipeline.group(engine, selection)
        tracker.advance("stories", 0, stories=len(stories))
    logger.info("stories: %d stories from %d articles, %d of them updates of earlier editions",
                len(stories), len(selection.articles), sum(1 for s in stories if s.update_of))
    # Each stage's input goes once the next has what it needs: the edition is the only copy left at render.
    in_window = len(selection.articles)
    del selection

    size = config.orchestration.batch_size
    with _stage(timings, "summarize"), tracker.stage("summarize", total=len(stories), unit="stories"):
        faces = pipeline.faces_of(stories)
        sentences, summarizer = config.edition.sentences, config.edition.summarizer
        keys = {lang: summarizer_key(sentences, lang, summarizer) for lang in {face.language for face in faces}}
        summaries = [s for batch in _tracked(summarize_batch.map(batches(faces, size), unmapped(sentences),
                                                                 unmapped(summarizer), unmapped(keys)), "summarize")
                     for s in batch]
    logger.info("summarize: %d stories in %d batches, %d without a summary", len(faces),
                -(-len(faces) // size), sum(1 for s in summaries if not s))
    del faces

    with _stage(timings, "locate"), tracker.stage("locate", total=len(stories), unit="stories"):
        gazetteer = load_gazetteer(gazetteer_path(os.environ)).path  # builds the index on a machine's first run (under a minute)
        places = pipeline.places_of(stories, pipeline.source_homes(config))
        locations = [loc for batch in _tracked(locate_batch.map(batches(places, size),
                                                                unmapped(table), unmapped(gazetteer)), "locate")
                     for loc in batch]
    del places
    stats = EditionStats(sources=len(config.sources), sources_failed=failed,
                         articles_collected=collected, articles_in_window=in_window,
                         articles_without_text=without_text, errors=errors, timings=timings)
    edition = pipeline.assemble(plan, stories, summaries, locations, stats)
    del stories, summaries, locations
    logger.info("locate: %s", ", ".join(f"{s.region} {len(s.items)}" for s in edition.sections) or "nothing")

    with _stage(timings, "render"), tracker.stage("render"):
        rendered, html_path = render_task(quote(edition), config)
    logger.info("render: %s (%d bytes)", html_path, html_path.stat().st_size)

    verdict = pipeline.judge(edition, rendered.html, config, table, force=force)
    del rendered  # delivery renders its own messages; the web edition is in its file
    if verdict.quality.failed:
        logger.warning("quality: %s %s", "HELD —" if verdict.held else "forced past", "; ".join(verdict.reasons))
    else:
        logger.info("quality: all %d checks passed", len(verdict.quality.checks))

    delivery: Delivery | None = None
    if send and not verdict.held:
        with _stage(timings, "deliver"):
            delivery = deliver_task(quote(engine), quote(edition), config, secrets, regions, list(plan.order),
                                    retry_failed, only_listed=finish)
        tracker.finish("deliver")  # started by pipeline.deliver, which knows how many messages
        logger.info("edition %s: %s, %d messages %s", plan.id, delivery.status, len(delivery.messages),
                    f"in {config.outbox_dir}" if config.mail.smtp is None else f"via {config.mail.smtp.host}")
        if config.mail.imap is not None:
            bounces_task(config, quote(engine), secrets)
    if send:
        pipeline.archive(engine, edition, verdict, delivery, html_path, finishing=finish)
    _publish_artifacts(edition, html_path, verdict)
    unfinished = unfinished_editions(engine, before=plan.id) if send and not finish else []
    for earlier in unfinished:
        logger.warning("deliver: edition %s is not fully delivered; finish it with "
                       "`digest run --date %s`", earlier, earlier)

    report = RunReport(edition_id=plan.id, html_path=str(html_path),
                       articles_per_region={s.region: len(s.items) for s in edition.sections},
                       errors=errors, messages=delivery.messages if delivery else [], held=verdict.held,
                       held_reasons=verdict.reasons, timings=timings,
                       delivery=delivery.status if delivery else None,
                       delivery_problem=delivery.problem if delivery else None,
                       uncertain=delivery.uncertain if delivery else 0, unfinished=unfinished)
    if verdict.held:
        _mark_held(plan.id)
        return Completed(name=HELD, message="Edition held by the quality gate: " + "; ".join(verdict.reasons),
                         data=report)
    if delivery is not None and delivery.status != EditionStatus.SENT:
        return Failed(message=f"Edition {plan.id} {delivery.status}: "
                      + (delivery.problem or "some messages are still to send; a rerun sends them"),
                      data=report)
    return report


class DeploymentTaken(ValueError):
    """The deployment name belongs to a work-pool deployment (`prefect deploy`)."""


def check_serve_name(name: str) -> None:
    """Refuse to serve under the name of a work-pool deployment.

    Serving re-registers the deployment without its work pool and concurrency limit and pauses
    it on exit, so the two ways of running the flow must never share a name.
    """
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_deployment_by_name(f"{daily_digest.name}/{name}")
        except ObjectNotFound:
            return
    if existing.work_pool_name:
        raise DeploymentTaken(
            f"deployment {daily_digest.name}/{name} runs on work pool {existing.work_pool_name!r} "
            "(made by `prefect deploy`); serving it would strip its pool and concurrency limit "
            f"and pause it on exit: choose another --name (default {SERVE_NAME!r})")


def serve(config_path: Path, timezone: str, *, cron: str = "0 6 * * *", name: str = SERVE_NAME,
          send: bool = True) -> None:
    """Serve `daily-digest` in this process on a cron schedule in `timezone`, one run at a time."""
    check_serve_name(name)
    daily_digest.serve(name=name, schedules=[Cron(cron, timezone=timezone)],
                       parameters={"config_path": str(config_path), "send": send},
                       tags=["digest"], limit=1)
