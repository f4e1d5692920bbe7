"""Reading a returned mail: what a delivery report, a bounce, an auto-reply or a mailed
unsubscribe says, as `Notice`s. Pure: it reads bytes and touches no store or server.

- A report is read with the stdlib email package when it is a DSN (per-recipient Action and
  Status), else with flufl.bounce's detectors (Mailman's), which know the older formats.
- Hard is 5.1.x (no such address); any other failure is soft.
- Delay warnings and auto-replies (RFC 3834) are recognised, so they can be left alone.
"""

from __future__ import annotations

import email
import email.errors
import re
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

HARD, SOFT, DELAY, UNSUBSCRIBE, AUTO_REPLY = "hard", "soft", "delay", "unsubscribe", "auto-reply"
ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
MESSAGE_ID = re.compile(r"<[^<>\s@]{1,250}@[^<>\s@]{1,250}>")
UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe(?:\s+(\S+))?\s*$", re.IGNORECASE)
DETAIL_MAX = 300  # characters of a diagnostic kept in the ledger and the report


@dataclass(frozen=True)
class Notice:
    """One thing a mail says: a recipient's failure, an unsubscribe request, or nothing to do."""

    kind: str  # HARD, SOFT, DELAY, UNSUBSCRIBE or AUTO_REPLY
    address: str | None = None  # the recipient the report names (or who asks to unsubscribe)
    status: str | None = None  # the enhanced status code (RFC 3463), when the report gives one
    detail: str = ""
    message_ids: frozenset[str] = frozenset()  # Message-IDs the mail quotes
    token: str | None = None  # the unsubscribe link token from the subject


def header_text(value: object) -> str:
    """A header as text: RFC 2047 words decoded, whitespace folded to one line."""
    if value is None:
        return ""
    try:
        decoded = str(make_header(decode_header(str(value))))
    except (email.errors.HeaderParseError, LookupError, UnicodeError):
        decoded = str(value)
    return " ".join(decoded.split())


def _address(field_value: str) -> str | None:
    """The address of a DSN recipient field ("rfc822; user@example.org")."""
    kind, _, value = header_text(field_value).partition(";")
    address = (value if value else kind).strip().strip("<>").strip()
    return address.lower() or None


def _message_ids(raw: bytes) -> frozenset[str]:
    return frozenset(MESSAGE_ID.findall(raw.decode("ascii", "replace")))


def _bodyheader_text(msg: Message) -> str:
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() == "text" and part.get_content_type() != "text/rfc822-headers":
            payload = part.get_payload(decode=True) or b""
            try:
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
            except LookupError:  # a charset Python does not know: the codes and addresses are ASCII
                parts.append(payload.decode("ascii", "replace"))
    return "\n".join(parts)


def _kind(action: str, status: str | None) -> str | None:
    if action == "delayed":
        return DELAY
    if action != "failed":
        return None  # delivered, relayed, expanded: no failure
    return HARD if status and status.startswith("5.1.") else SOFT


def _dsn_notices(msg: Message, ids: frozenset[str]) -> list[Notice]:
    """The per-recipient failures of an RFC 3464 report ([] when it is not one)."""
    if msg.get_content_type() != "multipart/report":
        return []
    notices = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        # The first block is about the message, each further one about one recipient.
        for block in blocks[1:] if isinstance(blocks, list) else []:
            status = ENHANCED_STATUS.search(header_text(block.get("Status")))
            code = status.group(0) if status else None
            kind = _kind(header_text(block.get("Action")).lower(), code)
            address = _address(block.get("Original-Recipient") or block.get("Final-Recipient") or "")
            if kind and address:
                notices.append(Notice(kind, address, code, header_text(block.get("Diagnostic-Code"))[:DETAIL_MAX], ids))
    return notices


def _detected_notices(msg: Message, ids: frozenset[str]) -> list[Notice]:
    """Failures found by flufl.bounce in formats other than RFC 3464 (Exim's, Postfix's older)."""
    temporary, permanent = all_failures(msg)
    body = _bodyheader_text(msg)
    status = ENHANCED_STATUS.search(body)
    code = status.group(0) if status else None
    # Without a code saying "no such address", a permanent failure is not evidence about the
    # address itself (it may be the content, a policy, a full mailbox): it counts as soft.
    hard = code is not None and code.startswith("5.1.")
    detail = next((line.strip() for line in body.splitlines() if code and code in line), "")[:DETAIL_MAX]
    return ([Notice(HARD if hard else SOFT, a.decode("utf-8", "replace").lower(), code, detail, ids)
             for a in sorted(permanent)]
            + [Notice(DELAY, a.decode("utf-8", "replace").lower(), code, detail, ids)
               for a in sorted(temporary - permanent)])


def read_notices(raw: bytes) -> list[Notice]:
    """What one mail of the bounce mailbox says ([] when nothing in it is recognised)."""
    msg = email.message_from_bytes(raw)
    ids = _message_ids(raw)
    unsubscribe = UNSUBSCRIBE_SUBJECT.match(header_text(msg.get("Subject")))
    if unsubscribe and msg.get_content_type() != "multipart/report":
        senders = getaddresses([header_text(msg.get("From"))])
        who = senders[0][1].lower() if senders and senders[0][1] else None
        return [Notice(UNSUBSCRIBE, who, token=unsubscribe.group(1))]
    notices = _dsn_notices(msg, ids) or _detected_notices(msg, ids)
    if notices:
        return notices
    if header_text(msg.get("Auto-Submitted")).lower() not in ("", "no") and not _from_an_mta(msg):
        return [Notice(AUTO_REPLY, detail=header_text(msg.get("Auto-Submitted")))]
    return []


def _from_an_mta(msg: Message) -> bool:
    """Whether a mail is a delivery report (in a format not read above), not a person's
    auto-reply: MTAs mark their bounces auto-submitted too, and an unread bounce must stay
    in the inbox rather than pass for an out-of-office note."""
    senders = getaddresses([header_text(msg.get("From"))])
    local = senders[0][1].partition("@")[0].lower() if senders else ""
    return (msg.get_content_type() == "multipart/report" or "X-Failed-Recipients" in msg
            or local in ("mailer-daemon", "postmaster"))
