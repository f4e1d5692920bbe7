"""The delivery seam: what a transport is handed, and what it answers.

`digest.deliver` owns the loop (ledger claims, retries, the circuit breaker, the rate limit,
the report). A transport only moves messages over its channels and says, for each one, what
happened (a `Verdict`). The implementations are modules beside this one: `digest.smtp` and
`digest.outbox`; an HTTP email API would be a third, whose channels POST each `Envelope` and
map the API's answers to verdicts. `digest.deliver.transport_for` picks one from the config.

A message is prepared once (`prepare`): CRLF line ends, no Bcc, its envelope sender and a
Message-ID, which is the same on every run of an edition (`stable_message_id`), so that a
message sent again after a crash is recognisably the same message (RFC 1047).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from functools import lru_cache
from typing import Protocol

from digest.store.ledger import FAILED
from digest.models import Subscriber

Outgoing = EmailMessage | bytes  # a message as delivery accepts it: bytes are the fast path


class DotSafe(bytes):
    """MIME bytes (CRLF) no line of which starts with ".", as `digest.message` builds them: SMTP
    sends them without dot-stuffing, which needs a scan of the whole message (about 30 µs for
    a 35 KB edition, as much as building it)."""

TAKEN = "taken"  # the transport took the message (the server's 250, or the file is written)
RETRY = "retry"  # a temporary failure: worth another try, perhaps on a new connection
REFUSED = "refused"  # a permanent refusal of this message, provisional until judged
SERVER = "server"  # the server's problem (a refused sender): the run stops
FATAL = "fatal"  # credentials, TLS verification, an unsupported extension: the run stops

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HEADER = re.compile(rb"^(Sender|From|Message-ID):[ \t]*(.*(?:\r\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_LINE_END = re.compile(rb"\r?\n")


@dataclass(frozen=True)
class Verdict:
    """What one try of one message came to, for the message, the connection and the run."""

    kind: str  # TAKEN | RETRY | REFUSED | SERVER | FATAL
    detail: str = ""
    final: str = FAILED  # for REFUSED: the row's status once the refusal is judged the recipient's
    signature: tuple = ()  # for REFUSED: (stage, code, enhanced code), to see a refusal repeat
    reconnect: bool = False  # the channel is closed: its next message opens a new connection
    connecting: bool = False  # the failure was in reaching the server (counts for the circuit breaker)
    where: str = ""  # for TAKEN: where the message went (the address, or the file)


@dataclass
class Envelope:
    """A message ready for any transport: the wire bytes and what routing needs."""

    to: Subscriber  # the recipient (its address is RCPT TO; its id and address name an outbox file)
    edition_id: str
    sender: str  # the envelope sender (MAIL FROM)
    raw: bytes  # the whole message, CRLF line ends
    message_id: str
    options: tuple[str, ...] = ()  # MAIL FROM options: SMTPUTF8 when an address is not ASCII


@dataclass(frozen=True)
class Policy:
    """How the delivery loop treats a transport's failures (`[mail.smtp]`, or the defaults)."""

    max_attempts: int = 5  # tries of a temporary failure within one run, then `deferred`
    retry_backoff: float = 2.0  # seconds before the first retry, doubling each time
    rate_per_second: float | None = None
    refusal_streak: int = 5  # the same permanent refusal this many times in a row: the server's
    circuit_breaker: int = 3  # connection failures in a row that stop the run
    bounce_after: int = 1  # 5.1.x refusals, over editions, before an address is marked bounced
    batch: int = 16  # rows claimed, sent and recorded together on one connection
    lease_seconds: float = 360.0  # how long a claim holds before another host may take it over


class Channel(Protocol):
    """One connection's worth of a transport, used by one thread at a time."""

    def open(self) -> Verdict | None:
        """Connect if not connected; None when ready, else the failure (kind and detail)."""

    def send(self, envelope: Envelope) -> Verdict: ...

    def send_batch(self, envelopes: Sequence[Envelope], following: Envelope | None = None) -> Iterator[Verdict]:
        """The verdicts of `envelopes` in order, given lazily: closing the iterator early leaves
        the rest untried. `following` is the message the loop will probably hand over next, not
        yet claimed: a channel may prepare it (SMTP sends its commands behind the last content)
        but sends it only in a batch that starts with it. Without pipelining:
        `return (self.send(e) for e in envelopes)`."""

    def close(self) -> None: ...


class Transport(Protocol):
    name: str  # names the destination in messages: "host:port", or the folder
    connections: int  # channels delivery opens at once
    taken: str  # the ledger status of a message the transport took: SENT, or OUTBOX
    policy: Policy

    def channel(self) -> Channel: ...


def stable_message_id(edition_id: str, address: str, domain: str) -> str:
    """The Message-ID of an edition's message to `address`: the same on every run."""
    who = hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:20]
    return f"<{_ID_UNSAFE.sub('-', edition_id)}.{who}@{domain or 'digest.invalid'}>"


@lru_cache(maxsize=64)
def _address(header_value: str) -> str:
    """The address in a From or Sender header (one edition has one sender: parsed once)."""
    return getaddresses([header_value])[0][1]


def prepare(to: Subscriber, message: Outgoing, edition_id: str) -> Envelope:
    """The message as it will go out, with its envelope sender and Message-ID.

    As smtplib.send_message would send it: the envelope sender from Sender or else From, no
    Bcc headers, SMTPUTF8 when an address is not ASCII.
    """
    if isinstance(message, EmailMessage):
        if "Bcc" in message or "Resent-Bcc" in message:
            message = copy.copy(message)
            del message["Bcc"], message["Resent-Bcc"]
        sender = _address(str(message.get("Sender") or message.get("From") or ""))
        international = not (sender + to.email).isascii()
        policy = message.policy.clone(linesep="\r\n", **({"utf8": True} if international else {}))
        raw = message.as_bytes(policy=policy)
    else:
        raw = message
    first_end = raw.find(b"\n")
    if first_end > 0 and raw[first_end - 1] != ord("\r"):
        # LF line ends, e.g. from bytes(EmailMessage): SMTP needs CRLF. Judged by the first
        # line only, to keep a scan of the whole message off the per-message path.
        raw = _LINE_END.sub(b"\r\n", raw)
    end = raw.find(b"\r\n\r\n")
    head = raw[:end] if end >= 0 else raw  # not partition: that copies the body too
    found: dict[bytes, str] = {}
    for name, value in _HEADER.findall(head):
        found.setdefault(name.lower(), value.replace(b"\r\n", b"").strip().decode("utf-8", "replace"))
    sender = _address(found.get(b"sender") or found.get(b"from", ""))
    message_id = found.get(b"message-id")
    if message_id is None:
        message_id = stable_message_id(edition_id, to.email, sender.rpartition("@")[2])
        raw = f"Message-ID: {message_id}\r\n".encode("ascii") + raw
    international = not (sender + to.email).isascii()
    return Envelope(to, edition_id, sender, raw, message_id,
                    ("SMTPUTF8", "BODY=8BITMIME") if international else ())
