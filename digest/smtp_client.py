"""The SMTP client on the wire: smtplib, with DATA stuffed once and RFC 2920 pipelining.

`connect` opens a greeted, secured and authenticated connection. On it, `commands` builds a
message's MAIL, RCPT and DATA as one write, `command_replies` reads their replies and
`data_reply` the reply to its content, each judged as smtplib judges them (the same
exceptions), and after a refusal the rest of the group is read and the transaction reset.
What is sent when, and what a reply means for the message, is `digest.smtp`'s.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl

from digest.config import SmtpConfig
from digest.transport import DotSafe


class _Stuffed(bytes):
    """DATA ready for the wire: CRLF lines, dot-stuffed, ending with the "." line.

    Made by `stuff` with `bytes.replace`: smtplib's own data() dot-stuffs with a multiline
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
        hang_up(conn)
        raise
    return conn


def hang_up(conn: smtplib.SMTP | None) -> None:
    """QUIT, or just close if the server or the connection is past answering."""
    if conn is None:
        return
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def dot_stuffed(raw: bytes) -> bytes:
    """The content as DATA carries it, but for the final "." line (a copy only if need be)."""
    if isinstance(raw, DotSafe):
        body = raw
    else:  # looking first spares a copy of the message when no line starts with a dot
        body = raw.replace(b"\r\n.", b"\r\n..") if b"\r\n." in raw else raw
        if body.startswith(b"."):
            body = b"." + body
    return body if body.endswith(b"\r\n") else body + b"\r\n"


def stuff(raw: bytes) -> _Stuffed:
    return _Stuffed(dot_stuffed(raw) + b".\r\n")
