"""Bounces and mailed unsubscribes: what comes back to the sender's mailbox, read over IMAP.

Mail that was accepted at SMTP time can still come back later as a delivery status
notification (RFC 3464), or as an MTA's own text bounce; readers also unsubscribe by mailing
the `mailto:` of List-Unsubscribe (subject "unsubscribe TOKEN", see `links.links_for`).

- A mail is read into `Notice`s by `digest.returned_mail` (DSNs, older MTA formats,
  auto-replies, mailed unsubscribes); this module acts on them and runs the mailbox.
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
import imaplib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from digest.config import Config, ImapConfig
from digest.credentials import Secrets
from digest.errors import DigestError
from digest.links import TokenError, secret_key, subscriber_for_token
from digest.models import SubscriberStatus
from digest.returned_mail import (
    DELAY,
    DETAIL_MAX,
    HARD,
    SOFT,
    UNSUBSCRIBE,
    Notice,
    header_text,
    read_notices,
)
from digest.store import set_subscriber_status
from digest.store.ledger import BOUNCED, SENT, Claim, Ledger, Outcome
from digest.store.returns import RETURNED, record_soft_bounce, reported_delivery


class BounceError(DigestError, RuntimeError):
    """The mailbox cannot be read (connection, login, folder); the message names the server."""


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


def _returned(notice: Notice) -> str:
    return (RETURNED + " ".join(p for p in (notice.status, notice.detail) if p))[:DETAIL_MAX + 20]


def _apply_failure(engine: Engine, notice: Notice, policy: Policy, now: datetime) -> Verdict:
    row = reported_delivery(engine, notice.message_ids, notice.address)
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
    soft = record_soft_bounce(engine, row.id, row.subscriber_id, _returned(notice), now=now,
                              since=now - timedelta(days=policy.soft_days), bounce_after=policy.soft_bounces)
    if soft is None:  # another run got there first
        return Verdict(f"{who}: delivery {row.edition_id} already returned, counted once", True)
    days = f"{policy.soft_days:g} days"
    return Verdict(f"{who}: {'marked bounced' if soft.bounced else 'soft bounce'} "
                   f"({soft.count} of {policy.soft_bounces} in {days})", True)


def _apply_unsubscribe(engine: Engine, notice: Notice, secret: Callable[[], str]) -> Verdict:
    if not notice.token:
        return Verdict("left in the inbox: no link token in the subject (not from our List-Unsubscribe)", False)
    try:
        row, _ = subscriber_for_token(engine, secret(), notice.token, "unsubscribe")
    except TokenError as exc:
        return Verdict(f"left in the inbox: {exc}", False)
    if row.status == SubscriberStatus.UNSUBSCRIBED:
        return Verdict(f"{row.email}: already unsubscribed", True)
    set_subscriber_status(engine, row.id, SubscriberStatus.UNSUBSCRIBED)
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
    sender, subject = header_text(msg.get("From"))[:120], header_text(msg.get("Subject"))[:120]
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
        return secret_key(config, secrets)
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
