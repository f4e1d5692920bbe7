"""Delivery: the outbox, and SMTP sending that reaches everyone exactly once through faults and crashes."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config import SmtpConfig
from digest.deliver import DeliveryError, ledger_counts, send_edition, write_outbox
from digest.store.ledger import Claim, Ledger
from digest.store import DeliveryRow, SubscriberRow
from digest.subscribers import active_subscribers, import_rows, unsubscribe
from smtp_server import Faults, Mailbox, message_for, self_signed_cert, start

EDITION = "2026-01-05"
TESTS = Path(__file__).resolve().parent


def add_readers(engine, count: int) -> list:  # noqa: ANN001
    import_rows(engine, [(f"reader{i}@example.org", None, None) for i in range(count)])
    return active_subscribers(engine)


def smtp_for(controller, **overrides) -> SmtpConfig:  # noqa: ANN001
    settings = dict(host="127.0.0.1", port=controller.port, security="none", password_env=None,
                    timeout=5.0, retry_backoff=0.01, max_attempts=10)
    return SmtpConfig(**(settings | overrides))


def messages(subscribers, edition: str = EDITION):  # noqa: ANN001
    return ((s, message_for(s, edition)) for s in subscribers)


def test_outbox_writes_one_file_per_subscriber_and_a_rerun_replaces_them(engine, tmp_path):
    readers = add_readers(engine, 3)
    outbox = tmp_path / "outbox"
    first = write_outbox(messages(readers), outbox, engine=engine, edition_id=EDITION)
    again = write_outbox(messages(readers), outbox, engine=engine, edition_id=EDITION)
    assert first == again
    assert sorted(p.name for p in outbox.iterdir()) == sorted(p.name for p in first)
    assert all(p.name.startswith(EDITION) for p in first)
    parsed = message_from_bytes(first[0].read_bytes(), policy=policy.default)
    assert parsed["To"] == readers[0].email
    assert ledger_counts(engine, EDITION) == {"outbox": 3}


def test_outbox_rows_are_still_mailed_when_smtp_is_configured_later(engine, tmp_path, mailbox):
    readers = add_readers(engine, 2)
    write_outbox(messages(readers), tmp_path, engine=engine, edition_id=EDITION)
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert report.sent == 2
    assert ledger_counts(engine, EDITION) == {"sent": 2}


def test_a_rerun_sends_nothing_already_accepted(engine, mailbox):
    readers = add_readers(engine, 20)
    smtp = smtp_for(mailbox.controller, connections=2)
    first = send_edition(engine, EDITION, messages(readers), smtp)
    second = send_edition(engine, EDITION, messages(readers), smtp)
    assert (first.sent, first.already_done) == (20, 0)
    assert (second.sent, second.already_done) == (0, 20)
    assert set(mailbox.copies().values()) == {1} and len(mailbox.copies()) == 20
    with Session(engine) as session:
        rows = session.scalars(select(DeliveryRow)).all()
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert all(r.message_id for r in rows)


def test_one_connection_is_reused_for_every_message(engine, mailbox):
    readers = add_readers(engine, 30)
    send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1))
    assert len(mailbox.peers()) == 1


def test_several_connections_share_the_work(engine, mailbox):
    readers = add_readers(engine, 60)
    send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=3))
    assert 2 <= len(mailbox.peers()) <= 3
    assert len(mailbox.copies()) == 60


def test_the_rate_limit_spaces_messages(engine, mailbox):
    readers = add_readers(engine, 11)
    smtp = smtp_for(mailbox.controller, connections=2, rate_per_second=40)
    started = time.monotonic()
    send_edition(engine, EDITION, messages(readers), smtp)
    assert time.monotonic() - started >= 10 / 40


def test_a_refused_recipient_is_recorded_as_bounced_and_the_address_marked(engine, mailbox):
    readers = add_readers(engine, 5)
    mailbox.faults = Faults(refuse_rcpt=frozenset({"reader2@example.org"}))
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert (report.sent, report.bounced) == (4, 1)
    assert report.newly_bounced == ["reader2@example.org"]
    assert "550" in report.problems[0]
    with Session(engine) as session:
        row = session.scalar(select(SubscriberRow).where(SubscriberRow.email == "reader2@example.org"))
        assert row.status == "bounced" and row.bounced_at is not None
    assert "reader2@example.org" not in {s.email for s in active_subscribers(engine)}


def test_bounces_below_the_policy_threshold_keep_the_address_active(engine, mailbox):
    readers = add_readers(engine, 2)
    mailbox.faults = Faults(refuse_rcpt=frozenset({"reader1@example.org"}))
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, bounce_after=2))
    assert report.bounced == 1 and report.newly_bounced == []
    assert len(active_subscribers(engine)) == 2


def test_a_refused_message_is_failed_not_bounced_and_can_be_retried_on_request(engine, mailbox):
    readers = add_readers(engine, 3)
    mailbox.faults = Faults(refuse_data=frozenset({"reader0@example.org"}))
    smtp = smtp_for(mailbox.controller)
    report = send_edition(engine, EDITION, messages(readers), smtp)
    assert (report.sent, report.failed, report.newly_bounced) == (2, 1, [])
    assert send_edition(engine, EDITION, messages(readers), smtp).sent == 0
    mailbox.faults = Faults()
    assert send_edition(engine, EDITION, messages(readers), smtp, retry_failed=True).sent == 1
    assert mailbox.copies()["reader0@example.org"] == 1


def test_temporary_failures_beyond_the_attempts_are_deferred_to_the_next_run(engine, mailbox):
    readers = add_readers(engine, 4)
    mailbox.faults = Faults(data_451=1.0)
    smtp = smtp_for(mailbox.controller, max_attempts=3)
    report = send_edition(engine, EDITION, messages(readers), smtp)
    assert (report.sent, report.deferred, report.attempts, report.complete) == (0, 4, 12, False)
    assert ledger_counts(engine, EDITION) == {"deferred": 4}
    mailbox.faults = Faults()
    assert send_edition(engine, EDITION, messages(readers), smtp).sent == 4
    assert ledger_counts(engine, EDITION) == {"sent": 4}


def test_someone_who_unsubscribed_after_the_edition_was_built_is_skipped(engine, mailbox):
    readers = add_readers(engine, 3)
    unsubscribe(engine, "reader1@example.org")
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert (report.sent, report.skipped) == (2, 1)
    assert "reader1@example.org" not in mailbox.copies()


@pytest.mark.slow
def test_every_subscriber_gets_exactly_one_copy_through_busy_replies_and_dropped_connections(engine, mailbox):
    readers = add_readers(engine, 2000)
    mailbox.faults = Faults(rcpt_421=0.04, data_451=0.04, drop=0.03, stall=0.002, stall_seconds=3.0)
    # A timeout well above a loaded machine's reply times: a 250 that arrives after the client
    # gave up is SMTP's own duplicate (RFC 1047), not what this test is about.
    smtp = smtp_for(mailbox.controller, connections=4, timeout=2.0, max_attempts=12)
    report = send_edition(engine, EDITION, messages(readers), smtp)
    copies = mailbox.copies()
    assert len(copies) == 2000 and set(copies.values()) == {1}
    assert report.sent == 2000 and report.complete
    assert report.attempts > 2000  # the faults did happen and were retried
    assert ledger_counts(engine, EDITION) == {"sent": 2000}


CHILD = """
import sys
sys.path.insert(0, sys.argv[4])
from digest.config import SmtpConfig
from digest.deliver import send_edition
from digest.store import make_engine
from digest.subscribers import active_subscribers
from smtp_server import message_for
url, port, edition, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[5])
engine = make_engine(url)
smtp = SmtpConfig(host="127.0.0.1", port=port, security="none", password_env=None, connections=3, batch=batch)
send_edition(engine, edition, ((s, message_for(s, edition)) for s in active_subscribers(engine)), smtp)
"""


@pytest.fixture
def tls_files(tmp_path, monkeypatch):
    certfile, keyfile = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certfile))  # the client trusts the test certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    ok = auth_data.login == b"digest" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def guarded_mailbox(tls_files):
    """A server that demands STARTTLS and then a login (digest / s3cret)."""
    handler = Mailbox()
    handler.controller = start(handler, tls_context=tls_files, require_starttls=True, auth_required=True,
                               auth_require_tls=True, authenticator=authenticator)
    yield handler
    handler.controller.stop()


def test_starttls_with_authentication(engine, guarded_mailbox):
    readers = add_readers(engine, 3)
    smtp = smtp_for(guarded_mailbox.controller, security="starttls", username="digest").with_password(
        SecretStr("s3cret"))
    assert send_edition(engine, EDITION, messages(readers), smtp).sent == 3
    assert len(guarded_mailbox.copies()) == 3


def test_wrong_credentials_stop_the_run_and_mark_nothing_sent(engine, guarded_mailbox):
    readers = add_readers(engine, 3)
    smtp = smtp_for(guarded_mailbox.controller, security="starttls", username="digest").with_password(
        SecretStr("wrong"))
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{guarded_mailbox.controller.port}.*Authentication"):
        send_edition(engine, EDITION, messages(readers), smtp)
    assert ledger_counts(engine, EDITION) == {"pending": 3}
    assert not guarded_mailbox.copies()


def test_implicit_tls(engine, tls_files):
    handler = Mailbox()
    controller = start(handler, ssl_context=tls_files)
    try:
        readers = add_readers(engine, 2)
        assert send_edition(engine, EDITION, messages(readers), smtp_for(controller, security="tls")).sent == 2
    finally:
        controller.stop()


def test_ready_made_bytes_arrive_intact_with_dots_and_a_message_id(engine, mailbox):
    reader = add_readers(engine, 1)[0]
    raw = (f"From: digest@example.org\nTo: {reader.email}\nSubject: dots\n"
           "Content-Type: text/plain; charset=utf-8\n\n"
           "first line\n.starts with a dot\n..two dots\n.\nlast line\n").encode()
    report = send_edition(engine, EDITION, [(reader, raw)], smtp_for(mailbox.controller))
    assert report.sent == 1
    (_, received, _), = mailbox.messages
    assert received.get_content().splitlines() == [
        "first line", ".starts with a dot", "..two dots", ".", "last line"]
    with Session(engine) as session:
        stored_id = session.scalars(select(DeliveryRow.message_id)).one()
    assert received["Message-ID"] and received["Message-ID"] == stored_id


# --- claims: two runs at once, and what a crash leaves uncertain ------------------------------

def test_only_one_of_two_runs_wins_the_claim_on_a_row(engine):
    reader = add_readers(engine, 1)[0]
    first, second = (Ledger(engine, EDITION, lease_seconds=60) for _ in range(2))
    first.prepare()
    entry = first.entries([reader.id])[reader.id]
    claims = [Claim(entry.delivery_id, reader.id, entry.status, entry.owner) for _ in range(2)]
    won = [ledger.step(claim=claim, message_id="<m@x>")[0] for ledger, claim in zip((first, second), claims)]
    assert won == [True, False]
    row = second.entries([reader.id])[reader.id]
    assert (row.status, row.owner) == ("sending", first.owner)
    assert not row.stale(datetime.now(UTC))  # the other run leaves it alone while the lease holds


def test_a_batch_claim_wins_only_the_rows_no_other_run_holds(engine):
    readers = add_readers(engine, 6)
    first, second = (Ledger(engine, EDITION, lease_seconds=60) for _ in range(2))
    first.prepare()
    entries = first.entries([r.id for r in readers])

    def claims(ids):  # noqa: ANN001, ANN202
        return [(Claim(entries[i].delivery_id, i, entries[i].status, entries[i].owner), "<m@x>") for i in ids]

    ids = [r.id for r in readers]
    assert first.commit(claims=claims(ids[:2]))[0] == {entries[i].delivery_id for i in ids[:2]}
    # The second run's batch overlaps the first's by two rows: it wins the other four only.
    won, _ = second.commit(claims=claims(ids))
    assert won == {entries[i].delivery_id for i in ids[2:]}
    assert second.commit(claims=claims(ids[:2]))[0] == set()


def test_a_claim_whose_lease_ran_out_is_taken_over_and_counted_uncertain(engine, mailbox):
    readers = add_readers(engine, 3)
    gone = Ledger(engine, EDITION, lease_seconds=-1, owner="elsewhere.example:1:dead")
    gone.prepare()
    entry = gone.entries([readers[0].id])[readers[0].id]
    gone.step(claim=Claim(entry.delivery_id, readers[0].id, entry.status, entry.owner), message_id="<m@x>")
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert (report.sent, report.uncertain, report.busy) == (3, 1, 0)
    assert ledger_counts(engine, EDITION) == {"sent": 3}


def test_a_row_claimed_by_a_live_run_is_left_to_it(engine, mailbox):
    readers = add_readers(engine, 3)
    other = Ledger(engine, EDITION, lease_seconds=600, owner="elsewhere.example:1:alive")
    other.prepare()
    entry = other.entries([readers[1].id])[readers[1].id]
    other.step(claim=Claim(entry.delivery_id, readers[1].id, entry.status, entry.owner), message_id="<m@x>")
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert (report.sent, report.busy, report.complete) == (2, 1, False)
    assert readers[1].email not in mailbox.copies()


def test_a_permanent_refusal_is_recorded_before_the_connection_sends_the_next_message(engine, mailbox):
    readers = add_readers(engine, 3)
    mailbox.faults = Faults(refuse_rcpt=frozenset({readers[0].email}))
    seen_by_next: list[tuple[str, str | None]] = []

    def look_at_ledger(envelope) -> None:  # noqa: ANN001
        if not seen_by_next:
            with Session(engine) as session:
                row = session.scalar(select(DeliveryRow).where(DeliveryRow.subscriber_id == readers[0].id))
                seen_by_next.append((row.status, row.last_error))

    mailbox.on_data = look_at_ledger
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1))
    status, error = seen_by_next[0]
    assert status == "deferred" and error.startswith("550 5.1.1")  # recorded, judged later
    assert report.bounced == 1 and report.sent == 2


TWO_RUNS = """
import sys
sys.path.insert(0, sys.argv[4])
from digest.config import SmtpConfig
from digest.deliver import send_edition
from digest.store import make_engine
from digest.subscribers import active_subscribers
from smtp_server import message_for
url, port, edition = sys.argv[1], int(sys.argv[2]), sys.argv[3]
engine = make_engine(url)
smtp = SmtpConfig(host="127.0.0.1", port=port, security="none", password_env=None, connections=2,
                  timeout=20)
report = send_edition(engine, edition, ((s, message_for(s, edition)) for s in active_subscribers(engine)), smtp)
print(report.sent, report.busy, report.already_done)
"""


@pytest.mark.slow
def test_two_runs_of_one_edition_at_once_send_each_message_once(engine, store_url, mailbox):
    readers = add_readers(engine, 60)
    mailbox.faults = Faults(data_delay=0.02)  # a relay across a network: both runs overlap throughout
    runs = [subprocess.Popen([sys.executable, "-c", TWO_RUNS, store_url, str(mailbox.controller.port),
                              EDITION, str(TESTS)], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=180)[0].split() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    copies = mailbox.copies()
    assert sorted(copies) == sorted(r.email for r in readers) and set(copies.values()) == {1}
    assert sum(int(out[0]) for out in outputs) == 60
    assert all(int(out[0]) > 0 for out in outputs)  # they did run at the same time
    assert ledger_counts(engine, EDITION) == {"sent": 60}


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 16])
def test_after_a_crash_only_messages_of_the_batches_in_flight_are_sent_again_with_their_message_id(
        engine, store_url, mailbox, batch):
    # A connection claims `batch` rows, sends them and records them before its next batch: those
    # are the messages in doubt (with batch 1, only the one inside its SMTP transaction).
    readers = add_readers(engine, 300)
    connections, kill_at = 3, 120
    child: subprocess.Popen | None = None
    seen = 0

    def crash_sender(envelope) -> None:  # noqa: ANN001
        nonlocal seen
        seen += 1
        if seen == kill_at:
            os.kill(child.pid, signal.SIGKILL)  # while this very message is in its transaction
        # Everything the dead sender fully transmitted is accepted: the RFC 1047 window is real.

    mailbox.on_data = crash_sender
    child = subprocess.Popen([sys.executable, "-c", CHILD, store_url, str(mailbox.controller.port),
                              EDITION, str(TESTS), str(batch)])
    assert child.wait(timeout=120) == -signal.SIGKILL
    time.sleep(0.3)  # let the server finish what reached it
    counts = ledger_counts(engine, EDITION)
    assert 1 <= counts.get("sending", 0) <= connections * batch
    with Session(engine) as session:
        mid = set(session.scalars(select(SubscriberRow.email).join(
            DeliveryRow, DeliveryRow.subscriber_id == SubscriberRow.id).where(DeliveryRow.status == "sending")))
    mailbox.on_data = None

    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=3))
    copies = mailbox.copies()
    assert sorted(copies) == sorted(r.email for r in readers)
    twice = {address for address, n in copies.items() if n > 1}
    assert twice <= mid and max(copies.values()) <= 2
    assert report.uncertain == len(mid)
    ids = {}
    for rcpt, received, _ in mailbox.messages:
        ids.setdefault(rcpt, set()).add(received["Message-ID"])
    assert all(len(ids[address]) == 1 for address in twice)  # a duplicate is recognisable
    assert ledger_counts(engine, EDITION) == {"sent": 300}
