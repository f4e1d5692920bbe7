"""What `bench_flow.py` runs beside the flow: a temporary Prefect API in a process of its own,
and the process's memory (peak and current RSS, and a progress view noting both per stage)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb() -> float:
    """The RSS now (Linux: /proc; elsewhere the peak stands in)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


class MemoryView:
    """A progress view noting, as each of the flow's stages ends, the process's peak RSS so far
    and its RSS then (what the allocator still holds), to set beside the plain run's PEAKS."""

    def __init__(self) -> None:
        self.at_end: dict[str, tuple[float, float]] = {}

    def changed(self, stage, event: str) -> None:  # noqa: ANN001 - a digest.progress.Stage
        if event == "finish":
            self.at_end[stage.name] = (peak_rss_mb(), rss_mb())


@contextmanager
def api_server(folder: Path, timeout: float = 180.0) -> Iterator[str]:
    """A temporary Prefect API (SQLite under `folder`) in a process of its own, started as Prefect
    starts its own, but from outside: prefect_test_harness and the ephemeral API import Prefect's
    server package (~46 MB) into the process that then runs the flow; a deployed flow run talks to
    a server elsewhere. Yields its URL, set as PREFECT_API_URL."""
    import prefect
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    # The command and settings Prefect's own temporary API (SubprocessASGIServer) runs with.
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder / 'prefect-server.db'}"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
                               "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                               "--port", str(port), "--log-level", "error", "--lifespan", "on"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the Prefect API did not start on {url}") from None
                time.sleep(0.5)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
            # The run's last logs and events go out before the API stops, as prefect_test_harness does.
            APILogWorker.instance().drain()
            EventsWorker.drain_all()
            fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
            print(f"  API server CPU over its life: {(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.1f} s")
    finally:
        server.terminate()
        server.wait()
