"""The `daily-digest` Prefect flow, run for real on a temporary Prefect API.

Sources are the sample corpus served over HTTP by a local server, so fetch retries,
failed sources, batching, caching, artifacts and the quality gate are all exercised on
real flow and task runs.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from peak import Peak
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config_file import config_from_dict
from digest.models import GLOBAL_REGION, Article, DigestItem, EditionStats, Location, Subscriber
from digest.store import ArticleRow, EditionRow, open_store
from digest.edition import build_edition, narrow_subscribers, section_order
from flows.daily_digest import HELD, daily_digest, task_runner_from_env

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample"
EDITION = date(2017, 10, 18)
SILENT_SECONDS = 8.0  # longer than the budget of the test that fetches /silent/
SLOW_SECONDS = 0.6


class _SampleHandler(http.server.SimpleHTTPRequestHandler):
    """Serves sample/; /flaky/… answers 404 on its first request, then the file; /silent/…
    never answers (it holds the connection for SILENT_SECONDS); /slow/… answers after
    SLOW_SECONDS, counting how many such requests are open at once."""

    hits: Counter = Counter()
    slow = Peak()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(SAMPLE), **kwargs)

    def do_GET(self):  # noqa: N802 - http.server's naming
        _SampleHandler.hits[self.path] += 1
        if self.path.startswith("/silent/"):
            time.sleep(SILENT_SECONDS)
            return
        if self.path.startswith("/slow/"):
            self._slowly()
            return
        if self.path.startswith("/flaky/"):
            if _SampleHandler.hits[self.path] == 1:
                self.send_error(404, "not yet")
                return
            self.path = self.path.removeprefix("/flaky")
        super().do_GET()

    def _slowly(self):
        with _SampleHandler.slow:
            time.sleep(SLOW_SECONDS)
            self.path = self.path.removeprefix("/slow")
            super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sample_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SampleHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def make_config(tmp_path: Path, base: str, light: bool = False, **overrides) -> Path:
    """A TOML config in tmp_path: the two sample feeds over HTTP, the seed folder, one dead feed.

    `light` keeps only the full-text feed and the seed (no page fetches, nothing failing).
    """
    raw = {
        "output_dir": "out",
        "store_url": "sqlite:///digest.db",
        "edition": {"timezone": "Europe/London", "window_hours": 36, "max_lookback_hours": 36},
        "orchestration": {"fetch_retries": 1, "fetch_retry_delay": 0, "batch_size": 8},
        "sources": [
            {"name": "World", "kind": "feed", "url": f"{base}/feeds/world.rss", "local": True},
            {"name": "Wire", "kind": "feed", "url": f"{base}/flaky/feeds/wire.atom", "local": True,
             "fetch_pages": False},
            {"name": "Seed", "kind": "folder", "url": str(SAMPLE / "articles"), "local": True},
            {"name": "Dead", "kind": "feed", "url": f"{base}/feeds/missing.rss", "local": True},
        ],
        "subscribers": [{"email": "ana@example.org", "regions": ["Europe", "Middle East"]},
                        {"email": "bo@example.org"}],
    }
    if light:
        raw["sources"] = [{"name": "Wire", "kind": "feed", "url": f"{base}/feeds/wire.atom", "local": True,
                           "fetch_pages": False}, raw["sources"][2]]
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    config_from_dict(raw, base=tmp_path)  # fail here, not in the flow, on a bad test config
    path = tmp_path / "digest.toml"
    path.write_text(_toml(raw), encoding="utf-8")
    return path


def _toml(raw: dict) -> str:
    """Just enough TOML for these configs (tables, arrays of tables, scalars, string lists)."""
    import json

    def value(v):
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f"{k} = {value(v)}" for k, v in raw.items() if not isinstance(v, dict | list)]
    for key, table in raw.items():
        if isinstance(table, dict):
            lines += [f"[{key}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    for key, rows in raw.items():
        if isinstance(rows, list):
            for row in rows:
                lines += [f"[[{key}]]"] + [f"{k} = {value(v)}" for k, v in row.items()]
    return "\n".join(lines) + "\n"


def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _latest_artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_latest_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        return artifact


def _edition_row(config_dir: Path, edition_id: str) -> EditionRow:
    with Session(open_store(f"sqlite:///{config_dir / 'digest.db'}")) as session:
        return session.get(EditionRow, edition_id)


@pytest.fixture(scope="module")
def first_run(prefect_harness, sample_server, tmp_path_factory):
    """One full run of the flow on the sample, shared by the tests that read its results."""
    _SampleHandler.hits.clear()
    folder = tmp_path_factory.mktemp("flow")
    config = make_config(folder, sample_server)
    state = daily_digest(edition_date=EDITION, config_path=str(config), return_state=True)
    return folder, state


@pytest.mark.slow
def test_the_flow_builds_and_delivers_the_sample_edition(first_run):
    folder, state = first_run
    assert state.is_completed() and state.name == "Completed"
    report = state.result()
    assert report.edition_id == "2017-10-18"
    assert report.articles_per_region["Middle East"] >= 1
    assert list(report.articles_per_region)[-1] == GLOBAL_REGION or GLOBAL_REGION not in report.articles_per_region
    html = Path(report.html_path)
    assert html == folder / "out" / "editions" / "2017-10-18.html" and html.stat().st_size > 0
    messages = [email.message_from_bytes(Path(p).read_bytes(), policy=email.policy.default)
                for p in report.messages]
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == ["ana@example.org", "bo@example.org"]
    assert all(m.get_content_type() == "multipart/alternative" for m in messages)
    row = _edition_row(folder, "2017-10-18")
    assert row.status == "sent" and row.html_path == str(html)


@pytest.mark.slow
def test_every_collected_article_is_stored_with_the_page_it_was_read_from(first_run):
    folder, _ = first_run
    with Session(open_store(f"sqlite:///{folder / 'digest.db'}")) as session:
        rows = session.execute(select(ArticleRow.source, ArticleRow.raw_html)).all()
    assert {source for source, _ in rows} == {"World", "Wire", "Seed"}
    pages = [raw for source, raw in rows if source == "World"]  # the only source whose pages are fetched
    assert pages and all(pages)


@pytest.mark.slow
def test_a_dead_feed_is_reported_by_name_and_the_rest_still_arrive(first_run):
    _, state = first_run
    report = state.result()
    dead = [e for e in report.errors if e.source == "Dead"]
    assert dead and "missing.rss" in dead[0].location + dead[0].error
    assert sum(report.articles_per_region.values()) >= 30  # both sample feeds and the seed


@pytest.mark.slow
def test_a_feed_that_fails_once_is_collected_on_prefects_retry(first_run):
    _, state = first_run
    assert _SampleHandler.hits["/flaky/feeds/wire.atom"] == 2
    runs = {r.name: r for r in _task_runs(state.state_details.flow_run_id)}
    assert runs["collect Wire"].run_count == 2 and runs["collect Wire"].state.is_completed()
    assert runs["collect Dead"].state.is_failed()


@pytest.mark.slow
def test_articles_are_summarized_and_located_in_batches_not_one_task_each(first_run):
    _, state = first_run
    articles = sum(state.result().articles_per_region.values())
    names = Counter(r.task_key.split(".")[-1].split("-")[0] for r in _task_runs(state.state_details.flow_run_id))
    batches = -(-articles // 8)
    assert names["summarize_batch"] == batches and names["locate_batch"] == batches


@pytest.mark.slow
def test_the_run_publishes_region_failure_timing_and_preview_artifacts(first_run):
    _, state = first_run
    regions = _latest_artifact("digest-regions")
    assert regions.flow_run_id == state.state_details.flow_run_id
    assert "Middle East" in str(regions.data)
    assert "Dead" in str(_latest_artifact("digest-failed-sources").data)
    timings = str(_latest_artifact("digest-timings").data)
    assert all(stage in timings for stage in ("collect", "summarize", "locate", "render", "deliver"))
    preview = _latest_artifact("digest-preview").data
    assert "2017-10-18.html" in preview and "## Middle East" in preview


@pytest.mark.slow
def test_the_stage_progress_lines_go_to_the_run_log(first_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    _, state = first_run
    by_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    deadline = time.monotonic() + 20
    while True:  # run logs reach the API in batches, shortly after the run
        with get_client(sync_client=True) as client:
            messages = [log.message for log in client.read_logs(log_filter=by_run, limit=200)]
        if any(m.startswith("deliver: ") for m in messages) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any(m.startswith("collect: ") and "from 4 sources, 1 failed" in m for m in messages), messages
    assert any(m.startswith("deliver: 2 messages") for m in messages), messages


@pytest.mark.slow
def test_a_source_that_used_up_its_budget_is_not_retried(prefect_harness, sample_server, tmp_path):
    # Retries share the source's budget: a never-answering feed costs one budget, not one per try.
    config = make_config(tmp_path, sample_server, source_budget=3.0, fetch_timeout=5.0,
                         orchestration={"fetch_retries": 3, "fetch_retry_delay": 0},
                         sources=[{"name": "Wire", "kind": "feed", "url": f"{sample_server}/feeds/wire.atom",
                                   "local": True, "fetch_pages": False},
                                  {"name": "Silent", "kind": "feed", "url": f"{sample_server}/silent/feed.rss",
                                   "local": True}])
    state = daily_digest(edition_date=EDITION, config_path=str(config), return_state=True)
    assert _SampleHandler.hits["/silent/feed.rss"] == 1
    runs = {r.name: r for r in _task_runs(state.state_details.flow_run_id)}
    assert runs["collect Silent"].run_count == 1 and runs["collect Silent"].state.is_failed()
    assert runs["collect Wire"].state.is_completed()
    silent = [e for e in state.result().errors if e.source == "Silent"]
    assert silent and "source_budget" in silent[0].error


@pytest.mark.slow
def test_two_runs_sharing_a_fetch_limit_of_two_never_fetch_more_than_two_sources_at_once(
        prefect_harness, sample_server, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.fetch_limit import FETCH_TAG

    def config(name):
        folder = tmp_path / name
        folder.mkdir()
        return make_config(folder, sample_server, sources=[
            {"name": f"Slow {n}", "kind": "feed", "url": f"{sample_server}/slow/feeds/wire.atom?{name}{n}",
             "local": True, "fetch_pages": False} for n in range(3)])

    configs = [config("a"), config("b")]
    _SampleHandler.slow = Peak()
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=FETCH_TAG, concurrency_limit=2)  # or sets it to 2
    try:
        states = [None, None]

        def run(i):
            states[i] = daily_digest(edition_date=EDITION, config_path=str(configs[i]), send=False,
                                     return_state=True)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        with get_client(sync_client=True) as client:
            client.delete_concurrency_limit_by_tag(FETCH_TAG)  # the next run makes it again from its config
    assert all(state.is_completed() for state in states)
    assert all(not state.result().errors for state in states)
    assert _SampleHandler.slow.most == 2  # the limit's both slots are used, never more


@pytest.mark.slow
def test_a_fetch_limit_of_zero_fetches_nothing_and_says_why_for_every_source(prefect_harness, sample_server, tmp_path):
    # Prefect aborts, rather than delays, the task runs of a tag whose limit is 0: so does the run.
    from prefect.client.orchestration import get_client

    from flows.fetch_limit import FETCH_TAG

    config = make_config(tmp_path, sample_server, sources=[
        {"name": "Wire", "kind": "feed", "url": f"{sample_server}/feeds/wire.atom?paused", "local": True}])
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=FETCH_TAG, concurrency_limit=0)
    try:
        state = daily_digest(edition_date=EDITION, config_path=str(config), send=False, return_state=True)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_concurrency_limit_by_tag(FETCH_TAG)
    assert state.is_completed()
    assert not any("paused" in path for path in _SampleHandler.hits)
    [error] = state.result().errors
    assert error.source == "Wire" and f"'{FETCH_TAG}' is 0" in error.error


def test_a_collect_task_hands_back_counts_while_its_articles_go_to_the_store(sample_server, tmp_path):
    from digest.config_file import load_config
    from flows.tasks import Collected, collect_source_task

    config = load_config(make_config(tmp_path, sample_server, light=True))
    seed = next(source for source in config.sources if source.name == "Seed")
    result = collect_source_task.fn(seed, config, datetime.now(UTC))
    with Session(open_store(config.store_url)) as session:
        stored = session.scalars(select(ArticleRow.url).where(ArticleRow.source == "Seed")).all()
    assert stored and result == Collected(articles=len(stored), errors=[], without_text=0)


@pytest.mark.slow
def test_at_most_keeps_no_more_than_its_width_of_task_runs_unfinished(prefect_harness):
    from prefect import flow, task

    from flows.fetch_limit import at_most

    running = Peak()

    @task
    def work(n):
        with running:
            time.sleep(0.2)
        return n * n

    @flow
    def several():
        return sorted((i, future.result()) for i, future in at_most(3, work.submit, range(7)))

    assert several() == [(n, n * n) for n in range(7)]
    assert running.most == 3


@pytest.mark.slow
def test_batch_results_come_back_in_batch_order_whatever_order_they_finish_in(prefect_harness):
    from prefect import flow, task

    from digest import progress
    from flows.daily_digest import _tracked

    finished: list[int] = []

    @task
    def batch(items):
        time.sleep({0: 0.6, 3: 0.0, 4: 0.3}[items[0]])  # the first batch finishes last
        finished.append(items[0])
        return [n * 10 for n in items]

    @flow
    def batches():
        with progress.tracking(progress.Tracker()) as tracker, tracker.stage("summarize", total=6):
            results = _tracked(batch.map([[0, 1, 2], [3], [4, 5]]), "summarize")
            return results, tracker.stages["summarize"].done

    results, done = batches()
    assert results == [[0, 10, 20], [30], [40, 50]]
    assert done == 6  # each batch advanced the stage by its size
    assert finished[-1] == 0  # they did finish out of order


@pytest.mark.slow
def test_summaries_are_cached_by_content_on_a_second_run(prefect_harness, sample_server, tmp_path):
    config = make_config(tmp_path, sample_server, light=True)
    daily_digest(edition_date=EDITION, config_path=str(config), send=False)
    again = daily_digest(edition_date=EDITION, config_path=str(config), send=False, return_state=True)
    summaries = [r for r in _task_runs(again.state_details.flow_run_id) if r.name.startswith("summarize")]
    assert summaries and all(r.state.name == "Cached" for r in summaries)


@pytest.mark.slow
def test_switching_the_summarizer_does_not_serve_the_cached_summaries_of_another(prefect_harness, sample_server,
                                                                                  tmp_path):
    config = make_config(tmp_path, sample_server, light=True)
    daily_digest(edition_date=EDITION, config_path=str(config), send=False)
    config = make_config(tmp_path, sample_server, light=True, edition={"summarizer": "lead"})
    switched = daily_digest(edition_date=EDITION, config_path=str(config), send=False, return_state=True)
    summaries = [r for r in _task_runs(switched.state_details.flow_run_id) if r.name.startswith("summarize")]
    assert summaries and all(r.state.name == "Completed" for r in summaries)


@pytest.mark.slow
def test_a_failing_quality_check_holds_the_edition_until_forced(prefect_harness, sample_server, tmp_path):
    config = make_config(tmp_path, sample_server, light=True, quality={"min_articles": 500})
    held = daily_digest(edition_date=EDITION, config_path=str(config), return_state=True)
    assert held.is_completed() and held.name == HELD
    assert "articles" in held.message
    report = held.result()
    assert report.held and report.messages == [] and Path(report.html_path).exists()
    assert not (tmp_path / "out" / "outbox").exists() or not any((tmp_path / "out" / "outbox").iterdir())
    assert _edition_row(tmp_path, "2017-10-18").status == "held"
    quality = _latest_artifact("digest-quality")
    assert "articles" in quality.description and quality.description.startswith("HELD")

    forced = daily_digest(edition_date=EDITION, config_path=str(config), force=True, return_state=True)
    assert forced.name == "Completed" and len(forced.result().messages) == 2
    assert _edition_row(tmp_path, "2017-10-18").status == "sent"


@pytest.mark.slow
def test_the_regions_parameter_sends_only_those_sections(prefect_harness, sample_server, tmp_path):
    config = make_config(tmp_path, sample_server, light=True)
    report = daily_digest(edition_date=EDITION, config_path=str(config), regions=["Africa"])
    (only,) = report.messages  # ana chose Europe and the Middle East: nothing for her
    message = email.message_from_bytes(Path(only).read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "bo@example.org"
    text = message.get_body(("plain",)).get_content()
    assert "Africa" in text and "Middle East" not in text


@pytest.mark.slow
def test_an_unknown_region_is_refused_before_anything_is_collected(prefect_harness, tmp_path):
    config = make_config(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match="unknown regions.*Atlantis"):
        daily_digest(edition_date=EDITION, config_path=str(config), regions=["Atlantis"])


@pytest.mark.slow
def test_the_signing_key_can_come_from_a_prefect_secret_block(prefect_harness, sample_server, tmp_path,
                                                              monkeypatch):
    from prefect.blocks.system import Secret

    from digest.links import read_token

    monkeypatch.delenv("DIGEST_SECRET_KEY", raising=False)
    Secret(value="block-held-signing-key").save("digest-secret-key", overwrite=True)
    try:
        config = make_config(tmp_path, sample_server, light=True)
        report = daily_digest(edition_date=EDITION, config_path=str(config), regions=["Africa"])
    finally:
        Secret(value="").save("digest-secret-key", overwrite=True)
        monkeypatch.delenv("DIGEST_SECRET_KEY", raising=False)
    message = email.message_from_bytes(Path(report.messages[0]).read_bytes(), policy=email.policy.default)
    url = message["List-Unsubscribe"].split("<", 1)[1].split(">", 1)[0]
    claim = read_token("block-held-signing-key", url.rsplit("/", 1)[1], "unsubscribe")
    assert claim.is_for("block-held-signing-key", message["To"].addresses[0].addr_spec)


@pytest.mark.slow
def test_the_flow_runs_on_a_dask_local_cluster(prefect_harness, sample_server, tmp_path):
    from distributed import LocalCluster

    config = make_config(tmp_path, sample_server, light=True)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = task_runner_from_env({"DIGEST_TASK_RUNNER": "dask", "DIGEST_DASK_ADDRESS": cluster.scheduler_address})
        state = daily_digest.with_options(task_runner=runner)(
            edition_date=EDITION, config_path=str(config), send=False, return_state=True)
    assert state.is_completed()
    assert state.result().articles_per_region["Middle East"] >= 1


# --- the pure parts ---------------------------------------------------------------------------

def test_the_task_runner_is_chosen_by_environment():
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner_from_env({}), ThreadPoolTaskRunner)
    remote = task_runner_from_env({"DIGEST_TASK_RUNNER": "dask", "DIGEST_DASK_ADDRESS": "tcp://10.0.0.5:8786"})
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    with pytest.raises(ValueError, match="DIGEST_TASK_RUNNER='ray'"):
        task_runner_from_env({"DIGEST_TASK_RUNNER": "ray"})


def test_sections_follow_the_configured_order_with_global_last_and_empty_ones_left_out():
    order = section_order(["Europe", "Global"], ["Africa", "Asia", "Europe", "Global"])
    assert order == ["Europe", "Africa", "Asia", "Global"]

    def item(n: int, region: str) -> DigestItem:
        return DigestItem(Article(f"https://x.example/{n}", f"T{n}", "b", "s"), ("s.",), Location(None, region))

    items = [item(1, "Global"), item(2, "Asia"), item(3, "Europe"), item(4, "Asia")]
    edition = build_edition("D", EDITION, datetime(2017, 10, 18, tzinfo=UTC), items, order, EditionStats())
    assert [s.region for s in edition.sections] == ["Europe", "Asia", "Global"]
    assert [i.article.title for i in edition.sections[1].items] == ["T2", "T4"]


def test_a_regions_parameter_narrows_each_subscriber_and_skips_those_left_with_none():
    everything = Subscriber("all@example.org", id=1)
    europe = Subscriber("eu@example.org", regions=frozenset({"Europe"}), id=2)
    narrowed = narrow_subscribers([everything, europe], ["Africa"], ["Africa", "Europe", "Global"])
    assert narrowed == [Subscriber("all@example.org", None, frozenset({"Africa"}), 1)]
    assert narrow_subscribers([everything, europe], None, ["Africa"]) == [everything, europe]
