"""Bounces and mailed unsubscribes: what comes back to the sender's mailbox, read over IMAP.

Mail that was accepted at SMTP time can still come back later as a delivery status
notification (RFC 3464), or as an MTA's own text bounce; readers also unsubscribe by mailing
the `mailto:` of List-Unsubscribe (subject "unsubscribe TOKEN", see `subscribers.links_for`).

- A report is read with the stdlib email package when it is a DSN (per-recipient Action and
  Status), else with flufl.bounce's detectors (Mailman's), which know the older formats.
- It counts against one delivery of ours: the one whose Message-ID it quotes (whatever address
  the report shows, as after forwarding), else the latest that went out to the address it
  names. A report about anyone else changes nothing and stays in the inbox.
- Hard (5.1.x, no such address) marks that delivery `bounced`, and the ledger's bounce policy
  (`smtp.bounce_after`, the same one SMTP refusals feed) decides about the subscriber. Any other
  failure is soft: the delivery becomes `failed` with `last_error` "returned: …", and
  `soft_bounces` of those within `soft_bounce_days` (since the subscriber was last activated)
  mark the subscriber bounced. A delivery counts once, however often its report arrives.
- Delay warnings and auto-replies (RFC 3834) are recognised and need nothing.
- Processed mail is moved to the `processed` folder; mail that was not recognised, or that
  names nothing of ours, stays in the inbox for the operator.
"""

from __future__ import annotations

import email
import email.errors
import imaplib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.orm import Session

from digest import subscribers as subs
from digest.config import Config, ImapConfig
from digest.credentials import Secrets
from digest.errors import DigestError
from digest.ledger import (
    BOUNCED,
    FAILED,
    SENT,
    Claim,
    Ledger,
    Outcome,
    deliveries,
    subscribers_table,
)
from digest.models import SubscriberStatus

HARD, SOFT, DELAY, UNSUBSCRIBE, AUTO_REPLY = "hard", "soft", "delay", "unsubscribe", "auto-reply"
RETURNED = "returned: "  # last_error prefix of a delivery a report says was not delivered
ENHANCED_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
MESSAGE_ID = re.compile(r"<[^<>\s@]{1,250}@[^<>\s@]{1,250}>")
UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe(?:\s+(\S+))?\s*$", re.IGNORECASE)
DETAIL_MAX = 300  # characters of a diagnostic kept in the ledger and the report


class BounceError(DigestError, RuntimeError):
    """The mailbox cannot be read (connection, login, folder); the message names the server."""


@dataclass(frozen=True)
class Notice:
    """One thing a mail says: a recipient's failure, an unsubscribe request, or nothing to do."""

    kind: str  # HARD, SOFT, DELAY, UNSUBSCRIBE or AUTO_REPLY
    address: str | None = None  # the recipient the report names (or who asks to unsubscribe)
    status: str | None = None  # the enhanced status code (RFC 3463), when the report gives one
    detail: str = ""
    message_ids: frozenset[str] = frozenset()  # Message-IDs the mail quotes
    token: str | None = None  # the unsubscribe link token from the subject


@dataclass
class Handled:
    """What was done about one mail of the inbox."""

    uid: str
    sender: str
    subject: str
    kind: str  # a Notice kind, or "unrecognised"
    address: str
    status: str
    action: str
    moved: bool


@dataclass
class MailboxReport:
    mailbox: str
    mails: list[Handled] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for mail in self.mails:
            counts[mail.kind] = counts.get(mail.kind, 0) + 1
        return counts

    def as_json(self) -> dict:
        return {"mailbox": self.mailbox, "counts": self.counts, "moved": sum(m.moved for m in self.mails),
                "mails": [asdict(m) for m in self.mails]}


# --- reading a mail (pure) ---------------------------------------------------------------------


def _text(value: object) -> str:
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
    kind, _, value = _text(field_value).partition(";")
    address = (value if value else kind).strip().strip("<>").strip()
    return address.lower() or None


def _message_ids(raw: bytes) -> frozenset[str]:
    return frozenset(MESSAGE_ID.findall(raw.decode("ascii", "replace")))


def _body_text(msg: Message) -> str:
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
            status = ENHANCED_STATUS.search(_text(block.get("Status")))
            code = status.group(0) if status else None
            kind = _kind(_text(block.get("Action")).lower(), code)
            address = _address(block.get("Original-Recipient") or block.get("Final-Recipient") or "")
            if kind and address:
                notices.append(Notice(kind, address, code, _text(block.get("Diagnostic-Code"))[:DETAIL_MAX], ids))
    return notices


def _detected_notices(msg: Message, ids: frozenset[str]) -> list[Notice]:
    """Failures found by flufl.bounce in formats other than RFC 3464 (Exim's, Postfix's older)."""
    temporary, permanent = all_failures(msg)
    body = _body_text(msg)
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
    unsubscribe = UNSUBSCRIBE_SUBJECT.match(_text(msg.get("Subject")))
    if unsubscribe and msg.get_content_type() != "multipart/report":
        senders = getaddresses([_text(msg.get("From"))])
        who = senders[0][1].lower() if senders and senders[0][1] else None
        return [Notice(UNSUBSCRIBE, who, token=unsubscribe.group(1))]
    notices = _dsn_notices(msg, ids) or _detected_notices(msg, ids)
    if notices:
        return notices
    if _text(msg.get("Auto-Submitted")).lower() not in ("", "no") and not _from_an_mta(msg):
        return [Notice(AUTO_REPLY, detail=_text(msg.get("Auto-Submitted")))]
    return []


def _from_an_mta(msg: Message) -> bool:
    """Whether a mail is a delivery report (in a format not read above), not a person's
    auto-reply: MTAs mark their bounces auto-submitted too, and an unread bounce must stay
    in the inbox rather than pass for an out-of-office note."""
    senders = getaddresses([_text(msg.get("From"))])
    local = senders[0][1].partition("@")[0].lower() if senders else ""
    return (msg.get_content_type() == "multipart/report" or "X-Failed-Recipients" in msg
            or local in ("mailer-daemon", "postmaster"))


# --- acting on a notice -------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """When returned mail makes a subscriber `bounced`."""

    hard_bounces: int = 1  # deliveries returned as "no such address" (with SMTP refusals: smtp.bounce_after)
    soft_bounces: int = 3  # other returned deliveries...
    soft_days: float = 30.0  # ...within this many days

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        imap = config.mail.imap
        hard = config.mail.smtp.bounce_after if config.mail.smtp else cls.hard_bounces
        return cls(hard, imap.soft_bounces, imap.soft_bounce_days) if imap else cls(hard)


@dataclass(frozen=True)
class Verdict:
    action: str
    done: bool  # the mail was dealt with and may leave the inbox


def _our_delivery(conn: Connection, notice: Notice) -> Row | None:
    """The delivery of ours a report is about: the message that went out with a Message-ID it
    quotes or, when it quotes none of ours (some MTAs return no headers), the latest edition
    that went out to the address it names; once that one is counted, the same report again
    finds it counted rather than an older one to count."""
    query = (select(deliveries.c.id, deliveries.c.edition_id, deliveries.c.subscriber_id, deliveries.c.status,
                    deliveries.c.owner, deliveries.c.message_id, subscribers_table.c.email)
             .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id))
    if notice.message_ids:
        row = conn.execute(query.where(deliveries.c.message_id.in_(sorted(notice.message_ids)))
                           .order_by(deliveries.c.id.desc()).limit(1)).first()
        if row is not None:
            return row
    if not notice.address:
        return None
    return conn.execute(query.where(subscribers_table.c.email == notice.address,
                                    deliveries.c.status.in_((SENT, BOUNCED, FAILED)))
                        .order_by(deliveries.c.edition_id.desc()).limit(1)).first()


def _returned(notice: Notice) -> str:
    return (RETURNED + " ".join(p for p in (notice.status, notice.detail) if p))[:DETAIL_MAX + 20]


def _apply_failure(engine: Engine, notice: Notice, policy: Policy, now: datetime) -> Verdict:
    with engine.connect() as conn:
        row = _our_delivery(conn, notice)
    if row is None:
        return Verdict("left in the inbox: about no message of ours", False)
    who = row.email
    if row.status != SENT:
        return Verdict(f"{who}: delivery {row.edition_id} already {row.status}, counted once", True)
    if notice.kind == HARD:
        claim = Claim(row.id, row.subscriber_id, SENT, row.owner)
        ledger = Ledger(engine, row.edition_id, lease_seconds=0, bounce_after=policy.hard_bounces)
        _, newly = ledger.step(Outcome(claim, BOUNCED, _returned(notice), row.message_id))
        return Verdict(f"{who}: {'marked bounced' if newly else 'delivery ' + row.edition_id + ' bounced'}", True)
    with engine.begin() as conn:
        changed = conn.execute(update(deliveries).where(deliveries.c.id == row.id, deliveries.c.status == SENT)
                               .values(status=FAILED, last_error=_returned(notice), updated_at=now)).rowcount
        if not changed:  # another run got there first
            return Verdict(f"{who}: delivery {row.edition_id} already returned, counted once", True)
        since = now - timedelta(days=policy.soft_days)
        count = conn.scalar(
            select(func.count()).select_from(deliveries)
            .join(subscribers_table, subscribers_table.c.id == deliveries.c.subscriber_id)
            .where(deliveries.c.subscriber_id == row.subscriber_id, deliveries.c.status == FAILED,
                   deliveries.c.last_error.startswith(RETURNED), deliveries.c.updated_at >= since,
                   or_(subscribers_table.c.confirmed_at.is_(None),
                       deliveries.c.updated_at >= subscribers_table.c.confirmed_at)))
        bounced = count >= policy.soft_bounces and conn.execute(
            update(subscribers_table).where(subscribers_table.c.id == row.subscriber_id,
                                            subscribers_table.c.status == SubscriberStatus.ACTIVE)
            .values(status=SubscriberStatus.BOUNCED, bounced_at=now, updated_at=now)).rowcount == 1
    days = f"{policy.soft_days:g} days"
    return Verdict(f"{who}: {'marked bounced' if bounced else 'soft bounce'} "
                   f"({count} of {policy.soft_bounces} in {days})", True)


def _apply_unsubscribe(engine: Engine, notice: Notice, secret: Callable[[], str]) -> Verdict:
    if not notice.token:
        return Verdict("left in the inbox: no link token in the subject (not from our List-Unsubscribe)", False)
    with Session(engine) as session, session.begin():
        try:
            row, _ = subs.subscriber_for_token(session, secret(), notice.token, "unsubscribe")
        except subs.TokenError as exc:
            return Verdict(f"left in the inbox: {exc}", False)
        if row.status == SubscriberStatus.UNSUBSCRIBED:
            return Verdict(f"{row.email}: already unsubscribed", True)
        subs.set_status(session, row, SubscriberStatus.UNSUBSCRIBED)
        return Verdict(f"{row.email}: unsubscribed", True)


def apply_notice(engine: Engine, notice: Notice, policy: Policy, secret: Callable[[], str],
                 now: datetime | None = None) -> Verdict:
    """Record what a notice says in the store; `secret` gives the link key (only unsubscribes need it)."""
    now = now or datetime.now(UTC)
    if notice.kind in (HARD, SOFT):
        return _apply_failure(engine, notice, policy, now)
    if notice.kind == UNSUBSCRIBE:
        return _apply_unsubscribe(engine, notice, secret)
    if notice.kind == DELAY:
        return Verdict("delay warning: the server is still trying, nothing to do", True)
    return Verdict("automatic reply, nothing to do", True)


def handle_mail(engine: Engine, uid: str, raw: bytes, policy: Policy, secret: Callable[[], str]) -> Handled:
    """Read one mail and act on it; it is `moved` only when every notice in it was dealt with."""
    msg = email.message_from_bytes(raw)
    sender, subject = _text(msg.get("From"))[:120], _text(msg.get("Subject"))[:120]
    try:
        notices = read_notices(raw)
    except Exception as exc:  # noqa: BLE001 - heuristic detectors on arbitrary mail: one odd mail must not stop the rest
        return Handled(uid, sender, subject, "unrecognised", "", "", f"left in the inbox: cannot be read "
                       f"({type(exc).__name__}: {exc})", False)
    if not notices:
        return Handled(uid, sender, subject, "unrecognised", "", "", "left in the inbox", False)
    verdicts = [apply_notice(engine, n, policy, secret) for n in notices]
    return Handled(uid, sender, subject, notices[0].kind,
                   ", ".join(n.address for n in notices if n.address),
                   ", ".join(n.status for n in notices if n.status),
                   "; ".join(v.action for v in verdicts), all(v.done for v in verdicts))


# --- the mailbox ---------------------------------------------------------------------------------


def _open(imap: ImapConfig) -> imaplib.IMAP4:
    where = f"mail.imap: {imap.host}:{imap.port}"
    try:
        if imap.security == "tls":
            conn = imaplib.IMAP4_SSL(imap.host, imap.port, timeout=imap.timeout)
        else:
            conn = imaplib.IMAP4(imap.host, imap.port, timeout=imap.timeout)
            if imap.security == "starttls":
                conn.starttls()
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceError(f"{where}: cannot connect ({imap.security}): {exc}") from exc
    password = imap.password
    if password is None:
        conn.shutdown()
        raise BounceError(f"{where}: the password is read from ${imap.password_env}, which is not set")
    try:
        conn.login(imap.username, password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise BounceError(f"{where}: login as {imap.username} refused: {exc}") from exc
    return conn


def _check(where: str, response: tuple[str, list]) -> list:
    status, data = response
    if status != "OK":
        raise BounceError(f"{where}: {b' '.join(d for d in data if isinstance(d, bytes)).decode('utf-8', 'replace')}")
    return data


def _mover(conn: imaplib.IMAP4, imap: ImapConfig) -> Callable[[str], None]:
    """Moves a mail (by UID) to the processed folder: MOVE (RFC 6851) or COPY, delete, expunge."""
    folder = _quote(imap.folders.processed)
    where = f"mail.imap: {imap.host}: moving to {imap.folders.processed!r}"
    capabilities = set(_check(where, conn.capability())[0].decode("ascii", "replace").upper().split())
    if "MOVE" in capabilities:
        return lambda uid: _check(where, conn.uid("MOVE", uid, folder)) and None

    def copy_and_delete(uid: str) -> None:
        _check(where, conn.uid("COPY", uid, folder))
        _check(where, conn.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"))
        _check(where, conn.uid("EXPUNGE", uid) if "UIDPLUS" in capabilities else conn.expunge())

    return copy_and_delete


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _secret(config: Config, secrets: Secrets) -> str:
    try:
        return subs.secret_key(config, secrets)
    except RuntimeError as exc:
        raise BounceError(f"cannot check the links of unsubscribe mails: {exc}") from exc


def process_mailbox(config: Config, engine: Engine, secrets: Secrets) -> MailboxReport:
    """Read every mail in the inbox folder, act on bounces and unsubscribes, move the processed ones.

    `secrets` (resolved at the edge) gives the mailbox's password and the links' key."""
    if config.mail.imap is None:
        raise BounceError(f"{config.path}: no [mail.imap] section: nothing says where bounces arrive")
    imap = config.mail.imap.with_password(secrets.imap_password)
    report = MailboxReport(f"{imap.username}@{imap.host}:{imap.port}/{imap.folders.inbox}")
    policy = Policy.from_config(config)
    conn = _open(imap)
    try:
        where = f"mail.imap: {imap.host}"
        status, data = conn.create(_quote(imap.folders.processed))
        if status != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if isinstance(d, bytes)).upper():
            raise BounceError(f"{where}: cannot create the folder {imap.folders.processed!r}: {data}")
        _check(f"{where}: folder {imap.folders.inbox!r}", conn.select(_quote(imap.folders.inbox)))
        move = _mover(conn, imap)
        uids = _check(f"{where}: search", conn.uid("SEARCH", None, "ALL"))[0].split()
        for uid in (u.decode("ascii") for u in uids):
            fetched = _check(f"{where}: fetch {uid}", conn.uid("FETCH", uid, "(BODY.PEEK[])"))
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
            if raw is None:
                continue  # expunged by someone else meanwhile
            handled = handle_mail(engine, uid, raw, policy, lambda: _secret(config, secrets))
            if handled.moved:
                move(uid)
            report.mails.append(handled)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise BounceError(f"mail.imap: {imap.host}:{imap.port}: {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # the connection is going anyway; the error that matters was raised above
    return report


def summary(mails: Iterable[Handled]) -> str:
    mails = list(mails)
    moved = sum(m.moved for m in mails)
    return f"{len(mails)} mails read, {moved} processed and moved, {len(mails) - moved} left in the inbox"
