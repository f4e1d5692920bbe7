"""SMTP as a delivery transport: channels to the configured server, what each sends when
(pipelining across a batch), and what each reply means (`classify`).

Each channel is one connection, opened on first use and reused for many messages. When the
server offers PIPELINING (RFC 2920), a message's MAIL, RCPT and DATA go out in one write and
their replies are read together: two round trips per message instead of four; and within a
batch (`SmtpChannel.send_batch`) they go out in the same write as the previous message's
content: one round trip per message. So do the commands of the next batch's first message
(announced, not yet claimed), whose content waits for that batch; a connection whose next
batch starts elsewhere is dropped, which discards the announced transaction. Replies are
matched to their messages in order and judged as smtplib judges them, so a refusal means the
same thing on every path. The commands and replies on the wire are `digest.smtp_client`'s;
what the loop does with a verdict (retry, defer, judge a refusal, stop the run) is
`digest.deliver`'s and `digest.judgement`'s.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from digest.config import SmtpConfig
from digest.smtp_client import connect, dot_stuffed, hang_up, stuff
from digest.store.ledger import BOUNCED, FAILED, SENT
from digest.transport import FATAL, REFUSED, RETRY, SERVER, TAKEN, Envelope, Policy, Verdict

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")


def _reply(code: int, text: bytes | str) -> tuple[str, str]:
    """The reply as one line, and its enhanced status code (RFC 3463) or ''."""
    line = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    found = _ENHANCED.match(line)
    return f"{code} {line}", found.group(1) if found else ""


def classify(exc: smtplib.SMTPException | OSError) -> Verdict:
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError,
                        ssl.SSLCertVerificationError)):
        return Verdict(FATAL, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        detail, enhanced = _reply(code, text)
        if code >= 500:
            # Only "no such address" (5.1.x) is evidence about the address itself.
            final = BOUNCED if enhanced.startswith("5.1.") else FAILED
            return Verdict(REFUSED, detail, final, ("RCPT", code, enhanced))
        return Verdict(RETRY, detail, reconnect=code == 421)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        detail, _ = _reply(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return Verdict(SERVER, f"refused the sender {exc.sender}: {detail}")
        return Verdict(RETRY, detail, reconnect=exc.smtp_code == 421)
    if isinstance(exc, smtplib.SMTPResponseException):  # DATA refused, or 421
        detail, enhanced = _reply(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return Verdict(REFUSED, detail, FAILED, ("DATA", exc.smtp_code, enhanced))
        return Verdict(RETRY, detail, reconnect=exc.smtp_code == 421)
    # Disconnects, resets, refused connections, timeouts: worth another try on a new connection.
    return Verdict(RETRY, f"{type(exc).__name__}: {exc}".rstrip(": "), reconnect=True)


@dataclass
class SmtpChannel:
    """One connection to the server, opened when first needed and again after it dropped."""

    smtp: SmtpConfig
    conn: smtplib.SMTP | None = field(default=None, init=False)
    # Its commands went out behind the last content (`send_batch`'s `following`), their replies
    # unread; it is not claimed yet, so its content waits for the next batch.
    announced: Envelope | None = field(default=None, init=False)

    def open(self) -> Verdict | None:
        if self.conn is not None:
            return None
        try:
            self.conn = connect(self.smtp)
        except (smtplib.SMTPException, OSError) as exc:
            found = classify(exc)  # any refusal of the connection itself is worth another try
            return Verdict(FATAL if found.kind == FATAL else RETRY, found.detail, connecting=True)
        return None

    def send(self, envelope: Envelope) -> Verdict:
        self._withdraw()
        failed = self.open()
        if failed is not None:
            return failed
        try:
            self.conn.sendmail(envelope.sender, [envelope.to.email], stuff(envelope.raw), envelope.options)
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(exc)
        return Verdict(TAKEN, where=envelope.to.email)

    def send_batch(self, envelopes: Sequence[Envelope], following: Envelope | None = None) -> Iterator[Verdict]:
        """The verdict of each of `envelopes`, in order, as `send` would give it.

        When the server offers PIPELINING, a message's MAIL, RCPT and DATA go out in the same
        write as the previous message's content: one round trip per message instead of two;
        the last message's content takes the commands of `following` (the next message the
        loop has, not claimed yet), whose content waits for the batch that starts with it.
        The previous message's reply comes first on the wire, so its verdict is given before
        the next message's commands are judged, and a message's content is sent only after
        the verdict of the one before it was taken. Closing the iterator early (the run
        stopped), or a next batch that does not start with `following` (another run claimed
        it), drops the connection before the content of a message whose commands went out,
        so the server discards it.
        """
        announced = self._withdraw(keep=envelopes[0] if envelopes else None)
        ready: Envelope | None = None  # its commands were answered 354; its content not yet sent
        asked: Envelope | None = None  # its commands went out; their replies not yet read
        try:
            for envelope in envelopes:
                if envelope is announced:
                    asked = envelope
                elif ready is not None:
                    verdict, sent = self._content(ready, envelope)
                    ready, asked = None, envelope if sent and self.conn is not None else None
                    yield verdict
                if asked is not None:
                    asked, verdict = None, self._replies(envelope)
                    if verdict is None:
                        ready = envelope
                    else:
                        yield verdict
                    continue
                verdict = self._begin(envelope)
                if verdict is None:
                    ready = envelope
                else:
                    yield verdict
            if ready is not None:
                verdict, sent = self._content(ready, following)
                ready = None
                if sent and self.conn is not None:
                    self.announced = following
                yield verdict
        finally:
            if (ready is not None or asked is not None) and self.conn is not None:
                self._drop()

    def _withdraw(self, keep: Envelope | None = None) -> Envelope | None:
        """The announced message if it is `keep` (its replies are still to be read); any other
        is withdrawn with the connection: after its DATA, only a dropped connection ends it unsent."""
        announced, self.announced = self.announced, None
        if announced is None or self.conn is None:
            return None
        if announced is keep:
            return announced
        self._drop()
        return None

    def _drop(self) -> None:
        self.conn.close()  # not quit(): after a 354, QUIT would be read as content
        self.conn = None

    def _begin(self, envelope: Envelope) -> Verdict | None:
        """Open a transaction for `envelope` on its own round trip: None once the server is ready
        for its content, else its verdict. One-command-at-a-time servers get all of `send`."""
        failed = self.open()
        if failed is not None:
            return failed
        if not self.conn.has_extn("pipelining"):
            return self.send(envelope)
        try:
            self.conn.send(self._commands(envelope))
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(exc)
        return self._replies(envelope)

    def _commands(self, envelope: Envelope) -> bytes:
        return self.conn.commands(envelope.sender, [envelope.to.email], len(envelope.raw), envelope.options)

    def _replies(self, envelope: Envelope) -> Verdict | None:
        try:
            self.conn.command_replies(envelope.sender, [envelope.to.email])
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(exc)
        return None

    def _content(self, ready: Envelope, following: Envelope | None) -> tuple[Verdict, bool]:
        """Send the content of `ready`, with the commands of `following` if there is one, and
        read its verdict; also whether `following`'s commands went out."""
        try:
            commands = self._commands(following) if following is not None else b""
        except smtplib.SMTPNotSupportedError:
            commands = b""  # `following`'s own try (`_begin`) meets this again, as its verdict
        try:
            self.conn.send(b"".join((dot_stuffed(ready.raw), b".\r\n", commands)))  # one copy, one write
            self.conn.data_reply(reset=not commands)
        except (smtplib.SMTPException, OSError) as exc:
            return self._failed(exc), bool(commands)
        return Verdict(TAKEN, where=ready.to.email), bool(commands)

    def _failed(self, exc: smtplib.SMTPException | OSError) -> Verdict:
        verdict = classify(exc)
        if verdict.reconnect or verdict.kind in (FATAL, SERVER):
            self.close()
        return verdict

    def close(self) -> None:
        self._withdraw()
        hang_up(self.conn)
        self.conn = None


class SmtpTransport:
    """The configured SMTP server, `smtp.connections` connections at once."""

    taken = SENT

    def __init__(self, smtp: SmtpConfig) -> None:
        self.smtp = smtp
        self.name = f"{smtp.host}:{smtp.port}"
        self.connections = smtp.connections
        self.policy = Policy(max_attempts=smtp.max_attempts, retry_backoff=smtp.retry_backoff,
                             rate_per_second=smtp.rate_per_second, refusal_streak=smtp.refusal_streak,
                             circuit_breaker=smtp.circuit_breaker, bounce_after=smtp.bounce_after,
                             batch=smtp.batch,
                             # A claim outlives any one batch: connecting plus five replies per message.
                             lease_seconds=smtp.timeout * (5 + 5 * smtp.batch) + 60)

    def channel(self) -> SmtpChannel:
        return SmtpChannel(self.smtp)
