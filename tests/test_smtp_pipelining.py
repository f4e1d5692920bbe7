"""Pipelined SMTP (RFC 2920) over a batch: each message's MAIL, RCPT and DATA go out behind the
previous message's content, and every reply is matched to its own message.

Against aiosmtpd (tests/smtp_server.py), which offers PIPELINING here and reads pipelined
commands in order, and a bare server that shows whether the client waits for replies.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from digest.deliver import DeliveryError, ledger_counts, send_edition
from digest.smtp import SmtpChannel
from digest.store import DeliveryRow
from digest.transport import REFUSED, TAKEN, prepare
from smtp_server import Faults, free_port, message_for
from test_deliver import EDITION, add_readers, messages, smtp_for

BATCH = 16


def once(mailbox, readers, but=()) -> bool:  # noqa: ANN001
    """Whether each reader but those in `but` got exactly one copy, and nobody else any."""
    copies = mailbox.copies()
    return sorted(copies) == sorted(r.email for r in readers if r.email not in but) and set(copies.values()) <= {1}


def test_a_refused_recipient_while_the_previous_message_awaits_its_reply_costs_only_that_message(engine, mailbox):
    readers = add_readers(engine, 6)
    mailbox.faults = Faults(refuse_rcpt=frozenset({readers[3].email}))
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1, batch=BATCH))
    assert (report.sent, report.bounced, report.failed, report.newly_bounced) == (5, 1, 0, [readers[3].email])
    assert once(mailbox, readers, but={readers[3].email})
    assert ledger_counts(engine, EDITION) == {"sent": 5, "bounced": 1}


def test_a_refused_message_whose_successor_is_already_announced_costs_only_that_message(engine, mailbox):
    readers = add_readers(engine, 6)
    mailbox.on_data = lambda env: "554 5.7.1 refused by policy" if readers[2].email in env.rcpt_tos else None
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1, batch=BATCH))
    assert (report.sent, report.failed, report.bounced) == (5, 1, 0)
    assert once(mailbox, readers, but={readers[2].email})
    assert ledger_counts(engine, EDITION) == {"sent": 5, "failed": 1}


@pytest.mark.parametrize("fault", ["451 after the content", "421 at RCPT", "connection cut after the content"])
def test_a_temporary_failure_mid_batch_is_retried_and_every_message_arrives_once(engine, mailbox, fault):
    readers = add_readers(engine, 6)
    victim, struck = readers[2].email, []

    def strike_once(env) -> str | None:  # noqa: ANN001 - an aiosmtpd Envelope
        if victim in env.rcpt_tos and not struck:
            struck.append(victim)
            return "451 4.3.0 try again later"
        return None

    if fault == "451 after the content":
        mailbox.on_data = strike_once
    elif fault == "421 at RCPT":
        victim = readers[3].email  # while reader 2's content awaits its reply
        handle_rcpt = type(mailbox).handle_RCPT

        async def rcpt(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN202
            if address == victim and not struck:
                struck.append(address)
                return "421 4.3.2 too busy, closing"
            return await handle_rcpt(self, server, session, envelope, address, rcpt_options)

        mailbox.handle_RCPT = rcpt.__get__(mailbox)
    else:
        mailbox.on_data = None
        original = type(mailbox).handle_DATA

        async def data(self, server, session, envelope):  # noqa: ANN001, ANN202
            if victim in envelope.rcpt_tos and not struck:
                struck.append(victim)
                server.transport.abort()  # the next message's commands were already on their way
                return "451 dropped"
            return await original(self, server, session, envelope)

        mailbox.handle_DATA = data.__get__(mailbox)
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1, batch=BATCH))
    assert struck == [victim]
    assert report.sent == 6 and report.complete and report.attempts > 6
    assert once(mailbox, readers)
    assert ledger_counts(engine, EDITION) == {"sent": 6}


def test_the_same_refusal_for_everyone_stops_a_pipelined_batch_and_bounces_nobody(engine, mailbox):
    readers = add_readers(engine, 20)
    mailbox.faults = Faults(rcpt_reply="550 5.7.1 Relaying denied")
    with pytest.raises(DeliveryError, match="refused 5 recipients in a row the same way"):
        send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1, batch=BATCH))
    counts = ledger_counts(engine, EDITION)
    assert not counts.get("failed") and not counts.get("bounced") and not counts.get("sending")
    assert mailbox.copies() == {}


def test_a_message_announced_but_not_yet_sent_is_dropped_when_the_run_stops(engine, mailbox):
    readers = add_readers(engine, 3)
    envelopes = [prepare(r, message_for(r, EDITION), EDITION) for r in readers]
    channel = SmtpChannel(smtp_for(mailbox.controller))
    verdicts = channel.send_batch(envelopes)
    assert next(verdicts).kind == TAKEN  # the second message's commands went out with this content
    verdicts.close()  # the run stopped
    assert channel.conn is None
    channel.open()  # a new transaction on a new connection: the server has let the old one go
    assert channel.send(envelopes[2]).kind == TAKEN
    channel.close()
    assert once(mailbox, [readers[0], readers[2]])


def test_a_message_announced_behind_a_batch_is_sent_only_if_the_next_batch_starts_with_it(engine, mailbox):
    readers = add_readers(engine, 4)
    first, announced, other, last = (prepare(r, message_for(r, EDITION), EDITION) for r in readers)
    channel = SmtpChannel(smtp_for(mailbox.controller))
    assert [v.kind for v in channel.send_batch([first], following=announced)] == [TAKEN]
    assert [v.kind for v in channel.send_batch([other], following=last)] == [TAKEN]  # another run had it
    assert [v.kind for v in channel.send_batch([last])] == [TAKEN]
    channel.close()
    assert once(mailbox, [readers[0], readers[2], readers[3]])


def test_a_message_announced_and_then_claimed_by_another_run_is_left_to_it(engine, mailbox):
    readers = add_readers(engine, 4)
    taken = readers[2]

    def other_run_claims(envelope) -> None:  # noqa: ANN001 - an aiosmtpd Envelope
        if readers[1].email in envelope.rcpt_tos:  # reader 2's commands came with this content
            with engine.begin() as conn:
                conn.execute(update(DeliveryRow).where(DeliveryRow.subscriber_id == taken.id).values(
                    status="sending", owner="elsewhere:1:other", lease_until=datetime.now(UTC) + timedelta(hours=1)))

    mailbox.on_data = other_run_claims
    report = send_edition(engine, EDITION, messages(readers), smtp_for(mailbox.controller, connections=1, batch=1))
    assert (report.sent, report.busy) == (3, 1)
    assert once(mailbox, readers, but={taken.email})
    assert ledger_counts(engine, EDITION) == {"sent": 3, "sending": 1}


def test_refusals_keep_their_meaning_on_a_channel_batch(engine, mailbox):
    readers = add_readers(engine, 3)
    mailbox.faults = Faults(refuse_rcpt=frozenset({readers[1].email}))
    channel = SmtpChannel(smtp_for(mailbox.controller))
    verdicts = list(channel.send_batch([prepare(r, message_for(r, EDITION), EDITION) for r in readers]))
    channel.close()
    assert [v.kind for v in verdicts] == [TAKEN, REFUSED, TAKEN]
    assert verdicts[1].final == "bounced" and "5.1.1" in verdicts[1].detail


HOLD = 0.5  # seconds the withholding server keeps a reply to a message's content


@contextmanager
def withholding_server() -> Iterator[dict]:
    """A pipelining SMTP server that answers a message's content only once the client's next
    command has arrived, or after HOLD seconds: `waits` counts the times it had to wait, that is
    the times the client waited for a reply before saying anything more."""
    seen = {"waits": 0, "messages": 0, "port": free_port()}
    loop = asyncio.new_event_loop()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 withholding ESMTP\r\n")
        held = b""
        while True:
            try:
                line = await (asyncio.wait_for(reader.readline(), HOLD) if held else reader.readline())
            except TimeoutError:
                seen["waits"] += 1
                writer.write(held)
                held = b""
                continue
            writer.write(held)
            held = b""
            verb = line[:4].upper()
            if not line or verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                writer.close()
                return
            if verb == b"EHLO":
                writer.write(b"250-withholding\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                while await reader.readline() not in (b".\r\n", b""):
                    pass
                seen["messages"] += 1
                held = b"250 OK queued\r\n"
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()

    server = loop.run_until_complete(asyncio.start_server(session, "127.0.0.1", seen["port"]))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def test_within_a_batch_the_client_sends_the_next_message_without_waiting_for_the_last_reply(engine):
    readers = add_readers(engine, 5)
    with withholding_server() as seen:
        smtp = smtp_for(SimpleNamespace(port=seen["port"]), connections=1, batch=BATCH)
        report = send_edition(engine, EDITION, messages(readers), smtp)
    assert report.sent == 5 and seen["messages"] == 5
    assert seen["waits"] == 1  # only for the batch's last message, whose reply the ledger needs


def test_with_batches_of_one_the_next_message_is_announced_while_the_last_reply_is_awaited(engine):
    readers = add_readers(engine, 5)
    with withholding_server() as seen:
        smtp = smtp_for(SimpleNamespace(port=seen["port"]), connections=1, batch=1)
        report = send_edition(engine, EDITION, messages(readers), smtp)
    assert report.sent == 5 and seen["messages"] == 5
    assert seen["waits"] == 1  # the run's last message: nothing comes after it
    assert ledger_counts(engine, EDITION) == {"sent": 5}
