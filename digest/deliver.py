"""Delivery: an outbox folder of .eml files, or SMTP with a ledger that sends each message once.

The ledger (`deliveries`) has one row per (edition, subscriber). A message is marked sent
only after the server replied 250 to its DATA, and that is written at once (group commit
from one recorder thread), so a rerun of the same edition sends only what was not accepted.
The one gap SMTP itself leaves (RFC 1047) is a crash after the server accepted a message and
before its reply was recorded: a rerun then sends that message again, with the same
Message-ID, so the copy is recognisable.

Temporary failures (4xx replies, dropped connections, timeouts) are retried with exponential
backoff; after `smtp.max_attempts` tries in one run the row is left `deferred` and the next
run retries it. Permanent failures (5xx) are recorded; a 5xx refusal of the recipient counts
as a bounce and, after `smtp.bounce_after` of them, marks the subscriber bounced.

The caller should store the edition (`EditionRow`) before sending; if it is missing, a
minimal row (id, title = id, times = now) is created so the ledger can refer to it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import queue
import random
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from digest.config import SmtpConfig
from digest.models import Subscriber
from digest.store import DeliveryRow, EditionRow, SubscriberRow

log = logging.getLogger(__name__)

PENDING, OUTBOX, SENT, DEFERRED, FAILED, BOUNCED = (
    "pending", "outbox", "sent", "deferred", "failed", "bounced")
# Rows in these states are done: a rerun does not send them again.
FINAL = frozenset({SENT, FAILED, BOUNCED})
CHUNK = 200
MAX_BACKOFF = 300.0

deliveries = DeliveryRow.__table__
editions = EditionRow.__table__
subscribers_table = SubscriberRow.__table__


class DeliveryError(RuntimeError):
    """The run cannot go on (bad credentials, TLS failure, store unavailable); names the server."""


@dataclass
class DeliveryReport:
    edition_id: str
    sent: int = 0  # accepted by the server in this run
    already_done: int = 0  # sent, failed or bounced in an earlier run: not sent again
    deferred: int = 0  # temporary failures outlasted this run's attempts; a rerun retries them
    failed: int = 0  # permanent refusals (5xx) of the message
    bounced: int = 0  # permanent refusals of the recipient
    skipped: int = 0  # no longer active (unsubscribed or bounced since the edition was built)
    attempts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # "address: reason" per address not sent
    newly_bounced: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every subscriber's message reached a final state (nothing left to retry)."""
        return self.deferred == 0

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


# --- the ledger ------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _insert_ignoring_duplicates(conn: Connection, table, rows: list[dict]) -> None:  # noqa: ANN001
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        raise DeliveryError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


def ensure_edition(conn: Connection, edition_id: str) -> None:
    now = _now()
    _insert_ignoring_duplicates(conn, editions, [dict(
        id=edition_id, title=edition_id, created=now, since=now, until=now, status="built",
        stats={})])


def _ledger_rows(conn: Connection, edition_id: str, subscriber_ids: Sequence[int]) -> dict[int, tuple]:
    """(delivery id, status, subscriber status) per subscriber id, creating missing rows."""
    now = _now()
    _insert_ignoring_duplicates(conn, deliveries, [
        dict(edition_id=edition_id, subscriber_id=sid, status=PENDING, attempts=0, updated_at=now)
        for sid in subscriber_ids])
    found = conn.execute(
        select(deliveries.c.subscriber_id, deliveries.c.id, deliveries.c.status,
               subscribers_table.c.status)
        .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id)
        .where(deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id.in_(subscriber_ids)))
    return {sid: (did, status, sub_status) for sid, did, status, sub_status in found}


def ledger_counts(engine: Engine, edition_id: str) -> dict[str, int]:
    """How many ledger rows of an edition are in each state."""
    with engine.connect() as conn:
        return dict(conn.execute(
            select(deliveries.c.status, func.count()).where(deliveries.c.edition_id == edition_id)
            .group_by(deliveries.c.status)).all())


def _chunks(items: Iterable[tuple[Subscriber, EmailMessage]], size: int) -> Iterator[list[tuple[Subscriber, EmailMessage]]]:
    chunk: list[tuple[Subscriber, EmailMessage]] = []
    for subscriber, message in items:
        if subscriber.id is None:
            raise ValueError(f"{subscriber.email}: subscriber has no store id; "
                             "take subscribers from subscribers.active_subscribers()")
        chunk.append((subscriber, message))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- outbox ------------------------------------------------------------------------------------


def outbox_name(subscriber: Subscriber, edition_id: str | None = None) -> str:
    """File name of a subscriber's message: the same for a rerun of the same edition."""
    slug = re.sub(r"[^a-z0-9]+", "-", subscriber.email.lower()).strip("-")
    key = f"{subscriber.id:06d}-{slug}" if subscriber.id is not None else slug
    return f"{edition_id}-{key}.eml" if edition_id else f"{key}.eml"


def write_outbox(messages: Iterable[tuple[Subscriber, EmailMessage]], folder: Path, *,
                 engine: Engine | None = None, edition_id: str | None = None) -> list[Path]:
    """One .eml per subscriber in `folder` (the embedded default: no SMTP).

    Files are named by edition and subscriber and replaced atomically, so a rerun rewrites
    rather than duplicates. With an engine and an edition id, each write is recorded in the
    ledger as `outbox` (not `sent`: a later SMTP run of the edition still mails them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    record = engine is not None and edition_id is not None
    paths: list[Path] = []
    if record:
        with engine.begin() as conn:
            ensure_edition(conn, edition_id)
    items = _chunks(messages, CHUNK) if record else [list(messages)]
    for chunk in items:
        written: list[int] = []
        for subscriber, message in chunk:
            path = folder / outbox_name(subscriber, edition_id)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(bytes(message))
            os.replace(tmp, path)
            paths.append(path)
            if subscriber.id is not None:
                written.append(subscriber.id)
        if record and written:
            with engine.begin() as conn:
                _ledger_rows(conn, edition_id, written)
                conn.execute(update(deliveries).where(
                    deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id.in_(written),
                    deliveries.c.status == PENDING).values(status=OUTBOX, updated_at=_now()))
    return paths


# --- SMTP ----------------------------------------------------------------------------------------


def connect(smtp: SmtpConfig) -> smtplib.SMTP:
    """An open, greeted, secured and authenticated connection to the configured server."""
    context = ssl.create_default_context()
    helo = socket.gethostname()  # not getfqdn(): a reverse lookup can stall for seconds
    if smtp.security == "tls":
        conn: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, local_hostname=helo,
                                              timeout=smtp.timeout, context=context)
    else:
        conn = smtplib.SMTP(smtp.host, smtp.port, local_hostname=helo, timeout=smtp.timeout)
    try:
        conn.ehlo()
        if smtp.security == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if smtp.username:
            conn.login(smtp.username, smtp.password or "")
    except BaseException:
        _close(conn)
        raise
    return conn


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


@dataclass(frozen=True)
class _Outcome:
    status: str  # SENT | "retry" | FAILED | BOUNCED | "fatal"
    detail: str = ""
    reconnect: bool = False


def _classify(exc: smtplib.SMTPException | OSError) -> _Outcome:
    """What an exception from connecting or sending means for the message and the connection."""
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                        ssl.SSLCertVerificationError)):
        return _Outcome("fatal", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        detail = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        if code >= 500:
            return _Outcome(BOUNCED, detail)
        return _Outcome("retry", detail, reconnect=code == 421)
    if isinstance(exc, smtplib.SMTPResponseException):  # MAIL FROM or DATA refused, or 421
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        detail = f"{exc.smtp_code} {text}"
        if exc.smtp_code >= 500:
            return _Outcome(FAILED, detail)
        return _Outcome("retry", detail, reconnect=exc.smtp_code == 421)
    # Disconnects, resets, refused connections, timeouts: worth another try on a new connection.
    return _Outcome("retry", f"{type(exc).__name__}: {exc}", reconnect=True)


class _RateLimit:
    """Spaces sends at most `per_second` apart across all connections."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class _Job:
    delivery_id: int
    subscriber: Subscriber
    message: EmailMessage
    tries: int = 0


class _Jobs:
    """Messages waiting for a connection, retries not before their time.

    Bounded, so that a lazy iterable of messages is built only as fast as it is sent.
    """

    def __init__(self, capacity: int) -> None:
        self.cond = threading.Condition()
        self.heap: list[tuple[float, int, _Job]] = []
        self.seq = itertools.count()
        self.open = 0  # jobs added and not finished
        self.capacity = capacity
        self.closed = False  # no more jobs will be added
        self.aborted = False

    def add(self, job: _Job) -> bool:
        with self.cond:
            while self.open >= self.capacity and not self.aborted:
                self.cond.wait()
            if self.aborted:
                return False
            self.open += 1
            heapq.heappush(self.heap, (0.0, next(self.seq), job))
            self.cond.notify_all()
            return True

    def retry(self, job: _Job, delay: float) -> None:
        with self.cond:
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.seq), job))
            self.cond.notify_all()

    def finish(self) -> None:
        with self.cond:
            self.open -= 1
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def abort(self) -> None:
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def take(self) -> _Job | None:
        """The next job that is due, or None when all are finished or the run is aborted."""
        with self.cond:
            while True:
                if self.aborted:
                    return None
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    return heapq.heappop(self.heap)[2]
                if self.closed and self.open == 0:
                    return None
                self.cond.wait(self.heap[0][0] - now if self.heap else None)


@dataclass(frozen=True)
class _Result:
    job: _Job
    status: str  # SENT, FAILED, BOUNCED, DEFERRED, or PENDING for a failed try that will be retried
    error: str | None = None


class _Recorder(threading.Thread):
    """Writes outcomes to the ledger as they come; all waiting outcomes share one commit."""

    def __init__(self, engine: Engine, report: DeliveryReport, bounce_after: int) -> None:
        super().__init__(name="delivery-ledger", daemon=True)
        self.engine = engine
        self.report = report
        self.bounce_after = bounce_after
        self.results: queue.Queue[_Result | None] = queue.Queue()
        self.error: BaseException | None = None
        self.on_error = lambda: None

    def run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.results.get()]
            while len(batch) < 1000:
                try:
                    batch.append(self.results.get_nowait())
                except queue.Empty:
                    break
            stopping = batch[-1] is None
            results = [r for r in batch if r is not None]
            if not results or self.error is not None:
                continue
            try:
                self._write(results)
            except Exception as exc:  # noqa: BLE001 - any store failure stops the run, reported by send_edition
                self.error = exc
                self.on_error()

    def _write(self, results: list[_Result]) -> None:
        now = _now()
        rows = [dict(b_id=r.job.delivery_id, b_status=r.status, b_error=r.error,
                     b_msgid=r.job.message.get("Message-ID"), b_now=now) for r in results]
        statement = (update(deliveries).where(deliveries.c.id == bindparam("b_id"))
                     .values(status=bindparam("b_status"), attempts=deliveries.c.attempts + 1,
                             last_error=bindparam("b_error"), message_id=bindparam("b_msgid"),
                             updated_at=bindparam("b_now")))
        bounced = [r.job.subscriber for r in results if r.status == BOUNCED]
        with self.engine.begin() as conn:
            conn.execute(statement, rows)
            newly = self._apply_bounce_policy(conn, bounced, now) if bounced else []
        report = self.report
        for r in results:
            report.attempts += 1
            if r.status == SENT:
                report.sent += 1
            elif r.status in (FAILED, BOUNCED, DEFERRED):
                setattr(report, r.status, getattr(report, r.status) + 1)
                report.problems.append(f"{r.job.subscriber.email}: {r.status}: {r.error}")
        report.newly_bounced.extend(newly)

    def _apply_bounce_policy(self, conn: Connection, bounced: list[Subscriber], now: datetime) -> list[str]:
        if self.bounce_after <= 0:
            return []
        ids = [s.id for s in bounced]
        counts = dict(conn.execute(
            select(deliveries.c.subscriber_id, func.count())
            .where(deliveries.c.subscriber_id.in_(ids), deliveries.c.status == BOUNCED)
            .group_by(deliveries.c.subscriber_id)).all())
        over = [sid for sid in ids if counts.get(sid, 0) >= self.bounce_after]
        if not over:
            return []
        conn.execute(update(subscribers_table)
                     .where(subscribers_table.c.id.in_(over), subscribers_table.c.status == "active")
                     .values(status="bounced", bounced_at=now, updated_at=now))
        return [s.email for s in bounced if s.id in over]


def _stable_message_id(message: EmailMessage, edition_id: str, subscriber: Subscriber) -> None:
    """Give the message a Message-ID that is the same on every run, if it has none."""
    if message.get("Message-ID"):
        return
    domain = parseaddr(str(message.get("From", "")))[1].rpartition("@")[2] or "digest.invalid"
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", edition_id)
    message["Message-ID"] = f"<{safe}.{subscriber.id}@{domain}>"


def _backoff(smtp: SmtpConfig, tries: int) -> float:
    delay = min(smtp.retry_backoff * 2 ** (tries - 1), MAX_BACKOFF)
    return delay * random.uniform(0.75, 1.25)  # jitter: retries of one outage do not all land at once


class _Sender:
    def __init__(self, smtp: SmtpConfig, jobs: _Jobs, recorder: _Recorder) -> None:
        self.smtp = smtp
        self.jobs = jobs
        self.recorder = recorder
        self.rate = _RateLimit(smtp.rate_per_second) if smtp.rate_per_second else None
        self.fatal: str | None = None

    def work(self) -> None:
        conn: smtplib.SMTP | None = None
        try:
            while (job := self.jobs.take()) is not None:
                conn = self._attempt(conn, job)
        finally:
            _close(conn)

    def _attempt(self, conn: smtplib.SMTP | None, job: _Job) -> smtplib.SMTP | None:
        if self.rate:
            self.rate.wait()
        job.tries += 1
        try:
            if conn is None:
                conn = connect(self.smtp)
            conn.send_message(job.message, to_addrs=[job.subscriber.email])
            outcome = _Outcome(SENT)
        except (smtplib.SMTPException, OSError) as exc:
            outcome = _classify(exc)
        if outcome.reconnect or outcome.status == "fatal":
            _close(conn)
            conn = None
        if outcome.status == "fatal":
            self.fatal = f"{self.smtp.host}:{self.smtp.port}: {outcome.detail}"
            self.jobs.abort()
            return None
        if outcome.status == "retry":
            if job.tries < self.smtp.max_attempts:
                self.recorder.results.put(_Result(job, PENDING, outcome.detail))
                self.jobs.retry(job, _backoff(self.smtp, job.tries))
                return conn
            outcome = _Outcome(DEFERRED, outcome.detail)
        self.recorder.results.put(_Result(job, outcome.status, outcome.detail or None))
        self.jobs.finish()
        return conn


def send_edition(engine: Engine, edition_id: str, messages: Iterable[tuple[Subscriber, EmailMessage]],
                 smtp: SmtpConfig, *, retry_failed: bool = False) -> DeliveryReport:
    """Send each subscriber's message of an edition once, whatever happened in earlier runs.

    Rows already sent, failed or bounced are not sent again (`retry_failed` retries the
    failed ones); messages are consumed lazily, as connections free up. Raises DeliveryError
    when the run cannot go on (credentials, TLS, store); whatever was accepted is recorded.
    """
    started = time.monotonic()
    report = DeliveryReport(edition_id)
    recorder = _Recorder(engine, report, smtp.bounce_after)
    jobs = _Jobs(capacity=smtp.connections * 64)
    recorder.on_error = jobs.abort
    sender = _Sender(smtp, jobs, recorder)
    redo = FINAL - {FAILED} if retry_failed else FINAL
    with engine.begin() as conn:
        ensure_edition(conn, edition_id)
    recorder.start()
    workers = [threading.Thread(target=sender.work, name=f"smtp-{i}", daemon=True)
               for i in range(smtp.connections)]
    for worker in workers:
        worker.start()
    try:
        for chunk in _chunks(messages, CHUNK):
            with engine.begin() as conn:
                ledger = _ledger_rows(conn, edition_id, [s.id for s, _ in chunk])
            for subscriber, message in chunk:
                delivery_id, status, subscriber_status = ledger[subscriber.id]
                if status in redo:
                    report.already_done += 1
                elif subscriber_status != "active":
                    report.skipped += 1
                else:
                    _stable_message_id(message, edition_id, subscriber)
                    if not jobs.add(_Job(delivery_id, subscriber, message)):
                        break
            if jobs.aborted:
                break
    finally:
        jobs.close()
        if not all(_joined(w) for w in workers):
            jobs.abort()
        for worker in workers:
            worker.join()
        recorder.results.put(None)
        recorder.join()
        report.seconds = time.monotonic() - started
    if recorder.error is not None:
        raise DeliveryError(f"delivery ledger could not be written: {recorder.error}") from recorder.error
    if sender.fatal:
        raise DeliveryError(sender.fatal)
    return report


def _joined(worker: threading.Thread) -> bool:
    """Wait for a worker; an interrupt (Ctrl-C) ends the wait so the caller can abort the run."""
    try:
        worker.join()
    except KeyboardInterrupt:
        return False
    return True


def send_one(smtp: SmtpConfig, message: EmailMessage) -> None:
    """Send a single transactional message (e.g. a confirmation), retrying temporary failures."""
    for tries in itertools.count(1):
        conn: smtplib.SMTP | None = None
        try:
            conn = connect(smtp)
            conn.send_message(message)
            return
        except (smtplib.SMTPException, OSError) as exc:
            outcome = _classify(exc)
            if outcome.status != "retry" or tries >= smtp.max_attempts:
                raise DeliveryError(f"{smtp.host}:{smtp.port}: sending to {message['To']}: "
                                    f"{outcome.detail}") from exc
            time.sleep(_backoff(smtp, tries))
        finally:
            _close(conn)
