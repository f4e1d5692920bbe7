"""The delivery loop over any transport: claims, batches, retries and records, seen through an
in-memory transport (a real class that keeps what it is given), so no server is involved."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from digest.config import Config, MailConfig
from digest.deliver import DeliveryError, deliver, deliver_edition
from digest.store.ledger import Ledger, ledger_counts
from digest.credentials import Secrets
from digest.message import build_mime
from digest.models import Subscriber
from digest.store import DeliveryRow
from digest.transport import RETRY, SERVER, TAKEN, Envelope, Policy, Verdict, prepare
from edition_builders import synthetic
from test_deliver import EDITION, add_readers, messages


class MemoryTransport:
    """Takes every message (keeping it) unless `answer` gives another verdict for it."""

    name = "memory"
    taken = "sent"

    def __init__(self, *, connections: int = 1, batch: int = 16,
                 answer: Callable[[Envelope, int], Verdict | None] = lambda envelope, tries: None) -> None:
        self.connections = connections
        self.policy = Policy(batch=batch, retry_backoff=0.0, max_attempts=3)
        self.answer = answer
        self.received: list[Envelope] = []
        self.tries: Counter[str] = Counter()
        self.lock = threading.Lock()

    def channel(self) -> MemoryChannel:
        return MemoryChannel(self)


class MemoryChannel:
    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport

    def open(self) -> Verdict | None:
        return None

    def send(self, envelope: Envelope) -> Verdict:
        transport = self.transport
        with transport.lock:
            transport.tries[envelope.to.email] += 1
            tries = transport.tries[envelope.to.email]
        verdict = transport.answer(envelope, tries)
        if verdict is not None:
            return verdict
        with transport.lock:
            transport.received.append(envelope)
        return Verdict(TAKEN, where=envelope.to.email)

    def send_batch(self, envelopes: Sequence[Envelope], following: Envelope | None = None) -> Iterator[Verdict]:
        return (self.send(envelope) for envelope in envelopes)

    def close(self) -> None:
        pass


def copies(transport: MemoryTransport) -> Counter[str]:
    return Counter(e.to.email for e in transport.received)


def test_each_message_is_taken_once_and_a_rerun_takes_none_whatever_the_batch_and_connections(engine):
    readers = add_readers(engine, 50)
    for batch, connections in ((1, 1), (7, 3)):
        edition = f"{EDITION}-{batch}"
        transport = MemoryTransport(connections=connections, batch=batch)
        report = deliver_edition(engine, edition, messages(readers, edition), transport)
        again = deliver_edition(engine, edition, messages(readers, edition), transport)
        assert (report.sent, again.sent, again.already_done) == (50, 0, 50)
        assert set(copies(transport).values()) == {1} and len(copies(transport)) == 50
        assert ledger_counts(engine, edition) == {"sent": 50}


def test_a_batch_is_recorded_before_the_connection_sends_the_next_one(engine):
    readers = add_readers(engine, 20)
    recorded_before: list[int] = []

    def look_at_ledger(envelope: Envelope, tries: int) -> None:
        with engine.connect() as conn:
            recorded_before.append(conn.scalar(select(func.count()).where(DeliveryRow.status == "sent")))
        time.sleep(0.005)  # a slow server: the messages queue up behind it, and batches fill

    transport = MemoryTransport(batch=4, answer=look_at_ledger)
    deliver_edition(engine, EDITION, messages(readers), transport)
    # Each message is sent once every batch before its own is recorded, and the messages of its
    # own batch are not yet: outcomes wait for the batch's end. A batch is what is queued when
    # the connection takes one (up to 4; fewer when the messages are still being prepared), so
    # what was recorded before each send is where its batch starts.
    starts = sorted(set(recorded_before))
    assert len(recorded_before) == 20 and starts[0] == 0
    for n, recorded in enumerate(recorded_before):
        assert recorded == max(start for start in starts if start <= n), (n, recorded_before)
        assert n - recorded < 4, (n, recorded_before)
    sizes = [b - a for a, b in zip(starts, [*starts[1:], 20])]
    assert max(sizes) == 4 and sum(sizes) == 20, sizes


def test_a_temporary_failure_is_released_at_once_and_retried_until_taken(engine):
    readers = add_readers(engine, 10)
    busy = {readers[2].email, readers[7].email}
    seen_by_retry: list[str] = []

    def busy_once(envelope: Envelope, tries: int) -> Verdict | None:
        if envelope.to.email in busy and tries == 1:
            return Verdict(RETRY, "451 4.3.0 try again later")
        if envelope.to.email in busy:
            with engine.connect() as conn:
                seen_by_retry.append(conn.scalar(select(DeliveryRow.status).where(
                    DeliveryRow.subscriber_id == envelope.to.id)))
        return None

    transport = MemoryTransport(connections=2, batch=5, answer=busy_once)
    report = deliver_edition(engine, EDITION, messages(readers), transport)
    assert (report.sent, report.attempts, report.deferred) == (10, 12, 0)
    assert seen_by_retry == ["sending", "sending"]  # claimed again by whichever connection retried
    assert set(copies(transport).values()) == {1}
    with engine.connect() as conn:
        attempts = dict(conn.execute(select(DeliveryRow.subscriber_id, DeliveryRow.attempts)).all())
    assert sorted(attempts.values()) == [1] * 8 + [2, 2]


def test_a_run_stopped_by_the_server_gives_back_the_rest_of_its_batch_untried(engine):
    readers = add_readers(engine, 12)

    def refuse_sender_at_the_third(envelope: Envelope, tries: int) -> Verdict | None:
        return Verdict(SERVER, "refused the sender: 550 5.7.1") if envelope.to.email == readers[2].email else None

    transport = MemoryTransport(batch=6, answer=refuse_sender_at_the_third)
    ledger = Ledger(engine, EDITION, lease_seconds=60)
    with pytest.raises(DeliveryError, match="memory refused the sender.*delivery stopped as a server problem"):
        deliver(messages(readers), transport, ledger)
    assert ledger_counts(engine, EDITION) == {"sent": 2, "pending": 10}
    with engine.connect() as conn:
        untried = conn.scalar(select(func.count()).where(DeliveryRow.status == "pending",
                                                         DeliveryRow.attempts == 0))
    assert untried == 9  # the refused one counts its attempt; the three after it never went


def test_a_message_without_a_message_id_gets_the_one_the_editions_own_messages_carry():
    config = Config(mail=MailConfig(sender="World Digest <digest@news.example.org>",
                                    list_id="World Digest <digest.news.example.org>",
                                    base_url="https://news.example.org"))
    ana = Subscriber("ana@example.org", name="Ana", id=7)
    note = EmailMessage()
    note["From"] = config.mail.sender
    note["To"] = ana.email
    note.set_content("a note")
    first, again = (prepare(ana, note, EDITION) for _ in range(2))
    [(_, raw)] = build_mime(synthetic(2), EDITION, [ana], config, Secrets())
    assert first.message_id == again.message_id == prepare(ana, raw, EDITION).message_id
    assert first.raw.startswith(f"Message-ID: {first.message_id}\r\n".encode())
    assert first.message_id.endswith("@news.example.org>")
