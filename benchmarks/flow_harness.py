"""What `bench_flow.py` runs beside the flow: a temporary Prefect API in a process of its own,
the process's memory (peak and current RSS, and a progress view noting both per stage), and
`digest run` as a user runs it (its own process, Prefect's temporary API started inside)."""

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
            print(f"  the API's process: {_cpu_seconds(server.pid):.1f} s of CPU over its life (start-up included)")
    finally:
        server.terminate()
        server.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def digest_run(config: Path, edition: str, prefect_home: Path) -> tuple[float, float]:
    """`digest run` in a subprocess with no PREFECT_API_URL, so that Prefect starts its temporary
    API inside the command, as on a user's first run. Returns its wall seconds and its peak RSS
    (MB; the largest of the command and the processes it waited for, the API among them)."""
    digest = Path(sys.executable).with_name("digest")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    with open(prefect_home.parent / "digest-run.log", "w+", encoding="utf-8") as log:
        start = time.perf_counter()
        child = subprocess.Popen([str(digest), "run", "--config", str(config), "--date", edition],
                                 cwd=config.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # wait4: the child's own rusage, its peak RSS
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            log.seek(0)
            raise SystemExit(f"digest run failed ({child.returncode}):\n{log.read()[-4000:]}")
    return elapsed, usage.ru_maxrss / 1024
