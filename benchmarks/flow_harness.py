"""What `bench_flow.py` runs beside the flow: a temporary Prefect API in a process of its own,
the process's memory (peak and current RSS, and a progress view noting both per stage), and
`digest run` as a user runs it (its own process, Prefect's temporary API started inside)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
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
def api_server(folder: Path, timeout: float = 180.0) -> Iterator[str | None]:
    """A temporary Prefect API (SQLite under `folder`) in a process of its own, as `digest run`
    starts it (`flows.temporary_api`): prefect_test_harness imports Prefect's server package
    (~46 MB) into the process that then runs the flow; a deployed flow run talks to a server
    elsewhere. Yields its URL, set as PREFECT_API_URL (None: one was set already)."""
    from prefect.settings import (
        PREFECT_API_DATABASE_CONNECTION_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    from flows.temporary_api import temporary_api

    database = f"sqlite+aiosqlite:///{folder / 'prefect-server.db'}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: database,
                                     PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: timeout}):
        with temporary_api() as url:
            yield url
    # The API is the one child process waited for inside the block (the corpus server goes later).
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"  the API's process: {cpu:.1f} s of CPU over its life (start-up included)")


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
