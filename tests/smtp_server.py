"""A real SMTP server for tests (aiosmtpd) that records what it accepted and can misbehave."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Faults:
    """Probabilities of each misbehaviour, per command."""

    rcpt_421: float = 0.0  # "service not available, closing channel" at RCPT
    data_451: float = 0.0  # "local error" after the message was sent: not accepted
    drop: float = 0.0  # the connection is cut after DATA, before any reply: not accepted
    stall: float = 0.0  # no reply for `stall_seconds` (the client times out): not accepted
    stall_seconds: float = 1.0
    refuse_rcpt: frozenset[str] = frozenset()  # addresses answered 550 (no such user)
    refuse_data: frozenset[str] = frozenset()  # addresses whose message is answered 554
    rcpt_reply: str | None = None  # every RCPT answered this (a misconfigured relay)
    mail_reply: str | None = None  # every MAIL FROM answered this (a refused sender)
    data_delay: float = 0.0  # seconds before each message is accepted (a relay across a network)


@dataclass
class Mailbox:
    """The SMTP handler: accepted messages in arrival order, with the connection they came on."""

    faults: Faults = field(default_factory=Faults)
    seed: int = 1
    messages: list[tuple[str, EmailMessage, tuple]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_data: object = None  # optional callable(envelope) -> str | None, a reply to give instead
    # Offer RFC 2920 pipelining, as Postfix and Exim do (aiosmtpd reads pipelined commands in
    # order but does not say so itself); False for a server that does not offer it.
    pipelining: bool = True

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001
        if self.faults.mail_reply:
            return self.faults.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if self.faults.rcpt_reply:
            return self.faults.rcpt_reply
        if address in self.faults.refuse_rcpt:
            return "550 5.1.1 no such user"
        if self.rng.random() < self.faults.rcpt_421:
            return "421 4.3.2 too busy, closing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if self.on_data is not None and (reply := self.on_data(envelope)):
            return reply
        if self.faults.data_delay:
            await asyncio.sleep(self.faults.data_delay)
        roll = self.rng.random()
        faults = self.faults
        if roll < faults.drop:
            server.transport.abort()
            return "451 dropped"  # never reaches the client
        roll -= faults.drop
        if roll < faults.stall:
            await asyncio.sleep(faults.stall_seconds)
            server.transport.abort()
            return "451 stalled"
        roll -= faults.stall
        if roll < faults.data_451:
            return "451 4.3.0 try again later"
        if set(envelope.rcpt_tos) & faults.refuse_data:
            return "554 5.7.1 message refused"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, parsed, session.peer))
        return "250 OK queued"

    def copies(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for rcpt, _, _ in self.messages)

    def peers(self) -> set[tuple]:
        with self.lock:
            return {peer for _, _, peer in self.messages}


def start(handler: Mailbox, **kwargs) -> Controller:  # noqa: ANN003
    """Start a server on a free loopback port; `controller.port` says which."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on loopback that accepts connections and never says a word (no greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, for TLS servers in tests."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return certfile, keyfile


def message_for(subscriber, edition_id: str) -> EmailMessage:  # noqa: ANN001 - digest.models.Subscriber
    """A small stand-in for one subscriber's edition message."""
    message = EmailMessage()
    message["From"] = "World Digest <digest@example.org>"
    message["To"] = subscriber.email
    message["Subject"] = f"World Digest {edition_id}"
    message.set_content(f"Hello {subscriber.email}, here is the {edition_id} edition.")
    return message
