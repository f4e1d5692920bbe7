"""Prefect's temporary API for a run with no PREFECT_API_URL, started without Prefect's server code.

Prefect starts this API itself when a flow runs without an API URL (its "ephemeral" mode): a
uvicorn process serving `prefect.server.api.server:create_app`. To start it, though, the flow's
process imports Prefect's whole server package (~3,300 modules against ~2,500, +51 MB held to
the end of the run). `temporary_api` starts the same process with the same command, settings and
database (PREFECT_HOME's), and stops it the same way, from this process without that import.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import prefect
from prefect.logging import get_logger
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)

PORT_TAKEN = 3  # uvicorn's exit code when its port was taken in the meantime: Prefect tries another


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(port: int, log: Path) -> subprocess.Popen[bytes]:
    """The command and environment Prefect's SubprocessASGIServer runs (prefect/server/api/server.py)."""
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           **get_current_settings().to_environment_variables(exclude_unset=True)}
    with open(log, "ab") as out:  # a file, not a pipe nobody reads: a pipe would block a chatty server
        return subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
                                 "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "error", "--lifespan", "on"],
                                env=env, stdout=subprocess.DEVNULL, stderr=out)


def _ready(url: str) -> bool:
    """Whether the API answers its version, the first request of every Prefect client: the
    server's first answer to it takes ~0.5 s more than /health's, start-up work that a run on a
    lasting server does not pay either."""
    try:
        with urllib.request.urlopen(url + "/admin/version", timeout=2) as answer:
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    """As Prefect stops its own: terminate, then kill after 5 s."""
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def temporary_api() -> Iterator[str | None]:
    """Prefect's temporary API for the block, its URL set as PREFECT_API_URL; yields the URL.
    Does nothing (yields None) when an API URL is set or Prefect's ephemeral mode is off: the
    flow then talks to that server, or fails as Prefect fails.

    Raises RuntimeError naming the "ephemeral Prefect API" (as Prefect does) when the server
    does not answer within PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        yield None
        return
    # The server's errors go to a file, quoted if it fails to start; it lives as long as the server.
    with tempfile.TemporaryDirectory(prefix="digest-prefect-api-") as folder:
        log = Path(folder) / "server.log"
        port = _free_port()
        server = _start(port, log)
        # Prefect's own words (its logger, its level): where the API is and how to run a lasting one.
        get_logger().info(f"Starting temporary server on http://127.0.0.1:{port}\nSee "
                          "https://www.prefect.io/docs/v3/concepts/server#how-to-guides "
                          "for more information on running a dedicated Prefect server.")
        try:
            deadline = time.monotonic() + settings.server.ephemeral.startup_timeout_seconds
            while not _ready(f"http://127.0.0.1:{port}/api"):
                if server.poll() == PORT_TAKEN:
                    port = _free_port()
                    server = _start(port, log)
                elif server.poll() is not None or time.monotonic() > deadline:
                    exited = "" if server.poll() is None else f" (the server exited with code {server.returncode})"
                    raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server"
                                       f"{exited}: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            url = f"http://127.0.0.1:{port}/api"
            # No flow-run heartbeats: they are for a lasting server to tell crashed runs, and this
            # one stops with the run. Prefect's heartbeat thread sleeps in 1 s steps and is joined
            # as the run ends: 0-1 s of waiting for nothing on every run.
            with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                try:
                    yield url
                finally:
                    _drain()
        finally:
            get_logger().info(f"Stopping temporary server on http://127.0.0.1:{port}")
            _stop(server)


def _drain() -> None:
    """The run's last logs and events go out before the API stops (as prefect_test_harness does)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.instance().drain()
    EventsWorker.drain_all()
