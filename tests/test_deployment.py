"""The operator's path: a real Prefect server, the deployment from deployments/prefect.yaml,
a process worker (or `digest serve`), and `prefect deployment run 'daily-digest/daily'`.

Everything runs in subprocesses with their own PREFECT_HOME and SQLite database on a free
port; every process started here is stopped again, whatever happens.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """A background process in its own session, so that it and its children can be stopped."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """`prefect server start` on SQLite and a free port; yields its API URL and a client env."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PWD=str(ROOT), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    with _process([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                   "--no-ui"], env, home / "server.log") as server:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (home / "server.log").read_text()
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Prefect server did not start:\n" + (home / "server.log").read_text()
            time.sleep(0.5)
        yield api, {**env, "PREFECT_API_URL": api}


def _write_config(folder: Path) -> Path:
    config = folder / "digest.toml"
    config.write_text(f"""
output_dir = "out"
store_url = "sqlite:///digest.db"

[edition]
timezone = "Europe/London"
window_hours = 36
max_lookback_hours = 36

[[subscribers]]
email = "ana@example.org"
regions = ["Europe", "Middle East"]

[[subscribers]]
email = "bo@example.org"

[[sources]]
name = "Sample World News"
kind = "feed"
url = "{SAMPLE / 'feeds' / 'world.rss'}"
local = true

[[sources]]
name = "Article files"
kind = "folder"
url = "{SAMPLE / 'articles'}"
local = true
""", encoding="utf-8")
    return config


def _trigger(env: dict[str, str], deployment: str, config: Path) -> str:
    out = _run([str(BIN / "prefect"), "deployment", "run", deployment,
                "--param", "edition_date=2017-10-18", "--param", f"config_path={config}",
                "--param", 'regions=["Middle East", "Africa"]'], env)
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


def _wait_for_final_state(api: str, flow_run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=10).json()["state"]
        if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return state
        time.sleep(1)
    raise AssertionError(f"flow run {flow_run_id} still {state['type']} after {timeout}s")


def _outbox(config: Path) -> dict[str, email.message.EmailMessage]:
    messages = {}
    for path in sorted((config.parent / "out" / "outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages[message["To"].addresses[0].addr_spec] = message
    return messages


def _assert_middle_east_only_for_ana(messages: dict[str, email.message.EmailMessage]) -> None:
    assert set(messages) == {"ana@example.org", "bo@example.org"}
    ana = messages["ana@example.org"].get_body(("plain",)).get_content()
    assert "Middle East" in ana and ("Astana" in ana or "Syria" in ana)
    assert "Africa" not in ana  # she chose Europe and the Middle East; the run sent only ME and Africa


def test_a_deployment_run_on_a_process_worker_writes_the_outbox(prefect_server, tmp_path):
    api, env = prefect_server
    config = _write_config(tmp_path)
    _run([str(BIN / "prefect"), "work-pool", "create", "digest", "--type", "process"], env)
    _run([str(BIN / "prefect"), "--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml",
          "--name", "daily"], env)

    deployment = httpx.get(f"{api}/deployments/name/daily-digest/daily", timeout=10).json()
    (schedule,) = deployment["schedules"]
    assert schedule["schedule"]["cron"] == "0 6 * * *"
    assert schedule["schedule"]["timezone"] == "Europe/London"
    assert deployment["work_pool_name"] == "digest"
    properties = deployment["parameter_openapi_schema"]["properties"]
    assert properties["edition_date"]["anyOf"][0]["format"] == "date"
    assert set(properties) == {"edition_date", "config_path", "regions", "send", "force", "retry_failed", "finish"}

    flow_run_id = _trigger(env, "daily-digest/daily", config)
    with _process([str(BIN / "prefect"), "worker", "start", "--pool", "digest", "--type", "process"],
                  env, tmp_path / "worker.log"):
        state = _wait_for_final_state(api, flow_run_id)
    assert (state["type"], state["name"]) == ("COMPLETED", "Completed"), (tmp_path / "worker.log").read_text()[-6000:]
    _assert_middle_east_only_for_ana(_outbox(config))


def test_digest_serve_keeps_a_schedule_and_runs_on_demand(prefect_server, tmp_path):
    api, env = prefect_server
    config = _write_config(tmp_path)
    with _process([str(BIN / "digest"), "serve", "--config", str(config), "--name", "served"],
                  env, tmp_path / "serve.log"):
        deadline = time.monotonic() + 120
        while httpx.get(f"{api}/deployments/name/daily-digest/served", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(1)
        deployment = httpx.get(f"{api}/deployments/name/daily-digest/served", timeout=10).json()
        assert deployment["schedules"][0]["schedule"]["timezone"] == "Europe/London"
        assert deployment["parameters"]["config_path"] == str(config)
        state = _wait_for_final_state(api, _trigger(env, "daily-digest/served", config))
    assert (state["type"], state["name"]) == ("COMPLETED", "Completed"), (tmp_path / "serve.log").read_text()[-6000:]
    _assert_middle_east_only_for_ana(_outbox(config))
