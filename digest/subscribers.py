"""Subscribers: who gets which regions, their status over time, and the signed links in every email.

Status: pending (asked on the web, not yet confirmed) → active → unsubscribed | bounced.
Pausing keeps an active subscription but skips deliveries. Addresses are validated and
normalised with email-validator and lower-cased, so one person is one row.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.config import Config
from digest.models import Subscriber
from digest.store import DeliveryRow, SubscriberRow

log = logging.getLogger(__name__)

SECRET_ENV = "DIGEST_SECRET_KEY"
# Only for the embedded sample (outbox, no SMTP); a configured SMTP server requires a real secret.
DEV_SECRET = "insecure-development-secret"

PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED = "pending", "active", "unsubscribed", "bounced"
STATUSES = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED)
NAME_MAX = 100  # characters; a name only ever goes into a greeting

# How long each kind of link works (seconds; None: for good). Unsubscribe links in old emails
# must keep working, so they never expire; a confirmation is meant to be acted on soon.
TOKEN_MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "preferences": 365 * 24 * 3600,
    "unsubscribe": None,
}


class TokenError(Exception):
    """A link token that is forged, for another purpose, expired, or for someone no longer here."""


class SubscriberError(ValueError):
    """An address or subscriber record that cannot be used; the message names it."""


def secret_key(config: Config) -> str:
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    if config.mail.smtp is not None:
        raise RuntimeError(f"{SECRET_ENV} must be set when an SMTP server is configured")
    return DEV_SECRET


@dataclass(frozen=True)
class Choices:
    """What someone asked for on the subscribe form; it applies once they confirm."""

    name: str | None
    regions: list[str] | None  # None: every region


@dataclass(frozen=True)
class TokenClaim:
    """What a valid token says: whose it is (id and address) and, for a confirmation, the choices."""

    subscriber_id: int
    address: str
    choices: Choices | None = None

    def is_for(self, secret: str, email: str) -> bool:
        return hmac.compare_digest(self.address, _address_tag(secret, email))


def _address_tag(secret: str, email: str) -> str:
    # Ids alone are not enough: a row id can come back for another person (a store rebuilt
    # from a backup, or SQLite before revision 0002), and an old link must not reach them.
    # Keyed, so the token does not carry a guessable hash of the address.
    digest = hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def make_token(secret: str, subscriber_id: int, purpose: str, email: str,
               choices: Choices | None = None) -> str:
    payload: list = [subscriber_id, _address_tag(secret, email)]
    if choices is not None:
        payload.append({"name": choices.name, "regions": choices.regions})
    return URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").dumps(payload)


def read_token(secret: str, token: str, purpose: str, max_age: int | None = None) -> TokenClaim:
    """The claim in a token made for `purpose`; TokenError if it is forged, misused or expired.

    The caller still has to check the claim against the subscriber it names (`is_for`):
    `subscriber_for_token` does both."""
    try:
        payload = URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError(f"{purpose} link has expired") from exc
    except BadSignature as exc:
        raise TokenError(f"{purpose} link is not valid") from exc
    match payload:
        case [int() as sid, str() as address]:
            return TokenClaim(sid, address)
        case [int() as sid, str() as address, {"name": name, "regions": regions}]:
            return TokenClaim(sid, address, Choices(name, regions))
    raise TokenError(f"{purpose} link is not valid: it predates address-bound links")


def subscriber_for_token(session: Session, secret: str, token: str,
                         purpose: str) -> tuple[SubscriberRow, TokenClaim]:
    """The subscriber a link is for, with its claim; TokenError unless the link is valid and
    that subscriber still has the address the link was made for."""
    claim = read_token(secret, token, purpose, TOKEN_MAX_AGE[purpose])
    row = session.get(SubscriberRow, claim.subscriber_id)
    if row is None or not claim.is_for(secret, row.email):
        raise TokenError(f"{purpose} link is for a subscriber who is no longer here")
    return row, claim


@dataclass(frozen=True)
class SubscriberLinks:
    unsubscribe: str
    unsubscribe_mailto: str
    preferences: str


def links_for(config: Config, subscriber: Subscriber) -> SubscriberLinks:
    """The per-subscriber URLs every message carries (List-Unsubscribe, footer links)."""
    if subscriber.id is None:
        raise SubscriberError(f"{subscriber.email}: cannot make links for a subscriber that is "
                              "not stored yet (it has no id)")
    secret = secret_key(config)
    base = config.mail.base_url.rstrip("/")
    unsub = make_token(secret, subscriber.id, "unsubscribe", subscriber.email)
    prefs = make_token(secret, subscriber.id, "preferences", subscriber.email)
    sender_address = config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return SubscriberLinks(
        unsubscribe=f"{base}/unsubscribe/{unsub}",
        unsubscribe_mailto=f"mailto:{sender_address}?subject={quote('unsubscribe ' + unsub)}",
        preferences=f"{base}/preferences/{prefs}",
    )


def confirm_link(config: Config, row: SubscriberRow, choices: Choices) -> str:
    token = make_token(secret_key(config), row.id, "confirm", row.email, choices)
    return f"{config.mail.base_url.rstrip('/')}/confirm/{token}"


# --- addresses and records ---------------------------------------------------------------


def normalize_email(address: str) -> str:
    """The canonical form of an address, or SubscriberError saying why it is not one."""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise SubscriberError(f"{address!r} is not a valid email address: {exc}") from exc
    # Mailbox names are case-insensitive at every provider that matters; one person, one row.
    return valid.normalized.lower()


def _regions(value: Iterable[str] | None) -> list[str] | None:
    """Stored form of a region choice: a sorted list, or None for every region."""
    if value is None:
        return None
    chosen = sorted({r.strip() for r in value if r and r.strip()})
    return chosen or None


def _now() -> datetime:
    return datetime.now(UTC)


def to_subscriber(row: SubscriberRow) -> Subscriber:
    return Subscriber(email=row.email, name=row.name, id=row.id,
                      regions=frozenset(row.regions) if row.regions else None)


def find(session: Session, email: str) -> SubscriberRow | None:
    return session.scalar(select(SubscriberRow).where(SubscriberRow.email == normalize_email(email)))


def upsert(session: Session, email: str, *, name: str | None = None,
           regions: Iterable[str] | None = None, status: str = ACTIVE,
           update_existing: bool = False) -> tuple[SubscriberRow, bool]:
    """Insert a subscriber, or return the existing one; (row, created).

    An existing row keeps its status unless it is pending and `status` is active (the
    operator vouches for it). Someone who unsubscribed or bounced is never brought back here.
    With `update_existing`, name and regions are overwritten (an explicit operator edit).
    """
    address = normalize_email(email)
    now = _now()
    row = session.scalar(select(SubscriberRow).where(SubscriberRow.email == address))
    if row is None:
        row = SubscriberRow(email=address, name=name, regions=_regions(regions), status=status,
                            created_at=now, updated_at=now,
                            confirmed_at=now if status == ACTIVE else None)
        session.add(row)
        session.flush()
        return row, True
    changed = False
    if update_existing and (row.name != name or row.regions != _regions(regions)):
        row.name, row.regions, changed = name, _regions(regions), True
    if row.status == PENDING and status == ACTIVE:
        row.status, row.confirmed_at, changed = ACTIVE, now, True
    if changed:
        row.updated_at = now
    return row, False


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    errors: list[str] = field(default_factory=list)


def read_csv(path: Path) -> Iterator[tuple[int, SubscriberError | tuple[str, str | None, list[str] | None]]]:
    """Rows of an `email,name,regions` file (regions separated by ';', empty: all).

    Yields (line number, parsed row or the error for that line); a header row is skipped.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for lineno, cells in enumerate(csv.reader(handle), start=1):
            if not cells or not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if lineno == 1 and cells[0].strip().lower() == "email":
                continue
            cells = [c.strip() for c in cells] + ["", ""]
            try:
                address = normalize_email(cells[0])
            except SubscriberError as exc:
                yield lineno, SubscriberError(f"{path}:{lineno}: {exc}")
                continue
            regions = [r for r in cells[2].split(";") if r.strip()] or None
            yield lineno, (address, cells[1] or None, regions)


def import_rows(engine: Engine, rows: Iterable[tuple[str, str | None, list[str] | None]],
                update_existing: bool = False) -> ImportReport:
    report = ImportReport()
    with Session(engine) as session, session.begin():
        for address, name, regions in rows:
            try:
                _, created = upsert(session, address, name=name, regions=regions,
                                    update_existing=update_existing)
            except SubscriberError as exc:
                report.errors.append(str(exc))
                continue
            if created:
                report.added += 1
            else:
                report.existing += 1
    return report


def import_csv(engine: Engine, path: Path, update_existing: bool = False) -> ImportReport:
    """Add everyone in a CSV file as active; bad lines are reported by line, the rest go in."""
    good: list[tuple[str, str | None, list[str] | None]] = []
    errors: list[str] = []
    for _, parsed in read_csv(path):
        if isinstance(parsed, SubscriberError):
            errors.append(str(parsed))
        else:
            good.append(parsed)
    report = import_rows(engine, good, update_existing=update_existing)
    report.errors[:0] = errors
    return report


def sync_from_config(engine: Engine, config: Config) -> None:
    """Make everyone listed in the config (and its subscribers_file) an active subscriber.

    New addresses are added with the listed name and regions; existing ones keep the choices
    they made since (on the preferences page); unsubscribed or bounced ones stay that way.
    """
    rows: list[tuple[str, str | None, list[str] | None]] = []
    errors: list[str] = []
    for entry in config.subscribers:
        try:
            rows.append((normalize_email(entry.email), entry.name, entry.regions))
        except SubscriberError as exc:
            errors.append(f"{config.path}: subscribers: {exc}")
    if config.subscribers_file:
        if not config.subscribers_file.is_file():
            errors.append(f"{config.subscribers_file}: subscribers file not found")
        else:
            for _, parsed in read_csv(config.subscribers_file):
                if isinstance(parsed, SubscriberError):
                    errors.append(str(parsed))
                else:
                    rows.append(parsed)
    report = import_rows(engine, rows)
    for error in errors + report.errors:
        log.warning("subscriber skipped: %s", error)


def active_subscribers(engine: Engine) -> list[Subscriber]:
    """Everyone who gets the next edition: active and not paused, in id order."""
    with Session(engine) as session:
        rows = session.scalars(
            select(SubscriberRow)
            .where(SubscriberRow.status == ACTIVE, SubscriberRow.paused_at.is_(None))
            .order_by(SubscriberRow.id)
        )
        return [to_subscriber(row) for row in rows]


def list_subscribers(engine: Engine, status: str | None = None) -> list[SubscriberRow]:
    with Session(engine, expire_on_commit=False) as session:
        query = select(SubscriberRow).order_by(SubscriberRow.id)
        if status:
            query = query.where(SubscriberRow.status == status)
        return list(session.scalars(query))


def set_status(session: Session, row: SubscriberRow, status: str) -> None:
    """Move a subscriber to `status`, stamping the time of the change."""
    if status not in STATUSES:
        raise SubscriberError(f"{row.email}: unknown status {status!r} (one of {', '.join(STATUSES)})")
    now = _now()
    if row.status == status:
        return
    row.status, row.updated_at = status, now
    if status == ACTIVE:
        row.confirmed_at = now
    elif status == UNSUBSCRIBED:
        row.unsubscribed_at = now
    elif status == BOUNCED:
        row.bounced_at = now


def set_preferences(session: Session, row: SubscriberRow, regions: Iterable[str] | None,
                    paused: bool) -> None:
    now = _now()
    row.regions = _regions(regions)
    if paused and row.paused_at is None:
        row.paused_at = now
    elif not paused:
        row.paused_at = None
    row.updated_at = now


def confirm(session: Session, row: SubscriberRow, choices: Choices | None) -> None:
    """Make a subscriber active with the choices carried by their confirmation link (None: keep
    the stored ones). Following the link again later changes nothing: by then the
    preferences page is where choices change."""
    if row.status == ACTIVE:
        return
    if choices is not None:
        row.name = choices.name or row.name
    set_preferences(session, row, choices.regions if choices else row.regions, paused=False)
    set_status(session, row, ACTIVE)


def unsubscribe(engine: Engine, email: str) -> bool:
    """Unsubscribe an address (kept as a record so no import brings it back); False if unknown."""
    with Session(engine) as session, session.begin():
        row = find(session, email)
        if row is None:
            return False
        set_status(session, row, UNSUBSCRIBED)
        return True


def reactivate(engine: Engine, email: str) -> bool:
    """Make a bounced address active again (the bounce was a mistake); False if unknown.

    Its earlier bounces no longer count towards the bounce policy. Someone who unsubscribed
    is not brought back: that was their choice (SubscriberError)."""
    with Session(engine) as session, session.begin():
        row = find(session, email)
        if row is None:
            return False
        if row.status == UNSUBSCRIBED:
            raise SubscriberError(f"{row.email} unsubscribed; only they can subscribe again")
        if row.status == BOUNCED:
            set_status(session, row, ACTIVE)  # confirmed_at = now: the bounce policy counts from here
            row.bounced_at = None
        return True


def forget(engine: Engine, email: str) -> bool:
    """Delete an address and its delivery history (a request to erase personal data)."""
    with Session(engine) as session, session.begin():
        row = find(session, email)
        if row is None:
            return False
        session.execute(DeliveryRow.__table__.delete().where(DeliveryRow.subscriber_id == row.id))
        session.delete(row)
        return True

