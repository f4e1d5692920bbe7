"""Delivery: an outbox folder of .eml files, or SMTP with a ledger that sends each message once.

The ledger (`deliveries`) has one row per (edition, subscriber). A message is marked sent
only after the server replied 250 to its DATA, and that is written within GROUP_COMMIT
(50 ms; one recorder thread commits all outcomes that arrived meanwhile together), so a
rerun of the same edition sends only what was not accepted. The one gap SMTP itself leaves
(RFC 1047) is a crash after the server accepted a message and before its reply was
recorded: a rerun then sends that message again, with the same Message-ID, so the copy is
recognisable. Group commit widens that window to the messages accepted in the last 50 ms
before the crash (about 50 at 1,000 messages a second).

Temporary failures (4xx replies, dropped connections, timeouts) are retried with exponential
backoff; after `smtp.max_attempts` tries in one run the row is left `deferred` and the next
run retries it. Permanent failures (5xx) are recorded; a 5xx refusal of the recipient counts
as a bounce and, after `smtp.bounce_after` of them, marks the subscriber bounced.

Messages may be EmailMessage objects or ready MIME bytes with CRLF line ends (what
`digest.message.build_mime` yields): bytes skip the serialisation, which costs more than the
SMTP exchange itself on a fast server (see benchmarks/RESULTS-deliver.md).

The caller should store the edition (`EditionRow`) before sending; if it is missing, a
minimal row (id, title = id, times = now) is created so the ledger can refer to it.
"""

from __future__ import annotations

import copy
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
from email.utils import getaddresses
from functools import lru_cache
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
GROUP_COMMIT = 0.05  # seconds; also the longest an accepted message waits to be recorded

Outgoing = EmailMessage | bytes  # a message as send_edition and write_outbox accept it

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
    delivered: list[str] = field(default_factory=list)  # addresses the server accepted in this run
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


def _chunks(items: Iterable[tuple[Subscriber, Outgoing]], size: int) -> Iterator[list[tuple[Subscriber, Outgoing]]]:
    chunk: list[tuple[Subscriber, Outgoing]] = []
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


def write_outbox(messages: Iterable[tuple[Subscriber, Outgoing]], folder: Path, *,
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


class _Stuffed(bytes):
    """DATA ready for the wire: CRLF lines, dot-stuffed, ending with the "." line.

    Made once per message by `_stuff`. smtplib's own data() dot-stuffs with a multiline
    regex that takes about 120 µs for a 34 KB edition, about as long as the rest of the
    client's work per message, and again on every retry.
    """


class _SendsStuffed:
    """smtplib's DATA step, except that `_Stuffed` bytes are transmitted as they are."""

    def data(self, msg):  # noqa: ANN001, ANN201 - smtplib's signature
        if not isinstance(msg, _Stuffed):
            return super().data(msg)  # type: ignore[misc]
        self.putcmd("data")  # type: ignore[attr-defined]
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        self.send(msg)  # type: ignore[attr-defined]
        return self.getreply()  # type: ignore[attr-defined]


class _SMTP(_SendsStuffed, smtplib.SMTP):
    pass


class _SMTP_SSL(_SendsStuffed, smtplib.SMTP_SSL):  # noqa: N801 - named after smtplib.SMTP_SSL
    pass


def connect(smtp: SmtpConfig) -> smtplib.SMTP:
    """An open, greeted, secured and authenticated connection to the configured server."""
    context = ssl.create_default_context()
    helo = socket.gethostname()  # not getfqdn(): a reverse lookup can stall for seconds
    if smtp.security == "tls":
        conn: smtplib.SMTP = _SMTP_SSL(smtp.host, smtp.port, local_hostname=helo,
                                       timeout=smtp.timeout, context=context)
    else:
        conn = _SMTP(smtp.host, smtp.port, local_hostname=helo, timeout=smtp.timeout)
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
    sender: str  # the envelope sender (MAIL FROM)
    data: _Stuffed
    message_id: str
    options: tuple[str, ...] = ()  # MAIL FROM options: SMTPUTF8 when an address is not ASCII
    tries: int = 0


class _Jobs:
    """Messages waiting for a connection, retries not before their time.

    Bounded, so that a lazy iterable of messages is built only as fast as it is sent. The
    producer and the senders wait on separate conditions and each event wakes one waiter:
    waking every sender for every message costs more CPU than sending it to a fast server.
    """

    def __init__(self, capacity: int) -> None:
        lock = threading.Lock()
        self.has_room = threading.Condition(lock)  # the producer waits here
        self.has_work = threading.Condition(lock)  # the senders wait here
        self.heap: list[tuple[float, int, _Job]] = []
        self.seq = itertools.count()
        self.open = 0  # jobs added and not finished
        self.capacity = capacity
        self.closed = False  # no more jobs will be added
        self.aborted = False

    def add(self, job: _Job) -> bool:
        with self.has_room:
            while self.open >= self.capacity and not self.aborted:
                self.has_room.wait()
            if self.aborted:
                return False
            self.open += 1
            heapq.heappush(self.heap, (0.0, next(self.seq), job))
            self.has_work.notify()
            return True

    def retry(self, job: _Job, delay: float) -> None:
        with self.has_work:
            heapq.heappush(self.heap, (time.monotonic() + delay, next(self.seq), job))
            self.has_work.notify()  # a sender waiting without a deadline learns of this one

    def finish(self) -> None:
        with self.has_room:
            self.open -= 1
            self.has_room.notify()
            if self.closed and self.open == 0:
                self.has_work.notify_all()

    def close(self) -> None:
        with self.has_work:
            self.closed = True
            self.has_work.notify_all()

    def abort(self) -> None:
        with self.has_work:
            self.aborted = True
            self.has_work.notify_all()
            self.has_room.notify_all()

    def take(self) -> _Job | None:
        """The next job that is due, or None when all are finished or the run is aborted."""
        with self.has_work:
            while True:
                if self.aborted:
                    return None
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    return heapq.heappop(self.heap)[2]
                if self.closed and self.open == 0:
                    return None
                self.has_work.wait(self.heap[0][0] - now if self.heap else None)


@dataclass(frozen=True)
class _Result:
    job: _Job
    status: str  # SENT, FAILED, BOUNCED, DEFERRED, or PENDING for a failed try that will be retried
    error: str | None = None


class _Recorder(threading.Thread):
    """Writes outcomes to the ledger as they come, at most one commit per GROUP_COMMIT seconds.

    All outcomes that arrived meanwhile share the commit: against a fast server a commit per
    message (an fsync on SQLite) costs more than sending the message.
    """

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
        last_commit = 0.0
        while not stopping:
            batch = [self.results.get()]
            pause = last_commit + GROUP_COMMIT - time.monotonic()
            if pause > 0 and batch[0] is not None:
                time.sleep(pause)
            last_commit = time.monotonic()
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
                     b_msgid=r.job.message_id, b_now=now) for r in results]
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
                report.delivered.append(r.job.subscriber.email)
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


# --- preparing a message for the wire, once (in the thread that reads the messages) ----------

_HEADER = re.compile(rb"^(Sender|From|Message-ID):[ \t]*(.*(?:\r\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_LINE_END = re.compile(rb"\r?\n")


def _stable_message_id(edition_id: str, subscriber: Subscriber, sender: str) -> str:
    """A Message-ID that is the same on every run, for a message that has none."""
    domain = sender.rpartition("@")[2] or "digest.invalid"
    safe = re.sub(r"[^A-Za-z0-9.-]", "-", edition_id)
    return f"<{safe}.{subscriber.id}@{domain}>"


@lru_cache(maxsize=64)
def _address(header_value: str) -> str:
    """The address in a From or Sender header (one edition has one sender: parsed once)."""
    return getaddresses([header_value])[0][1]


def _stuff(raw: bytes) -> _Stuffed:
    body = raw.replace(b"\r\n.", b"\r\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return _Stuffed(body + b".\r\n")


def _job(delivery_id: int, subscriber: Subscriber, message: Outgoing, edition_id: str) -> _Job:
    """The message as it will go on the wire, with its envelope sender and Message-ID.

    As smtplib.send_message would send it: the envelope sender from Sender or else From, no
    Bcc headers, SMTPUTF8 when an address is not ASCII.
    """
    if isinstance(message, EmailMessage):
        sender = _address(str(message.get("Sender") or message.get("From") or ""))
        if not message.get("Message-ID"):
            message["Message-ID"] = _stable_message_id(edition_id, subscriber, sender)
        if "Bcc" in message or "Resent-Bcc" in message:
            message = copy.copy(message)
            del message["Bcc"], message["Resent-Bcc"]
        international = not (sender + subscriber.email).isascii()
        policy = message.policy.clone(linesep="\r\n", **({"utf8": True} if international else {}))
        raw = message.as_bytes(policy=policy)
    else:
        raw = message
    first_end = raw.find(b"\n")
    if first_end > 0 and raw[first_end - 1] != ord("\r"):
        # LF line ends, e.g. from bytes(EmailMessage): SMTP needs CRLF. Judged by the first
        # line only, to keep a scan of the whole message off the per-message path.
        raw = _LINE_END.sub(b"\r\n", raw)
    head = raw.partition(b"\r\n\r\n")[0]
    found: dict[bytes, str] = {}
    for name, value in _HEADER.findall(head):
        found.setdefault(name.lower(), value.replace(b"\r\n", b"").strip().decode("utf-8", "replace"))
    sender = _address(found.get(b"sender") or found.get(b"from", ""))
    message_id = found.get(b"message-id")
    if message_id is None:
        message_id = _stable_message_id(edition_id, subscriber, sender)
        raw = f"Message-ID: {message_id}\r\n".encode("ascii") + raw
    international = not (sender + subscriber.email).isascii()
    return _Job(delivery_id, subscriber, sender, _stuff(raw), message_id,
                ("SMTPUTF8", "BODY=8BITMIME") if international else ())


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
            conn.sendmail(job.sender, [job.subscriber.email], job.data, job.options)
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


def send_edition(engine: Engine, edition_id: str, messages: Iterable[tuple[Subscriber, Outgoing]],
                 smtp: SmtpConfig, *, retry_failed: bool = False) -> DeliveryReport:
    """Send each subscriber's message of an edition once, whatever happened in earlier runs.

    Rows already sent, failed or bounced are not sent again (`retry_failed` retries the
    failed ones); messages are consumed lazily, as connections free up. For large lists pass
    bytes from `digest.message.build_mime` rather than EmailMessage objects: serialising the
    objects costs several times the rest of the sending (benchmarks/RESULTS-deliver.md). Raises DeliveryError
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
                elif not jobs.add(_job(delivery_id, subscriber, message, edition_id)):
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
