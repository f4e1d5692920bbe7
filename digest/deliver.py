"""Delivery: one loop that sends each message of an edition once, over any transport.

`deliver(messages, transport, ledger)` owns what every transport shares: the ledger's claims
(`digest.store.ledger`), retries, the rate limit and the report; whose fault a failure is (the
server's or the recipient's, and when that stops the run) is `digest.judgement`'s. Transports
(`digest.smtp`, `digest.outbox`; the protocol in `digest.transport`) only move messages and
say what happened; `transport_for` picks one from the config, for every caller.

Each connection claims a batch of rows just before sending them and records their outcomes
before it sends its next batch, so two overlapping runs of one edition send each message once,
and after a crash only the messages of the batches under way (at most `batch` per connection)
may have reached the server unrecorded: the next run sends those again with the same
Message-ID and counts them as `uncertain` (RFC 1047). Anything but an acceptance is recorded
at once, before the next message's content goes out. The channel is told the next batch's
first message before it is claimed, to prepare it (SMTP pipelines its commands behind the last
content: one round trip per message even with `batch = 1`); it is sent only once claimed.

Temporary failures are retried with exponential backoff, then left `deferred` for the next run.

Messages may be EmailMessage objects or ready MIME bytes with CRLF line ends (what
`digest.message.build_mime` yields): bytes skip the serialisation, which costs more than the
SMTP exchange itself on a fast server (see benchmarks/RESULTS-deliver.md).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.config import Config, SmtpConfig
from digest.credentials import Secrets
from digest.errors import DigestError
from digest.jobs import Job, Jobs, RateLimit  # noqa: F401 - RateLimit for callers
from digest.judgement import Judgement
from digest.store import Engine
from digest.store.ledger import (BOUNCED, DEFERRED, FAILED, FINAL, PENDING, SENDING, Claim, Ledger, LedgerSession,
                                 Outcome)
from digest.store.ledger import ledger_counts  # noqa: F401 - for callers that count what a run did
from digest.models import Subscriber, SubscriberStatus
from digest.outbox import OutboxTransport
from digest.smtp import SmtpTransport
from digest.transport import (FATAL, REFUSED, RETRY, SERVER, TAKEN, Channel, Envelope, Outgoing, Transport, Verdict,
                              prepare)

log = logging.getLogger(__name__)

CHUNK = 200
MAX_BACKOFF = 300.0


class DeliveryError(DigestError, RuntimeError):
    """The run cannot go on (server problem, credentials, TLS, store); names the server.

    `report` holds what the run did before it stopped (None for a single message)."""

    def __init__(self, message: str, report: DeliveryReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class DeliveryReport:
    edition_id: str
    sent: int = 0  # taken by the transport in this run (accepted by the server, or written)
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
    delivered: list[str] = field(default_factory=list)  # where each message went: address or file
    newly_bounced: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every subscriber's message reached a final state (nothing left to retry)."""
        return self.deferred == 0 and self.busy == 0 and self.problem is None

    @property
    def per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def transport_for(config: Config, secrets: Secrets, outbox: Path | None = None) -> Transport:
    """The configured SMTP server (logging in with the resolved password), or without one the
    outbox folder (`outbox`, default the config's): the one place where that choice is made."""
    if config.mail.smtp is not None:
        return SmtpTransport(config.mail.smtp.with_password(secrets.smtp_password))
    return OutboxTransport(outbox or config.outbox_dir)


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


def _backoff(base: float, tries: int) -> float:
    delay = min(base * 2 ** (tries - 1), MAX_BACKOFF)
    return delay * random.uniform(0.75, 1.25)  # jitter: retries of one outage do not all land at once


class _Run:
    """The channels of one run: each claims, sends and records; `judgement` holds what they
    learn together about the destination."""

    def __init__(self, transport: Transport, jobs: Jobs, ledger: Ledger, report: DeliveryReport) -> None:
        self.transport = transport
        self.policy = policy = transport.policy
        self.jobs = jobs
        self.ledger = ledger
        self.report = report
        self.rate = RateLimit(policy.rate_per_second) if policy.rate_per_second else None
        # A rate-limited run has time to record each message before the next: batches of one.
        self.batch = 1 if self.rate else policy.batch
        self.lock = threading.Lock()  # guards the report and the fields below
        self.judgement = Judgement(transport.name, policy, report, self.lock, self.stop)
        self.problem: str | None = None
        self.names: dict[int, str] = {}  # subscriber id -> address, for bounce reports

    def stop(self, problem: str) -> None:
        with self.lock:
            self.problem = self.problem or problem
        self.jobs.abort()

    def work(self) -> None:
        channel = self.transport.channel()
        held: list[Outcome] = []  # taken by the transport, recorded with the next batch's claims
        upcoming: list[Job] = []  # the next batch, taken before this one is sent, claimed after it
        db: LedgerSession | None = None
        try:
            db = self.ledger.session()  # each channel its own store connection
            while True:
                batch = upcoming if upcoming and not self.jobs.aborted else self.jobs.take(self.batch, wait=not held)
                upcoming = []
                if not batch:
                    if not held:
                        break
                    self._commit(db, held)
                    held = []
                    continue
                failed = channel.open()
                if failed is not None:
                    self._commit(db, held)
                    held = []
                    self._unreachable(db, batch, failed)
                    continue
                self.judgement.connected()
                claimed = self._commit(db, held, batch)
                # With the next batch at hand the channel can prepare its first message while this
                # batch's last reply is on its way (not when rate-limited: nothing to gain).
                upcoming = [] if self.rate else self.jobs.take(self.batch, wait=False)
                held = self._send(db, channel, claimed, upcoming[0].envelope if upcoming else None)
        except Exception as exc:  # noqa: BLE001 - a store failure stops the run; deliver raises it
            self.stop(f"delivery ledger could not be written: {type(exc).__name__}: {exc}")
        finally:
            if held and self.problem is None:
                self._commit(db, held)
            channel.close()
            if db is not None:
                db.close()

    def _commit(self, db: LedgerSession, done: Sequence[Outcome], claim: Sequence[Job] = ()) -> list[Job]:
        """Record `done` (and confirm earlier refusals once something was taken), then claim the
        rows of `claim`; returns the jobs won (those another run has are left to it)."""
        confirm = self.judgement.confirmed_by(done, self.transport.taken)
        won, newly = db.commit(done, [(j.claim, j.envelope.message_id) for j in claim], [o for o, _, _ in confirm])
        claimed = [j for j in claim if j.claim.delivery_id in won]
        with self.lock:
            self.judgement.judged(confirm)
            self.report.newly_bounced.extend(self.names[sid] for sid in newly)
            self.report.busy += len(claim) - len(claimed)
            for job in claimed:
                if job.claim.uncertain:
                    self.report.uncertain += 1
                    job.claim.uncertain = False
        for _ in range(len(claim) - len(claimed)):
            self.jobs.finish()
        return claimed

    def _send(self, db: LedgerSession, channel: Channel, claimed: list[Job],
              following: Envelope | None) -> list[Outcome]:
        """Send a claimed batch; returns the outcomes of what was taken, still to record."""
        done: list[Outcome] = []
        verdicts = channel.send_batch([job.envelope for job in claimed], following)  # in order, lazily
        try:
            for i, job in enumerate(claimed):
                if self.jobs.aborted:  # another channel stopped the run: the rest go back, untried
                    verdicts.close()  # first: a pipelined message whose content is not out stays unsent
                    self._commit(db, done + [Outcome(j.claim, PENDING, None, j.envelope.message_id, tried=False)
                                             for j in claimed[i:]])
                    return []
                if self.rate:  # after the previous outcome is recorded: the wait is no time to lose it
                    self.rate.wait()
                job.tries += 1
                verdict = next(verdicts)
                with self.lock:
                    self.report.attempts += 1
                    if verdict.kind == TAKEN:
                        self.report.sent += 1
                        self.report.delivered.append(verdict.where)
                if verdict.kind == TAKEN:
                    done.append(Outcome(job.claim, self.transport.taken, None, job.envelope.message_id))
                    self.jobs.finish()
                    continue
                # Anything else is recorded at once, before the next message's content goes out.
                self._failed(db, job, verdict, done)
                done = []
        finally:
            verdicts.close()
        return done

    def _failed(self, db: LedgerSession, job: Job, verdict: Verdict, done: list[Outcome]) -> None:
        outcome = Outcome(job.claim, PENDING, verdict.detail, job.envelope.message_id)  # not its fault
        if verdict.connecting and verdict.kind == FATAL:
            self._commit(db, [*done, outcome])
            self.stop(f"{self.transport.name}: {verdict.detail}")
        elif verdict.connecting and self.judgement.unreachable(verdict):
            self._commit(db, [*done, outcome])
        elif verdict.kind in (FATAL, SERVER):
            self._commit(db, [*done, outcome])
            self.stop(f"{self.transport.name} {verdict.detail}; delivery stopped as a server problem, "
                      "nobody was marked failed or bounced: fix it and run again")
        elif verdict.kind == REFUSED:
            # Recorded as not yet judged; the judgement waits for the server to take something.
            self._commit(db, [*done, Outcome(job.claim, DEFERRED, verdict.detail, job.envelope.message_id)])
            self.jobs.finish()
            self.judgement.refused(Outcome(job.claim, verdict.final, verdict.detail, job.envelope.message_id),
                                   verdict, job.envelope.to.email)
        else:
            self._retry_or_defer(db, job, verdict.detail, done)

    def _unreachable(self, db: LedgerSession, batch: list[Job], verdict: Verdict) -> None:
        """A channel could not connect before claiming `batch`: retry it, or stop the run."""
        with self.lock:
            self.report.attempts += len(batch)
        for job in batch:
            job.tries += 1
        if verdict.kind == FATAL:
            self.stop(f"{self.transport.name}: {verdict.detail}")
        elif not self.judgement.unreachable(verdict):
            for job in batch:
                self._retry_or_defer(db, job, verdict.detail)

    def _retry_or_defer(self, db: LedgerSession, job: Job, detail: str, done: Sequence[Outcome] = ()) -> None:
        if job.tries < self.policy.max_attempts:
            # Released at once, so that whichever channel takes the retry can claim it again.
            self._commit(db, [*done, Outcome(job.claim, PENDING, detail, job.envelope.message_id)])
            self.jobs.retry(job, _backoff(self.policy.retry_backoff, job.tries))
            return
        self._commit(db, [*done, Outcome(job.claim, DEFERRED, detail, job.envelope.message_id)])
        self.jobs.finish()
        with self.lock:
            self.report.deferred += 1
            self.report.problems.append(f"{job.envelope.to.email}: deferred: {detail}")

    def settle(self) -> None:
        """At the end: record the refusals still provisional that now count as their recipients'."""
        confirm = self.judgement.at_end(self.problem)
        if confirm:
            _, newly = self.ledger.commit(confirm=[o for o, _, _ in confirm])
            self.judgement.judged(confirm)
            self.report.newly_bounced.extend(self.names[sid] for sid in newly)


def deliver(messages: Iterable[tuple[Subscriber, Outgoing]], transport: Transport, ledger: Ledger, *,
            retry_failed: bool = False) -> DeliveryReport:
    """Send each subscriber's message of the ledger's edition once, whatever happened in earlier
    runs and whatever other run of the same edition is going on at the same time.

    Rows already sent, failed or bounced are not sent again (`retry_failed` retries the failed
    ones, and the bounced ones of subscribers who are active again); messages are consumed
    lazily, as channels free up. Raises DeliveryError, with the report so far, when the run
    cannot go on (a server problem, credentials, TLS, the store); whatever was taken is recorded.
    """
    started = time.monotonic()
    report = DeliveryReport(ledger.edition_id)
    jobs = Jobs(capacity=transport.connections * max(64, 2 * transport.policy.batch))
    run = _Run(transport, jobs, ledger, report)
    redo = FINAL - {FAILED, BOUNCED} if retry_failed else FINAL
    ledger.prepare()
    workers = [threading.Thread(target=run.work, name=f"deliver-{i}", daemon=True)
               for i in range(transport.connections)]
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
                           else "skipped" if entry.subscriber_status != SubscriberStatus.ACTIVE else None)
                if verdict:
                    with run.lock:  # the channels count too
                        setattr(report, verdict, getattr(report, verdict) + 1)
                    continue
                run.names[subscriber.id] = subscriber.email
                claim = Claim(entry.delivery_id, subscriber.id, entry.status, entry.owner,
                              uncertain=entry.status == SENDING)
                if not jobs.add(Job(claim, prepare(subscriber, message, ledger.edition_id))):
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
    run.settle()
    if run.problem:
        report.problem = run.problem
        raise DeliveryError(run.problem, report)
    return report


def _joined(worker: threading.Thread) -> bool:
    """Wait for a worker; an interrupt (Ctrl-C) ends the wait so the caller can abort the run."""
    try:
        worker.join()
    except KeyboardInterrupt:
        return False
    return True


def deliver_edition(engine: Engine, edition_id: str, messages: Iterable[tuple[Subscriber, Outgoing]],
                    transport: Transport, *, retry_failed: bool = False) -> DeliveryReport:
    """`deliver` with the edition's ledger in `engine`, as the transport's policy sets it up.

    The caller should store the edition (`EditionRow`) first; if it is missing, a minimal row
    (id, title = id, times = now) is created so the ledger can refer to it."""
    ledger = Ledger(engine, edition_id, lease_seconds=transport.policy.lease_seconds,
                    bounce_after=transport.policy.bounce_after)
    return deliver(messages, transport, ledger, retry_failed=retry_failed)


def send_edition(engine: Engine, edition_id: str, messages: Iterable[tuple[Subscriber, Outgoing]],
                 smtp: SmtpConfig, *, retry_failed: bool = False) -> DeliveryReport:
    """`deliver_edition` through the SMTP server `smtp`."""
    return deliver_edition(engine, edition_id, messages, SmtpTransport(smtp), retry_failed=retry_failed)


def write_outbox(messages: Iterable[tuple[Subscriber, Outgoing]], folder: Path, *, engine: Engine,
                 edition_id: str) -> list[Path]:
    """`deliver_edition` into the outbox `folder`: the files written (again, on a rerun), each
    recorded in the ledger as `outbox` (not `sent`: a later SMTP run of the edition mails them)."""
    report = deliver_edition(engine, edition_id, messages, OutboxTransport(folder))
    return [Path(p) for p in report.delivered]


def send_one(transport: Transport, message: Outgoing, *, to: Subscriber, edition_id: str) -> str:
    """Send a single message outside any ledger (a confirmation, a test send) to `to`, retrying
    temporary failures; returns where it went. `edition_id` names its outbox file and, when it
    has none, its Message-ID."""
    envelope = prepare(to, message, edition_id)
    channel = transport.channel()
    tries = 0
    try:
        while True:
            tries += 1
            verdict = channel.send(envelope)
            if verdict.kind == TAKEN:
                return verdict.where
            if verdict.kind != RETRY or tries >= transport.policy.max_attempts:
                raise DeliveryError(f"{transport.name}: sending to {to.email}: {verdict.detail}")
            time.sleep(_backoff(transport.policy.retry_backoff, tries))
    finally:
        channel.close()
