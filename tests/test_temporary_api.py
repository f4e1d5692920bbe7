"""flows.temporary_api: Prefect's temporary API for `digest run`, without Prefect's server code in
the run's process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"),
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")
    environ.pop("PREFECT_API_URL", None)
    environ.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ,
                          timeout=600, cwd=tmp_path)


@pytest.mark.slow  # starts Prefect's API (uvicorn) in a process of its own
def test_a_flow_runs_against_it_and_the_servers_code_stays_out_of_the_process(tmp_path):
    done = _python("""
import sys, urllib.request
from prefect import flow
from flows.temporary_api import temporary_api

@flow
def hello() -> str:
    return "hello"

with temporary_api() as url:
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY
    assert PREFECT_API_URL.value() == url, (PREFECT_API_URL.value(), url)
    assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None  # nothing would watch them
    print(hello())
print(sorted(m for m in sys.modules if m.startswith("prefect.server.api")))
try:
    urllib.request.urlopen(url + "/health", timeout=2)
    print("still up")
except OSError:
    print("stopped")
""", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["hello", "[]", "stopped"], done.stdout
    assert "Starting temporary server on http://127.0.0.1:" in done.stderr
    assert (tmp_path / "prefect-home" / "prefect.db").exists()  # Prefect's own database, as its ephemeral API


@pytest.mark.slow  # starts Prefect's API twice
def test_a_runs_last_log_and_final_state_reach_the_api_before_it_stops(tmp_path):
    # Read back from Prefect's database by a second temporary API: what the UI would show.
    done = _python("""
from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from flows.temporary_api import temporary_api

@flow
def last_words() -> int:
    get_run_logger().info("the run's last words")
    return 1

with temporary_api():
    run_id = last_words(return_state=True).state_details.flow_run_id
with temporary_api():
    with get_client(sync_client=True) as client:
        print(client.read_flow_run(run_id).state.type.value)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        print([log.message for log in logs][-2:])
""", tmp_path)
    assert done.returncode == 0, done.stderr
    state, last_logs = done.stdout.strip().split("\n")[-2:]
    assert state == "COMPLETED"
    assert last_logs == "[\"the run's last words\", 'Finished in state Completed()']", last_logs


def test_with_an_api_url_set_it_starts_nothing(tmp_path):
    done = _python("""
from flows.temporary_api import temporary_api
with temporary_api() as url:
    print(url)
""", tmp_path, PREFECT_API_URL="http://127.0.0.1:9/api")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "None\n" and "Starting temporary server" not in done.stderr


def test_a_server_that_does_not_answer_in_time_is_a_runtime_error_naming_the_ephemeral_api(tmp_path):
    done = _python("""
from flows.temporary_api import temporary_api
try:
    with temporary_api():
        pass
except RuntimeError as exc:
    print("ephemeral Prefect API" in str(exc))
""", tmp_path, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True")
