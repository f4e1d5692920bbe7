"""SMTP as a delivery transport: connections to the configured server, pipelining, and what
each reply means (`classify`).

Each channel is one connection, opened on first use and reused for many messages. When the
server offers PIPELINING (RFC 2920), a message's MAIL, RCPT and DATA go out in one write and
their replies are read together: two round trips per message instead of four; and within a
batch (`SmtpChannel.send_batch`) they go out in the same write as the previous message's
content: one round trip per message. So do the commands of the next batch's first message
(announced, not yet claimed), whose content waits for that batch; a connection whose next
batch starts elsewhere is dropped, which discards the announced transaction. Replies are
matched to their messages in order and judged as smtplib judges them, so a refusal means the
same thing on every path. What the loop does with a verdict (retry, defer, judge a refusal,
stop the run) is `digest.deliver`'s and `digest.judgement`'s.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from digest.config import SmtpConfig
from digest.store.ledger import BOUNCED, FAILED, SENT
from digest.transport import FATAL, REFUSED, RETRY, SERVER, TAKEN, DotSafe, Envelope, Policy, Verdict


class _Stuffed(bytes):
    """DATA ready for the wire: CRLF lines, dot-stuffed, ending with the "." line.

    Made by `_stuff` with `bytes.replace`: smtplib's own data() dot-stuffs with a multiline
    regex that takes about 120 µs for a 34 KB edition, about as long as the rest of the
    client's work per message.
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
        self.send(self.commands(from_addr, to_addrs, len(msg), mail_options, rcpt_options))  # type: ignore[attr-defined]
        refused = self.command_replies(from_addr, to_addrs)
        self.send(msg)  # type: ignore[attr-defined]
        self.data_reply()
        return refused

    def commands(self, from_addr: str, to_addrs: list[str], size: int, mail_options=(),  # noqa: ANN001
                 rcpt_options=()) -> bytes:  # noqa: ANN001
        """MAIL, RCPT and DATA of one message, to be written at once (the server pipelines)."""
        options = [f"size={size}"] if self.has_extn("size") else []  # type: ignore[attr-defined]
        options += mail_options
        if any(option.lower() == "smtputf8" for option in options):
            if not self.has_extn("smtputf8"):  # type: ignore[attr-defined]
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        mail = " ".join([f"MAIL FROM:{_quote(from_addr)}", *options])
        rcpt = "".join(" " + option for option in rcpt_options)
        commands = [mail, *(f"RCPT TO:{_quote(a)}{rcpt}" for a in to_addrs), "DATA"]
        return "".join(command + "\r\n" for command in commands).encode(self.command_encoding)  # type: ignore[attr-defined]

    def command_replies(self, from_addr: str, to_addrs: list[str]) -> dict:
        """Read the replies to `commands`, judged as smtplib judges them (and raising the same
        exceptions); returns the refused recipients when the server is ready for the content."""
        code, reply = self._pipelined_reply()
        if code != 250:
            self._end_group(len(to_addrs) + 1, code)
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
        return refused

    def data_reply(self, reset: bool = True) -> None:
        """Read the reply to the end of a message's content; SMTPDataError unless it is 250.
        `reset` false: the next message's commands are already on their way (the failed
        transaction is over all the same, RFC 5321 4.1.1.4), so no RSET; a 421 still closes."""
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 250:
            if reset or code == 421:
                self._end_group(0, code)
            raise smtplib.SMTPDataError(code, reply)

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


_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+")


def _quote(address: str) -> str:
    """smtplib.quoteaddr, without its full address parse (about 35 µs) for a plain address,
    which is what `digest.addresses` lets through."""
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


class _SMTP(_SendsStuffed, smtplib.SMTP):
    pass


class _SMTP_SSL(_SendsStuffed, smtplib.SMTP_SSL):  # noqa: N801 - named after smtplib.SMTP_SSL
    pass


def connect(smtp: SmtpConfig) -> smtplib.SMTP:
    """An open, greeted, secured and authenticated connection to the configured server."""
    # Only for TLS: loading the system's certificates costs 30-350 ms of CPU per connection.
    context = ssl.create_default_context() if smtp.security != "none" else None
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




def _dot_stuffed(raw: bytes) -> bytes:
    """The content as DATA carries it, but for the final "." line (a copy only if need be)."""
    if isinstance(raw, DotSafe):
        body = raw
    else:  # looking first spares a copy of the message when no line starts with a dot
        body = raw.replace(b"\r\n.", b"\r\n..") if b"\r\n." in raw else raw
        if body.startswith(b"."):
            body = b"." + body
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def _stuff(raw: bytes) -> _Stuffed:
    return _Stuffed(_dot_stuffed(raw) + b".\r\n")


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
            self.conn.sendmail(envelope.sender, [envelope.to.email], _stuff(envelope.raw), envelope.options)
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
            self.conn.send(b"".join((_dot_stuffed(ready.raw), b".\r\n", commands)))  # one copy, one write
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
        _close(self.conn)
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
