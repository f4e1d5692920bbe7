"""Progress of a run: stage lines with counts, from the first second, live on a terminal, sparse in a pipe."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from digest import progress
from digest.progress import LineView, RichView, Tracker

ROOT = Path(__file__).resolve().parent.parent


def test_a_pipe_gets_a_line_when_a_stage_starts_and_ends_not_one_per_item():
    out = io.StringIO()
    tracker = Tracker(LineView(out, interval=60))
    tracker.start("collect", total=3, unit="sources")
    for _ in range(3):
        tracker.advance("collect", articles=500)
    tracker.finish("collect")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == "progress: collect: 0/3 sources …"
    assert lines[1].startswith("progress: collect: 3/3 sources, 1,500 articles (")


def test_side_counts_keep_their_declared_order_whichever_thread_counts_first():
    tracker = Tracker()
    tracker.start("collect", total=2, unit="sources", order=("entries", "articles"))
    tracker.advance("collect", articles=3)  # a file source done before the feed's first entry
    tracker.advance("collect", 0, entries=4)
    tracker.advance("collect", 0, moved=1)  # not declared: after the declared ones
    assert tracker.stages["collect"].counted == "1/2 sources, 4 entries, 3 articles, 1 moved"


def test_a_long_stage_gets_a_line_in_between_once_the_interval_has_passed():
    out = io.StringIO()
    tracker = Tracker(LineView(out, interval=0.05))
    tracker.start("summarize", total=2, unit="stories")
    time.sleep(0.06)
    tracker.advance("summarize")
    tracker.advance("summarize")  # within the interval of the line before: not shown
    assert out.getvalue().splitlines()[1:] == ["progress: summarize: 1/2 stories …"]


def test_advancing_a_stage_that_did_not_start_shows_nothing():
    out = io.StringIO()
    tracker = Tracker(LineView(out, interval=0))
    tracker.advance("collect", entries=1)  # collection outside a run
    tracker.finish("collect")
    assert out.getvalue() == "" and tracker.stages == {}


def test_counted_advances_as_each_item_is_taken_and_threads_may_report():
    tracker = Tracker()
    with progress.tracking(tracker):
        tracker.start("deliver", total=3, unit="messages")
        seen = []
        for item in progress.counted(["a", "b", "c"], "deliver"):
            seen.append((item, tracker.stages["deliver"].done))
        workers = [threading.Thread(target=tracker.advance, args=("deliver", 0), kwargs={"bounced": 1})
                   for _ in range(20)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert seen == [("a", 0), ("b", 1), ("c", 2)]
    assert tracker.stages["deliver"].done == 3 and tracker.stages["deliver"].counts == {"bounced": 20}


def test_tracking_gives_the_previous_tracker_back_after_the_block():
    before = progress.current()
    with progress.tracking(Tracker()) as inner:
        assert progress.current() is inner
    assert progress.current() is before


def test_a_terminal_shows_every_stage_with_its_counts():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, force_interactive=True, width=120)
    with RichView(console) as view:
        tracker = Tracker(view)
        tracker.start("prefect", note="starting its temporary API")
        tracker.finish("prefect", "API up")
        tracker.start("collect", total=2, unit="sources")
        tracker.advance("collect", articles=7)
        tracker.advance("collect", failed=1)
        tracker.finish("collect")
        with tracker.stage("render"):
            pass
    final = screen.getvalue().rsplit("prefect", 1)[-1]  # the last frame drawn
    assert "API up" in final
    assert "collect" in final and "2/2 sources, 7 articles, 1 failed" in final
    assert "render" in final


def test_a_terminal_is_only_used_when_interactive():
    piped = Console(file=io.StringIO(), force_terminal=True, force_interactive=False)
    with progress.shown_on(piped) as tracker:
        tracker.start("collect", total=1, unit="sources")
    assert piped.file.getvalue() == "progress: collect: 0/1 sources …\n"


# --- digest run on the sample -------------------------------------------------------------------


def _run_sample(tmp_path: Path, **env: str) -> tuple[list[tuple[float, str]], int]:
    """`digest run` on the sample: its stderr lines, each with the seconds since the start, and the exit code."""
    (tmp_path / "sample").symlink_to(ROOT / "sample")
    (tmp_path / "digest.toml").write_text((ROOT / "digest.toml").read_text(encoding="utf-8"), encoding="utf-8")
    environ = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"),
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="160", **env)
    environ.pop("PREFECT_API_URL", None)
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "digest.cli", "run", "--config", "digest.toml",
                                "--date", "2017-10-18"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=environ, cwd=tmp_path)
    lines = [(time.monotonic() - start, line.rstrip("\n")) for line in process.stderr]
    return lines, process.wait(timeout=900)


@pytest.mark.slow
def test_a_piped_run_says_each_stage_with_counts_and_speaks_before_prefect_is_up(tmp_path):
    lines, code = _run_sample(tmp_path)
    text = [line for _, line in lines]
    assert code == 0, "\n".join(text[-40:])
    assert text[0] == "progress: prefect: importing Prefect, starting its temporary API …"
    up = next(i for i, line in enumerate(text) if line.startswith("progress: prefect: API up"))
    assert up > next(i for i, line in enumerate(text) if "Starting temporary server" in line)
    assert lines[up][0] - lines[0][0] > 1  # the first line came well before the API was up
    finished = {m[1]: m[0] for m in map(re.compile(r"progress: (\w+): .* \(\d+\.\d s\)$").fullmatch, text) if m}
    assert finished["collect"].startswith("progress: collect: 3/3 sources, 40 entries, 41 articles (")
    assert finished["select"].startswith("progress: select: 40 articles (")
    assert finished["summarize"].startswith("progress: summarize: 40/40 stories (")
    assert finished["locate"].startswith("progress: locate: 40/40 stories (")
    assert finished["deliver"].startswith("progress: deliver: 5/5 messages (")
    assert len([line for line in text if line.startswith("progress: ")]) <= 2 * len(finished) + 2


@pytest.mark.slow
def test_a_run_on_a_terminal_draws_the_stages_live(tmp_path):
    lines, code = _run_sample(tmp_path, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1")
    text = "\n".join(line for _, line in lines)
    assert code == 0, text[-4000:]
    assert not any(line.startswith("progress: ") for _, line in lines)
    assert "\x1b[?25l" in lines[0][1]  # the live display (cursor hidden) is the first thing on the screen
    # The rows as drawn, colours aside. Not only the last frame: Prefect's threads may log into the
    # middle of it as the display stops, and the frames before it already hold the final counts.
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.split("API up, flow run started", 1)[-1])
    for row in ("3/3 sources, 40 entries, 41 articles", "40/40 stories", "5/5 messages"):
        assert row in drawn, drawn[-4000:]
