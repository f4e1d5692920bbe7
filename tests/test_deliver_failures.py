"""Delivery against broken mail servers: the server's failures never cost a subscriber.

Each case is a real local server (aiosmtpd, or a bare socket that never greets) set up the way
an operator gets it wrong. Each asserts that the run stops with one line naming the server and
what failed, that nobody is marked failed or bounced, and that the rows are sent once the
server is fixed.
"""

from __future__ import annotations

import ssl
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.deliver import DeliveryError, ledger_counts, send_edition
from digest.store import SubscriberRow
from digest.subscribers import active_subscribers, import_rows, reactivate, unsubscribe
from smtp_server import Faults, Mailbox, self_signed_cert, silent_server, start
from test_deliver import EDITION, add_readers, messages, smtp_for


def assert_nobody_lost(engine, count: int) -> None:  # noqa: ANN001
    assert len(active_subscribers(engine)) == count
    counts = ledger_counts(engine, EDITION)
    assert not counts.get("failed") and not counts.get("bounced") and not counts.get("sending")


def test_a_relay_that_denies_every_recipient_stops_the_run_and_bounces_nobody(engine, mailbox):
    readers = add_readers(engine, 20)
    mailbox.faults = Faults(rcpt_reply="550 5.7.1 Relaying denied")
    with pytest.raises(DeliveryError, match="refused 5 recipients in a row the same way.*5.7.1") as caught:
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert caught.value.report.sent == 0 and caught.value.report.newly_bounced == []
    assert_nobody_lost(engine, 20)
    mailbox.faults = Faults()  # the operator fixes the relay
    assert send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller)).sent == 20
    assert ledger_counts(engine, EDITION) == {"sent": 20}


def test_even_no_such_user_for_everyone_is_the_servers_problem(engine, mailbox):
    # A server that thinks it is the final destination answers 5.1.1 for every address.
    readers = add_readers(engine, 8)
    mailbox.faults = Faults(rcpt_reply="550 5.1.1 User unknown in local recipient table")
    with pytest.raises(DeliveryError, match="in a row"):
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=2))
    assert_nobody_lost(engine, 8)


def test_a_refused_sender_stops_the_run_and_fails_nobody(engine, mailbox):
    readers = add_readers(engine, 20)
    mailbox.faults = Faults(mail_reply="550 5.7.1 Sender address rejected: not owned by user")
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+ refused the sender digest@example.org: 550 5\.7\.1"):
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert_nobody_lost(engine, 20)
    mailbox.faults = Faults()
    assert send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller)).sent == 20


def test_a_policy_refusal_of_one_recipient_among_accepted_ones_fails_it_without_a_bounce(engine, mailbox):
    readers = add_readers(engine, 6)
    mailbox.on_data = lambda env: "550 5.7.1 refused by policy" if readers[2].email in env.rcpt_tos else None
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1))
    assert (report.sent, report.failed, report.bounced, report.newly_bounced) == (5, 1, 0, [])
    assert len(active_subscribers(engine)) == 6


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-command-at-a-time"])
def test_refusals_mean_the_same_whether_or_not_the_server_offers_pipelining(engine, mailbox, pipelining):
    # Pipelined, MAIL, RCPT and DATA go out together and the replies are read afterwards:
    # a refused recipient must not let the message through, nor cost the next one.
    mailbox.pipelining = pipelining
    readers = add_readers(engine, 6)
    mailbox.faults = Faults(refuse_rcpt=frozenset({readers[1].email}))
    mailbox.on_data = lambda env: "554 5.7.1 refused by policy" if readers[4].email in env.rcpt_tos else None
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1))
    assert (report.sent, report.bounced, report.failed, report.newly_bounced) == (4, 1, 1, [readers[1].email])
    assert sorted(mailbox.copies()) == sorted(r.email for i, r in enumerate(readers) if i not in (1, 4))
    assert set(mailbox.copies().values()) == {1}


def test_refusals_too_few_to_judge_and_nothing_accepted_stay_retryable(engine, mailbox):
    readers = add_readers(engine, 2)
    mailbox.faults = Faults(refuse_rcpt=frozenset(r.email for r in readers))
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller))
    assert (report.sent, report.bounced, report.deferred, report.complete) == (0, 0, 2, False)
    assert_nobody_lost(engine, 2)


def test_a_server_that_never_greets_trips_the_circuit_breaker_quickly(engine):
    readers = add_readers(engine, 20)
    with silent_server() as port:
        smtp = smtp_for(type("C", (), {"port": port}), timeout=0.5, connections=2)
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="connection attempts in a row failed.*timed out"):
            send_edition(engine, EDITION, messages(readers), smtp)
        elapsed = time.monotonic() - started
    # Without the breaker: 20 messages × 10 attempts × 0.5 s each, over 2 connections.
    assert elapsed < 10
    assert_nobody_lost(engine, 20)
    assert ledger_counts(engine, EDITION) == {"pending": 20}


def test_a_server_that_refuses_connections_trips_the_circuit_breaker(engine):
    readers = add_readers(engine, 5)
    with silent_server() as port:
        pass  # closed again: nothing listens on the port now
    with pytest.raises(DeliveryError, match="connection attempts in a row failed.*ConnectionRefused"):
        send_edition(engine, EDITION, messages(readers), smtp_for(type("C", (), {"port": port})))
    assert_nobody_lost(engine, 5)


@pytest.fixture
def tls_context(tmp_path, monkeypatch):
    certfile, keyfile = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certfile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def test_implicit_tls_against_a_plain_server_stops_the_run(engine, mailbox):
    readers = add_readers(engine, 5)
    with pytest.raises(DeliveryError, match="connection attempts in a row failed.*SSL"):
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, security="tls"))
    assert_nobody_lost(engine, 5)


def test_a_plain_client_against_an_implicit_tls_server_stops_the_run(engine, tls_context):
    readers = add_readers(engine, 5)
    handler = Mailbox()
    controller = start(handler, ssl_context=tls_context)
    try:
        with pytest.raises(DeliveryError, match="connection attempts in a row failed"):
            send_edition(engine, EDITION, messages(readers), smtp_for(controller, timeout=0.5))
    finally:
        controller.stop()
    assert_nobody_lost(engine, 5)


def test_starttls_against_a_server_without_it_stops_the_run(engine, mailbox):
    readers = add_readers(engine, 5)
    with pytest.raises(DeliveryError, match="STARTTLS"):
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, security="starttls"))
    assert_nobody_lost(engine, 5)


# --- bounces: only evidence about the address, and a way back from mistakes --------------------

def test_a_bounced_subscriber_can_be_reactivated_and_then_gets_the_edition(engine, mailbox):
    readers = add_readers(engine, 3)
    mailbox.faults = Faults(refuse_rcpt=frozenset({readers[0].email}))
    smtp = smtp_for(mailbox.controller, connections=1)
    assert send_edition(engine, EDITION, messages(readers), smtp).newly_bounced == [readers[0].email]
    import_rows(engine, [(readers[0].email, None, None)])
    assert readers[0].email not in {s.email for s in active_subscribers(engine)}  # import does not
    assert reactivate(engine, readers[0].email) is True
    mailbox.faults = Faults()
    report = send_edition(engine, EDITION, messages(readers), smtp, retry_failed=True)
    assert (report.sent, report.already_done) == (1, 2)
    assert mailbox.copies()[readers[0].email] == 1
    # The old bounce no longer counts against the address: the next refusal alone decides.
    with Session(engine) as session:
        row = session.scalar(select(SubscriberRow).where(SubscriberRow.email == readers[0].email))
        assert row.status == "active" and row.bounced_at is None


def test_someone_who_unsubscribed_is_not_reactivated(engine):
    add_readers(engine, 1)
    unsubscribe(engine, "reader0@example.org")
    with pytest.raises(ValueError, match="unsubscribed"):
        reactivate(engine, "reader0@example.org")
    assert reactivate(engine, "nobody@example.org") is False


def test_an_edition_is_sent_only_when_nobody_is_left_waiting():
    from digest.store.ledger import edition_status

    assert edition_status({"sent": 18, "failed": 1, "bounced": 1}) == "sent"
    assert edition_status({"sent": 3, "deferred": 17}) == "partial"
    assert edition_status({"sent": 3, "sending": 1}) == "partial"
    assert edition_status({"pending": 15, "deferred": 5}) == "deferred"
