"""How far a run has got, stage by stage: the stages report to a tracker, a view shows it.

Plain Python, no Prefect. The flow, the pipeline and collection report to `current()`, which
shows nothing unless a command installed a tracker with views (`tracking`). It is one tracker
per process, not a context variable, because stages report from task-runner and fetch threads.

Two views: `RichView` (a live display per stage, for a terminal) and `LineView` (a line when a
stage starts and ends, and at most one in between every `interval` seconds: for logs and pipes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TextIO, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


@dataclass
class Stage:
    """One stage: `done` of `total` units (None: not known), and side counts such as articles found."""

    name: str
    unit: str = ""
    total: int | None = None
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    order: tuple[str, ...] = ()  # side counts shown in this order, whichever came first
    note: str = ""
    finished: bool = False
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def counted(self) -> str:
        """'2/3 sources, 41 articles'; empty while nothing is counted."""
        parts = []
        if self.total is not None:
            parts.append(f"{self.done:,}/{self.total:,} {self.unit}".rstrip())
        elif self.done:
            parts.append(f"{self.done:,} {self.unit}".rstrip())
        rank = {what: i for i, what in enumerate(self.order)}
        counts = sorted(self.counts.items(), key=lambda item: rank.get(item[0], len(rank)))
        parts.extend(f"{n:,} {what}" for what, n in counts)
        return ", ".join(parts)

    def line(self) -> str:
        """The stage in one line: 'collect: 3/3 sources, 41 articles (2.1 s)'."""
        state = self.note or self.counted
        if self.finished:
            seconds = (self.ended or self.started) - self.started
            return f"{self.name}: {state or 'done'} ({seconds:.1f} s)"
        return f"{self.name}: {state or 'started'} …"


class View(Protocol):
    def changed(self, stage: Stage, event: str) -> None:
        """`event` is "start", "advance" or "finish"; called with the tracker's lock held."""


class Tracker:
    """The stages of one run, as they start, advance and finish; each change goes to every view."""

    def __init__(self, *views: View) -> None:
        self.views = views
        self.stages: dict[str, Stage] = {}
        self._lock = threading.Lock()

    def start(self, name: str, *, total: int | None = None, unit: str = "", note: str = "",
              order: tuple[str, ...] = ()) -> None:
        """`order`: the side counts' order in the line, so that threads racing to count first
        do not reorder it from run to run."""
        with self._lock:
            stage = self.stages[name] = Stage(name, unit, total, note=note, order=order)
            self._tell(stage, "start")

    def advance(self, name: str, step: int = 1, **counts: int) -> None:
        """`step` more units done, and `counts` added to the side counts. A stage not started
        (collection called outside a run, say) is ignored."""
        with self._lock:
            stage = self.stages.get(name)
            if stage is None or stage.finished:
                return
            stage.done += step
            for what, n in counts.items():
                stage.counts[what] = stage.counts.get(what, 0) + n
            self._tell(stage, "advance")

    def finish(self, name: str, note: str = "") -> None:
        with self._lock:
            stage = self.stages.get(name)
            if stage is None or stage.finished:
                return
            stage.finished, stage.ended = True, time.monotonic()
            stage.note = note or stage.note
            self._tell(stage, "finish")

    @contextmanager
    def stage(self, name: str, *, total: int | None = None, unit: str = "") -> Iterator[None]:
        """The block is the stage: started on entry, finished on exit (also on an error)."""
        self.start(name, total=total, unit=unit)
        try:
            yield
        finally:
            self.finish(name)

    def _tell(self, stage: Stage, event: str) -> None:
        for view in self.views:
            view.changed(stage, event)


_current = Tracker()
_install_lock = threading.Lock()


def current() -> Tracker:
    """The tracker stages report to: the installed one, or one without views."""
    return _current


@contextmanager
def tracking(tracker: Tracker) -> Iterator[Tracker]:
    """Install `tracker` for the block (a run); the one before comes back afterwards."""
    global _current
    with _install_lock:
        before, _current = _current, tracker
    try:
        yield tracker
    finally:
        with _install_lock:
            _current = before


T = TypeVar("T")


def counted(items: Iterable[T], name: str) -> Iterator[T]:
    """`items`, advancing stage `name` by one as the consumer takes each next one (done with it)."""
    tracker = current()
    for item in items:
        yield item
        tracker.advance(name)


class LineView:
    """Plain lines for logs and pipes: start, end, and at most one line per `interval` seconds
    for each stage in between, so that 10,000 articles do not make 10,000 lines."""

    def __init__(self, stream: TextIO, *, interval: float = 10.0, prefix: str = "progress: ") -> None:
        self.stream, self.interval, self.prefix = stream, interval, prefix
        self._last: dict[str, float] = {}

    def changed(self, stage: Stage, event: str) -> None:
        now = time.monotonic()
        if event == "advance" and now - self._last.get(stage.name, stage.started) < self.interval:
            return
        self._last[stage.name] = now
        self.stream.write(self.prefix + stage.line() + "\n")
        self.stream.flush()


class RichView:
    """A live display for a terminal: one row per stage with its counts, a bar when the total is
    known, a spinner until it ends. Use it as a context manager around the run."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(SpinnerColumn(finished_text="[green]✓[/green]"),
                                 TextColumn("[bold]{task.fields[name]:<10}[/bold]"),
                                 BarColumn(bar_width=24),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichView:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def changed(self, stage: Stage, event: str) -> None:
        detail = stage.note or stage.counted
        if event == "start" or stage.name not in self._tasks:
            self._tasks[stage.name] = self.progress.add_task(stage.name, total=stage.total, name=stage.name,
                                                             detail=detail)
        task = self._tasks[stage.name]
        if event != "finish":
            self.progress.update(task, completed=stage.done, detail=detail)
            return
        # A stage without a total ends as a full bar; one with a total shows how far it got.
        total = stage.total if stage.total is not None else max(stage.done, 1)
        self.progress.update(task, total=total, completed=stage.done if stage.total is not None else total,
                             detail=detail)
        self.progress.stop_task(task)


@contextmanager
def shown_on(console: Console, *, interval: float = 10.0) -> Iterator[Tracker]:
    """A tracker installed for the block: live on an interactive terminal, plain lines to the
    console's file otherwise (a pipe, a log, CI even when it asks for colours)."""
    if console.is_interactive:
        with RichView(console) as view, tracking(Tracker(view)) as tracker:
            yield tracker
    else:
        with tracking(Tracker(LineView(console.file, interval=interval))) as tracker:
            yield tracker
