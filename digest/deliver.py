"""Delivery: an outbox folder of .eml files, or SMTP with a ledger that sends each message once.

Every message is claimed in the ledger (`digest.ledger`) just before its SMTP transaction and
its outcome recorded before that connection starts the next one, so two overlapping runs of
one edition send each message once, and after a crash only the messages whose transaction
was under way (at most one per connection) may have reached the server unrecorded: the next
run sends those again with the same Message-ID and counts them as `uncertain` (RFC 1047).

Temporary failures (4xx replies, dropped connections, timeouts) are retried with exponential
backoff; after `smtp.max_attempts` tries in one run the row is left `deferred` and the next
run retries it. Failures are judged as the server's before they are judged as a subscriber's:

- the sender refused at MAIL FROM (5xx), or the same permanent refusal for
  `smtp.refusal_streak` recipients in a row with nothing accepted in between (relay denied,
  policy, authentication required): delivery stops as a server problem, nobody is marked
  failed or bounced, and every row stays retryable;
- `smtp.circuit_breaker` connection, TLS or greeting failures in a row stop the run the
  same way instead of retrying every message on its own;
- a permanent refusal is provisional (`deferred`, with the reply) until the server accepts
  another message, which shows it is working: then a refused recipient with an enhanced
  status 5.1.x (no such address) becomes `bounced` and counts towards `smtp.bounce_after`,
  any other refusal `failed` (sent again only with `retry_failed`).

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
import random
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from functools import lru_cache
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine

from digest.config import SmtpConfig
from digest.errors import DigestError
from digest.ledger import (  # noqa: F401 - ledger_counts and the states are re-exported for callers
    BOUNCED,
    DEFERRED,
    FAILED,
    FINAL,
    OUTBOX,
    PENDING,
    SENDING,
    SENT,
    Claim,
    Ledger,
    Outcome,
    deliveries,
    ensure_edition,
    ledger_counts,
    ledger_rows,
)
from digest.models import Subscriber

log = logging.getLogger(__name__)

CHUNK = 200
MAX_BACKOFF = 300.0

Outgoing = EmailMessage | bytes  # a message as send_edition and write_outbox accept it


class DeliveryError(DigestError, RuntimeError):
    """The run cannot go on (server problem, credentials, TLS, store); names the server.

    `report` holds what the run did before it stopped (None for a single message)."""

    def __init__(self, message: str, report: DeliveryReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class DeliveryReport:
    edition_id: str
    sent: int = 0  # accepted by the server in this run
    already_done: int = 0  # sent, failed or bounced in an earlier run: not sent again
    deferred: int = 0  # not sent in this run (temporary failures, or refusals not yet judged)
    failed: int = 0  # permanent refusals (5xx) of the message
    bounced: int = 0  # permanent refusals of the recipient (5.1.x: no such address)
    skipped: int = 0  # no longer active (unsubscribed or bounced since the edition was built)
    busy: int = 0  # being sent by another run at the same time: left to it
    uncertain: int = 0  # left mid-transaction by a crashed run, sent again (same Message-ID)
    attempts: int = 0
    seconds: float = 0.0
    problem: str | None = None  # why the run stopped early (a server problem), if it did
    problems: list[str] = field(default_factory=list)  # "address: reason" per address not sent
    delivered: list[str] = field(default_factory=list)  # addresses the server accepted in this run
    newly_bounced: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every subscriber's message reached a final state (nothing left to retry)."""
        return self.deferred == 0 and self.busy == 0 and self.problem is None

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


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
                ledger_rows(conn, edition_id, written)
                conn.execute(update(deliveries).where(
                    deliveries.c.edition_id == edition_id, deliveries.c.subscriber_id.in_(written),
                    deliveries.c.status == PENDING).values(status=OUTBOX, updated_at=datetime.now(UTC)))
    return paths


# --- SMTP ----------------------------------------------------------------------------------------


class _Stuffed(bytes):
    """DATA ready for the wire: CRLF lines, dot-stuffed, ending with the "." line.

    Made once per message by `_stuff`. smtplib's own data() dot-stuffs with a multiline
    regex that takes about 120 µs for a 34 KB edition, about as long as the rest of the
    client's work per message, and again on every retry.
    """


class _SendsStuffed:
    """smtplib's DATA step, except that `_Stuffed` bytes are transmitted as they are; and when
    the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write.

    smtplib waits for each reply in turn: four round trips per message where pipelining needs
    two (the commands, then the message). The replies are judged as smtplib judges them and
    raise the same exceptions, so a refusal means the same thing on either path.
    """

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):  # noqa: ANN001, ANN201
        self.ehlo_or_helo_if_needed()  # type: ignore[attr-defined]
        if not (isinstance(msg, _Stuffed) and self.has_extn("pipelining")):  # type: ignore[attr-defined]
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)  # type: ignore[misc]
        to_addrs = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        options = [f"size={len(msg)}"] if self.has_extn("size") else []  # type: ignore[attr-defined]
        options += mail_options
        if any(option.lower() == "smtputf8" for option in options):
            if not self.has_extn("smtputf8"):  # type: ignore[attr-defined]
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        mail = " ".join([f"MAIL FROM:{smtplib.quoteaddr(from_addr)}", *options])
        rcpt = "".join(" " + option for option in rcpt_options)
        commands = [mail, *(f"RCPT TO:{smtplib.quoteaddr(a)}{rcpt}" for a in to_addrs), "DATA"]
        self.send("".join(command + "\r\n" for command in commands))  # type: ignore[attr-defined]
        code, reply = self._pipelined_reply()
        if code != 250:
            self._end_group(len(commands) - 1, code)
            raise smtplib.SMTPSenderRefused(code, reply, from_addr)
        refused = {}
        for address in to_addrs:
            code, reply = self._pipelined_reply()
            if code not in (250, 251):
                refused[address] = (code, reply)
            if code == 421:
                raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = self.getreply()  # type: ignore[attr-defined]  # to DATA
        if len(refused) == len(to_addrs):
            self._end_group(0, code)
            raise smtplib.SMTPRecipientsRefused(refused)
        if code != 354:
            self._end_group(0, code)
            raise smtplib.SMTPDataError(code, reply)
        self.send(msg)  # type: ignore[attr-defined]
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 250:
            self._end_group(0, code)
            raise smtplib.SMTPDataError(code, reply)
        return refused

    def _pipelined_reply(self) -> tuple[int, bytes]:
        """The next reply of a group; a 421 (closing) means no more replies will come."""
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code == 421:
            self.close()  # type: ignore[attr-defined]
        return code, reply

    def _end_group(self, replies_left: int, code: int) -> None:
        """After a refusal: read the group's remaining replies, end a DATA the server opened
        anyway with an empty message (RFC 2920), and reset; or close on 421."""
        if code == 421 or self.sock is None:  # type: ignore[attr-defined]
            self.close()  # type: ignore[attr-defined]
            return
        for _ in range(replies_left):
            code, _ = self.getreply()  # type: ignore[attr-defined]
            if code == 421:
                self.close()  # type: ignore[attr-defined]
                return
        if code == 354:
            self.send(b".\r\n")  # type: ignore[attr-defined]
            self.getreply()  # type: ignore[attr-defined]
        self._rset()  # type: ignore[attr-defined]

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


_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class _Verdict:
    """What an SMTP exception means for the message, the connection and the run."""

    kind: str  # "retry" | "refused" (permanent, provisional) | "server" (stops the run) | "fatal"
    detail: str
    final: str = FAILED  # for "refused": the row's status once the refusal is judged the recipient's
    signature: tuple = ()  # for "refused": (stage, code, enhanced code), to see a refusal repeat
    reconnect: bool = False


def _reply(code: int, text: bytes | str) -> tuple[str, str]:
    """The reply as one line, and its enhanced status code (RFC 3463) or ''."""
    line = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    found = _ENHANCED.match(line)
    return f"{code} {line}", found.group(1) if found else ""


def _classify(exc: smtplib.SMTPException | OSError) -> _Verdict:
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                        ssl.SSLCertVerificationError)):
        return _Verdict("fatal", f"{type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        detail, enhanced = _reply(code, text)
        if code >= 500:
            # Only "no such address" (5.1.x) is evidence about the address itself.
            final = BOUNCED if enhanced.startswith("5.1.") else FAILED
            return _Verdict("refused", detail, final, ("RCPT", code, enhanced))
        return _Verdict("retry", detail, reconnect=code == 421)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        detail, _ = _reply(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return _Verdict("server", f"refused the sender {exc.sender}: {detail}")
        return _Verdict("retry", detail, reconnect=exc.smtp_code == 421)
    if isinstance(exc, smtplib.SMTPResponseException):  # DATA refused, or 421
        detail, enhanced = _reply(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return _Verdict("refused", detail, FAILED, ("DATA", exc.smtp_code, enhanced))
        return _Verdict("retry", detail, reconnect=exc.smtp_code == 421)
    # Disconnects, resets, refused connections, timeouts: worth another try on a new connection.
    return _Verdict("retry", f"{type(exc).__name__}: {exc}".rstrip(": "), reconnect=True)


class RateLimit:
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
    claim: Claim
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

    def take(self, wait: bool = True) -> _Job | None:
        """The next job that is due, or None when all are finished or the run is aborted
        (or, with `wait` false, when none is due right now)."""
        with self.has_work:
            while True:
                if self.aborted:
                    return None
                now = time.monotonic()
                if self.heap and self.heap[0][0] <= now:
                    return heapq.heappop(self.heap)[2]
                if (self.closed and self.open == 0) or not wait:
                    return None
                self.has_work.wait(self.heap[0][0] - now if self.heap else None)


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


def _job(claim: Claim, subscriber: Subscriber, message: Outgoing, edition_id: str) -> _Job:
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
    return _Job(claim, subscriber, sender, _stuff(raw), message_id,
                ("SMTPUTF8", "BODY=8BITMIME") if international else ())


def _backoff(smtp: SmtpConfig, tries: int) -> float:
    delay = min(smtp.retry_backoff * 2 ** (tries - 1), MAX_BACKOFF)
    return delay * random.uniform(0.75, 1.25)  # jitter: retries of one outage do not all land at once


class _Sender:
    """The SMTP connections of one run, and what they learn together about the server."""

    def __init__(self, smtp: SmtpConfig, jobs: _Jobs, ledger: Ledger, report: DeliveryReport) -> None:
        self.smtp = smtp
        self.jobs = jobs
        self.ledger = ledger
        self.report = report
        self.rate = RateLimit(smtp.rate_per_second) if smtp.rate_per_second else None
        self.lock = threading.Lock()  # guards the report and the fields below
        self.connect_failures = 0  # in a row, over all connections
        self.suspects: list[tuple[Outcome, _Verdict, str]] = []  # refusals since the last acceptance
        self.problem: str | None = None
        self.names: dict[int, str] = {}  # subscriber id -> address, for bounce reports
        self.local = threading.local()  # each connection's own store connection: `db`

    @property
    def server(self) -> str:
        return f"{self.smtp.host}:{self.smtp.port}"

    def stop(self, problem: str) -> None:
        with self.lock:
            self.problem = self.problem or problem
        self.jobs.abort()

    def work(self) -> None:
        conn: smtplib.SMTP | None = None
        held: Outcome | None = None  # the last transaction's outcome, recorded with the next claim
        try:
            self.local.db = self.ledger.engine.connect()
            while True:
                job = self.jobs.take(wait=held is None)
                if job is None:
                    if held is None:
                        break
                    self._write(held)
                    held = None
                    continue
                conn, held = self._attempt(conn, job, held)
        except Exception as exc:  # noqa: BLE001 - a store failure stops the run; send_edition raises it
            self.stop(f"delivery ledger could not be written: {type(exc).__name__}: {exc}")
        finally:
            if held is not None and self.problem is None:
                self._write(held)
            _close(conn)
            if getattr(self.local, "db", None) is not None:
                self.local.db.close()

    def _write(self, done: Outcome | None, job: _Job | None = None, *, count: bool = True) -> bool:
        """Record `done` (and confirm earlier refusals once the server accepted something), then
        claim `job`'s row; False if another run has it."""
        confirm: list[tuple[Outcome, _Verdict, str]] = []
        if done is not None and done.status == SENT:
            with self.lock:
                confirm, self.suspects = self.suspects, []
        won, newly = self.ledger.step(done, job.claim if job else None, job.message_id if job else "",
                                      confirm=[o for o, _, _ in confirm], db=self.local.db)
        with self.lock:
            report = self.report
            self._judged(confirm)
            if done is not None and done.status == SENT:
                report.sent += 1
                report.delivered.append(self.names[done.claim.subscriber_id])
            elif done is not None and done.status == DEFERRED and count:
                report.deferred += 1
                report.problems.append(f"{self.names[done.claim.subscriber_id]}: deferred: {done.error}")
            report.newly_bounced.extend(self.names[sid] for sid in newly)
            if job is not None and won and job.claim.uncertain:
                report.uncertain += 1
                job.claim.uncertain = False
        return won

    def _attempt(self, conn: smtplib.SMTP | None, job: _Job, held: Outcome | None
                 ) -> tuple[smtplib.SMTP | None, Outcome | None]:
        job.tries += 1
        with self.lock:
            self.report.attempts += 1
        if conn is None:
            try:
                conn = connect(self.smtp)
            except (smtplib.SMTPException, OSError) as exc:
                if held is not None:
                    self._write(held)
                self._connect_failed(job, _classify(exc))
                return None, None
            with self.lock:
                self.connect_failures = 0
        if not self._write(held, job):
            with self.lock:
                self.report.busy += 1
            self.jobs.finish()
            return conn, None
        if self.rate:  # after the previous outcome is recorded: the wait is no time to lose it
            self.rate.wait()
        try:
            conn.sendmail(job.sender, [job.subscriber.email], job.data, job.options)
        except (smtplib.SMTPException, OSError) as exc:
            verdict = _classify(exc)
        else:
            self.jobs.finish()
            return conn, Outcome(job.claim, SENT, None, job.message_id)
        if verdict.reconnect or verdict.kind in ("fatal", "server"):
            _close(conn)
            conn = None
        if verdict.kind in ("fatal", "server"):
            self._write(Outcome(job.claim, PENDING, verdict.detail, job.message_id))  # not its fault
            self.stop(f"{self.server} {verdict.detail}; delivery stopped as a server problem, "
                      "nobody was marked failed or bounced: fix it and run again")
            return None, None
        if verdict.kind == "refused":
            # Recorded at once (before this connection's next transaction), as not yet judged.
            self._write(Outcome(job.claim, DEFERRED, verdict.detail, job.message_id), count=False)
            self.jobs.finish()
            self._refused(Outcome(job.claim, verdict.final, verdict.detail, job.message_id), verdict,
                          job.subscriber.email)
            return conn, None
        return conn, self._retry_or_defer(job, verdict.detail)

    def _retry_or_defer(self, job: _Job, detail: str) -> Outcome | None:
        if job.tries < self.smtp.max_attempts:
            # Released at once, so that whichever connection takes the retry can claim it again.
            self._write(Outcome(job.claim, PENDING, detail, job.message_id))
            self.jobs.retry(job, _backoff(self.smtp, job.tries))
            return None
        self.jobs.finish()
        return Outcome(job.claim, DEFERRED, detail, job.message_id)

    def _connect_failed(self, job: _Job, verdict: _Verdict) -> None:
        if verdict.kind == "fatal":
            self.stop(f"{self.server}: {verdict.detail}")
            return
        with self.lock:
            self.connect_failures += 1
            failures = self.connect_failures
        if failures >= self.smtp.circuit_breaker:
            self.stop(f"{self.server}: {failures} connection attempts in a row failed (last: "
                      f"{verdict.detail}); delivery stopped, nothing was marked failed: the next run "
                      "sends the rest")
            return
        held = self._retry_or_defer(job, verdict.detail)
        if held is not None:
            self._write(held)

    def _refused(self, provisional: Outcome, verdict: _Verdict, address: str) -> None:
        """Note a permanent refusal; the same one for many recipients in a row is the server's."""
        with self.lock:
            self.suspects.append((provisional, verdict, address))
            self.report.deferred += 1
            self.report.problems.append(_not_judged(address, verdict))
            streak = self.smtp.refusal_streak
            tail = [v.signature for _, v, _ in self.suspects[-streak:]]
        if len(tail) == streak and len(set(tail)) == 1:
            self.stop(f"{self.server} refused {streak} recipients in a row the same way ({verdict.detail}); "
                      "delivery stopped as a server problem, nobody was marked failed or bounced: "
                      "fix the server and run again")

    def _judged(self, confirmed: list[tuple[Outcome, _Verdict, str]]) -> None:
        """Count refusals judged the recipients' (caller holds the lock, or is the last thread)."""
        report = self.report
        for _, verdict, address in confirmed:
            setattr(report, verdict.final, getattr(report, verdict.final) + 1)
            report.deferred -= 1
            report.problems.remove(_not_judged(address, verdict))
            report.problems.append(f"{address}: {verdict.final}: {verdict.detail}")

    def settle(self) -> None:
        """At the end: refusals the streak never called the server's count against their
        recipients if the server accepted something in this run (so it works); else they stay
        deferred."""
        if self.suspects and self.report.sent and self.problem is None:
            with self.lock:
                confirm, self.suspects = self.suspects, []
            _, newly = self.ledger.step(confirm=[o for o, _, _ in confirm])
            self._judged(confirm)
            self.report.newly_bounced.extend(self.names[sid] for sid in newly)


def _not_judged(address: str, verdict: _Verdict) -> str:
    return f"{address}: deferred: {verdict.detail} (refused; not yet judged the server's or the address's)"


def send_edition(engine: Engine, edition_id: str, messages: Iterable[tuple[Subscriber, Outgoing]],
                 smtp: SmtpConfig, *, retry_failed: bool = False) -> DeliveryReport:
    """Send each subscriber's message of an edition once, whatever happened in earlier runs
    and whatever other run of the same edition is going on at the same time.

    Rows already sent, failed or bounced are not sent again (`retry_failed` retries the
    failed ones, and the bounced ones of subscribers who are active again); messages are
    consumed lazily, as connections free up. For large lists pass bytes from
    `digest.message.build_mime` rather than EmailMessage objects: serialising the objects
    costs several times the rest of the sending (benchmarks/RESULTS-deliver.md). Raises
    DeliveryError, with the report so far, when the run cannot go on (a server problem,
    credentials, TLS, the store); whatever was accepted is recorded.
    """
    started = time.monotonic()
    report = DeliveryReport(edition_id)
    # A claim outlives any one transaction: connecting plus five replies at `timeout` each.
    ledger = Ledger(engine, edition_id, lease_seconds=10 * smtp.timeout + 60, bounce_after=smtp.bounce_after)
    jobs = _Jobs(capacity=smtp.connections * 64)
    sender = _Sender(smtp, jobs, ledger, report)
    redo = FINAL - {FAILED, BOUNCED} if retry_failed else FINAL
    ledger.prepare()
    workers = [threading.Thread(target=sender.work, name=f"smtp-{i}", daemon=True)
               for i in range(smtp.connections)]
    for worker in workers:
        worker.start()
    try:
        for chunk in _chunks(messages, CHUNK):
            entries = ledger.entries([s.id for s, _ in chunk])
            now = datetime.now(UTC)
            for subscriber, message in chunk:
                entry = entries[subscriber.id]
                verdict = ("already_done" if entry.status in redo
                           else "busy" if entry.status == SENDING and not entry.stale(now)
                           else "skipped" if entry.subscriber_status != "active" else None)
                if verdict:
                    with sender.lock:  # the senders count too
                        setattr(report, verdict, getattr(report, verdict) + 1)
                else:
                    sender.names[subscriber.id] = subscriber.email
                    claim = Claim(entry.delivery_id, subscriber.id, entry.status, entry.owner,
                                  uncertain=entry.status == SENDING)
                    if not jobs.add(_job(claim, subscriber, message, edition_id)):
                        break
            if jobs.aborted:
                break
    finally:
        jobs.close()
        if not all(_joined(w) for w in workers):
            jobs.abort()
        for worker in workers:
            worker.join()
        report.seconds = time.monotonic() - started
    sender.settle()
    if sender.problem:
        report.problem = sender.problem
        raise DeliveryError(sender.problem, report)
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
            verdict = _classify(exc)
            if verdict.kind != "retry" or tries >= smtp.max_attempts:
                raise DeliveryError(f"{smtp.host}:{smtp.port}: sending to {message['To']}: "
                                    f"{verdict.detail}") from exc
            time.sleep(_backoff(smtp, tries))
        finally:
            _close(conn)
