"""Build each subscriber's email: one render per segment, then per-subscriber bytes.

A segment (a distinct region set) is rendered and inlined once (`render.render_segment`)
and its HTML and text are quoted-printable encoded once, cut at the placeholder tokens.
A subscriber's message is then those encoded pieces joined with the subscriber's own
values (escaped for HTML or text, then encoded on their own lines behind soft line
breaks), under headers formatted here. No per-subscriber template rendering, inlining or
re-encoding of the body, which is what makes 100,000 messages a matter of seconds.

A subscriber none of whose regions has a story in the edition gets a short "quiet day"
note pointing to the day's top stories elsewhere, or nothing when
`mail.quiet_day = "skip"`.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.quoprimime import body_encode
from email.utils import format_datetime, formataddr, parseaddr
from secrets import token_hex

import dkim

from digest import render
from digest.config import Config, MailConfig
from digest.credentials import Secrets
from digest.errors import DigestError
from digest.links import links_for, secret_key
from digest.models import Edition, Subscriber
from digest.render_views import clean_line
from digest.transport import DotSafe, stable_message_id

log = logging.getLogger(__name__)

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
QP_LINE = 76
# body_encode's width: room on each line for a leading dot's "=2E" and a closing soft break.
_QP_WRAP = QP_LINE - 3
MAX_NAME = 64  # a display name longer than this is cut: it only decorates the To header
SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
                  b"list-unsubscribe-post", b"mime-version", b"content-type")
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[A-Za-z0-9.-]+")
# Serialise parsed messages exactly as built: the default policy would refold long headers
# (List-Unsubscribe URLs) into RFC 2047 encoded words, which breaks them and the DKIM signature.
AS_BUILT = email.policy.default.clone(refold_source="none")


class MessageError(DigestError, ValueError):
    """A subscriber whose message cannot be built (the message names the address)."""


OnError = Callable[[Subscriber, Exception], None]


def _log_error(subscriber: Subscriber, exc: Exception) -> None:
    log.warning("no message for subscriber %s: %s", subscriber.email, exc)


# --- the encoded segment ----------------------------------------------------------------


def _qp(value: str) -> bytes:
    """Quoted-printable UTF-8, CRLF line ends, lines of at most 76 characters with a soft
    break after the last, and no line starting with "." (written "=2E"): SMTP then has
    nothing to dot-stuff, and the message goes out without a scan for such lines (`DotSafe`)."""
    encoded = body_encode(value.encode("utf-8").decode("latin-1"), maxlinelen=_QP_WRAP, eol="\r\n")
    return _no_leading_dots(encoded.encode("ascii"))


def _no_leading_dots(encoded: bytes) -> bytes:
    encoded = encoded.replace(b"\r\n.", b"\r\n=2E")
    return b"=2E" + encoded[1:] if encoded.startswith(b".") else encoded


def _qp_value(value: str) -> bytes:
    """One inserted value, on its own line(s) and closed by a soft line break."""
    if not (value.isascii() and value.isprintable() and "=" not in value):
        return _qp(value) + SOFT_BREAK
    # The common case (names, addresses, links), without the encoder: the value cut into
    # soft-broken lines as it is, a line's leading dot written "=2E".
    lines, start = [], 0
    while start < len(value):
        if value[start] == ".":
            lines.append("=2E" + value[start + 1:start + QP_LINE - 3])
            start += QP_LINE - 3
        else:
            lines.append(value[start:start + QP_LINE - 1])
            start += QP_LINE - 1
    return "=\r\n".join(lines).encode("ascii") + SOFT_BREAK


@dataclass(frozen=True)
class _EncodedPart:
    """A quoted-printable body cut at the placeholders: pieces[0] field[0] pieces[1] …"""

    pieces: tuple[bytes, ...]
    fields: tuple[str, ...]

    @classmethod
    def of(cls, document: str, placeholders: dict[str, str]) -> _EncodedPart:
        by_token = {token: name for name, token in placeholders.items()}
        cut = re.split("(" + "|".join(map(re.escape, by_token)) + ")", document) if by_token else [document]
        pieces = tuple(_qp(piece) + (b"" if piece.endswith("\n") else SOFT_BREAK) for piece in cut[0::2])
        return cls(pieces, tuple(by_token[token] for token in cut[1::2]))

    def fill(self, encoded_values: dict[str, bytes]) -> list[bytes]:
        out = [self.pieces[0]]
        for name, piece in zip(self.fields, self.pieces[1:], strict=True):
            out.append(encoded_values[name])
            out.append(piece)
        return out


@dataclass(frozen=True)
class Segment:
    """One region set's email, encoded once, ready to be filled for each subscriber."""

    rendered: render.Rendered
    subject_header: bytes
    boundary: bytes
    html: _EncodedPart
    text: _EncodedPart

    @classmethod
    def of(cls, rendered: render.Rendered) -> Segment:
        # "=_" never occurs in quoted-printable text ("=" is always "=3D" there), so this
        # boundary cannot collide with the content.
        boundary = f"=_digest_{token_hex(12)}".encode("ascii")
        subject = _fold("Subject", rendered.subject)
        return cls(rendered, subject, boundary,
                   _EncodedPart.of(rendered.html, dict(rendered.placeholders)),
                   _EncodedPart.of(rendered.text, dict(rendered.placeholders)))


# --- headers ---------------------------------------------------------------------------


def _address(raw: str) -> str:
    """An ASCII addr-spec, or MessageError. International domains become punycode."""
    address = raw.strip()
    local, _, domain = address.rpartition("@")
    if not local or not domain or not local.isascii():
        raise MessageError(f"{raw!r} is not an address this sender can use")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MessageError(f"{raw!r} has an invalid domain: {exc}") from exc
    address = f"{local}@{domain}"
    if not _ADDRESS.fullmatch(address):
        raise MessageError(f"{raw!r} is not a valid email address")
    return address


def _to_header(subscriber: Subscriber) -> bytes:
    name = clean_line(subscriber.name or "")[:MAX_NAME]
    # formataddr quotes specials and RFC 2047-encodes non-ASCII names; clean_line removed
    # CR/LF, so nothing in a name can start a new header.
    return b"To: " + formataddr((name, _address(subscriber.email)), charset="utf-8").encode("ascii") + CRLF


def _fold(name: str, value: str) -> bytes:
    """A header folded to 78 columns, RFC 2047-encoded where it is not ASCII."""
    policy = email.policy.SMTP
    return policy.header_factory(name, clean_line(value)).fold(policy=policy).encode("ascii")


def _header(name: str, value: str) -> bytes:
    return f"{name}: {clean_line(value)}".encode("ascii") + CRLF


@dataclass(frozen=True)
class _Common:
    """Everything the same for every message of one build."""

    head: bytes  # From, Date, List-Id, Reply-To
    domain: str
    edition_id: str
    web_url: str
    signer: Callable[[bytes], bytes] | None
    link_key: str  # signs the subscriber's links


def _sender_header(config: Config) -> bytes:
    name, address = parseaddr(config.mail.sender)
    if not address or "@" not in address:
        raise MessageError(f"mail.sender {config.mail.sender!r} has no usable address")
    return b"From: " + formataddr((clean_line(name), _address(address)), charset="utf-8").encode("ascii") + CRLF


def _common(edition_id: str, config: Config, secrets: Secrets, now: datetime) -> _Common:
    sender = _sender_header(config)
    domain = parseaddr(config.mail.sender)[1].rpartition("@")[2]
    head = sender + _header("Date", format_datetime(now))
    list_id = clean_line(config.mail.list_id)
    head += _fold("List-Id", list_id)
    if config.mail.reply_to:
        head += _header("Reply-To", _address(parseaddr(config.mail.reply_to)[1]))
    return _Common(head, domain, edition_id,
                   render.edition_url(config, edition_id), dkim_signer(config.mail, secrets),
                   secret_key(config, secrets))


def dkim_signer(mail: MailConfig, secrets: Secrets) -> Callable[[bytes], bytes] | None:
    """A function that prepends a DKIM-Signature, or None when DKIM is not configured.

    The key is the resolved one (`secrets.dkim_key`, from mail.dkim_key_env), else the file
    mail.dkim_key_path names."""
    if not (mail.dkim_selector and mail.dkim_domain):
        return None
    key: bytes | None = None
    if secrets.dkim_key is not None:
        key = secrets.dkim_key.get_secret_value().encode("ascii")
    elif mail.dkim_key_path:
        try:
            key = mail.dkim_key_path.read_bytes()
        except OSError as exc:
            raise MessageError(f"mail.dkim_key_path {mail.dkim_key_path}: {exc.strerror}") from exc
    if not key:
        raise MessageError(f"DKIM is configured (selector {mail.dkim_selector!r}) but no key was found: "
                           f"set ${mail.dkim_key_env} or mail.dkim_key_path")
    selector, domain = mail.dkim_selector.encode("ascii"), mail.dkim_domain.encode("ascii")

    def sign(message: bytes) -> bytes:
        signature = dkim.sign(message, selector, domain, key, include_headers=list(SIGNED_HEADERS),
                              canonicalize=(b"relaxed", b"relaxed"))
        return signature + message

    return sign


# --- messages --------------------------------------------------------------------------


def _message_id(common: _Common, subscriber: Subscriber) -> bytes:
    # The same for a rerun of the same edition, so a resend is recognisable as one message.
    return f"Message-ID: {stable_message_id(common.edition_id, subscriber.email, common.domain)}".encode(
        "ascii") + CRLF


def _greeting(subscriber: Subscriber) -> str:
    name = clean_line(subscriber.name or "")
    return f"Hello {name}" if name else "Hello"


def _message(segment: Segment, common: _Common, subscriber: Subscriber, config: Config) -> bytes:
    links = links_for(config, subscriber, common.link_key)
    values = {"greeting": _greeting(subscriber), "email": subscriber.email,
              "unsubscribe": links.unsubscribe, "preferences": links.preferences,
              "web_url": common.web_url}
    html_values, text_values = render.field_values(values)
    text_encoded = {k: _qp_value(v) for k, v in text_values.items()}
    # Links and plain addresses read the same in both parts: encoded once.
    html_encoded = {k: text_encoded[k] if v == text_values[k] else _qp_value(v) for k, v in html_values.items()}
    unsubscribe = clean_line(links.unsubscribe)
    mailto = clean_line(links.unsubscribe_mailto)
    boundary = segment.boundary
    parts = [
        common.head,
        _to_header(subscriber),
        segment.subject_header,
        _message_id(common, subscriber),
        f"List-Unsubscribe: <{unsubscribe}>,\r\n <{mailto}>\r\n".encode("ascii"),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n',
        CRLF,
        b"--" + boundary + CRLF,
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
        *segment.text.fill(text_encoded),
        CRLF + b"--" + boundary + CRLF,
        b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
        *segment.html.fill(html_encoded),
        CRLF + b"--" + boundary + b"--" + CRLF,
    ]
    raw = b"".join(parts)
    # Every line starts with a header name, a folding space, "--" or quoted-printable (no dots).
    return DotSafe(common.signer(raw) if common.signer else raw)


def build_mime(edition: Edition, edition_id: str, subscribers: Iterable[Subscriber], config: Config,
               secrets: Secrets, *, now: datetime | None = None,
               on_error: OnError = _log_error) -> Iterator[tuple[Subscriber, bytes]]:
    """Each subscriber's message as MIME bytes (CRLF), rendering each segment once; links are
    signed and DKIM applied with `secrets` (resolved at the edge: `digest.credentials`).

    A subscriber whose message cannot be built (an unusable address, say) is passed to
    `on_error` and skipped; the others go on.
    """
    common = _common(edition_id, config, secrets, now or datetime.now(UTC))
    segments: dict[frozenset[str] | None, Segment | None] = {}
    for subscriber in subscribers:
        key = subscriber.segment
        if key not in segments:
            rendered = render.render_segment(edition, config, key)
            skip = rendered.quiet and config.mail.quiet_day == "skip"
            segments[key] = None if skip else Segment.of(rendered)
        segment = segments[key]
        if segment is None:
            log.info("no stories for %s's regions today; skipped (mail.quiet_day = skip)", subscriber.email)
            continue
        try:
            raw = _message(segment, common, subscriber, config)
        except (MessageError, ValueError, UnicodeError) as exc:
            on_error(subscriber, exc)
            continue
        yield subscriber, raw


def build_messages(edition: Edition, edition_id: str, subscribers: Iterable[Subscriber], config: Config,
                   secrets: Secrets, *, now: datetime | None = None, on_error: OnError = _log_error
                   ) -> Iterator[tuple[Subscriber, EmailMessage]]:
    """The same messages as `build_mime`, parsed into EmailMessage objects.

    Serialising one back (`bytes(message)`) gives the same headers and body, so a DKIM
    signature stays valid; for large lists prefer `build_mime`, which skips the parse.
    """
    for subscriber, raw in build_mime(edition, edition_id, subscribers, config, secrets, now=now, on_error=on_error):
        yield subscriber, email.message_from_bytes(raw, policy=AS_BUILT)  # type: ignore[misc]
