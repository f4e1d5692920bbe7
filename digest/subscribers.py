"""Subscribers: who gets which regions, their status over time, and the signed links in every email.

Status: pending (asked on the web, not yet confirmed) → active → unsubscribed | bounced.
Pausing keeps an active subscription but skips deliveries. Addresses are validated and
normalised by `digest.addresses` (what delivery can send, lower-cased: one person, one row);
region choices are checked against the region table.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import logging
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from secrets import token_urlsafe
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from digest import addresses
from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, Secrets
from digest.errors import DigestError
from digest.models import Subscriber, SubscriberStatus
from digest.regions import load_region_table
from digest.store import DeliveryRow, SubscriberRow

log = logging.getLogger(__name__)

# Without DIGEST_SECRET_KEY (and without SMTP) links are signed with a random key kept in
# this file beside the SQLite store, so the job and the web app on that store agree on it.
SECRET_FILE = "secret-key"

NAME_MAX = 100  # characters; a name only ever goes into a greeting

# How long each kind of link works (seconds; None: for good). Unsubscribe links in old emails
# must keep working, so they never expire; a confirmation is meant to be acted on soon.
TOKEN_MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "preferences": 365 * 24 * 3600,
    "unsubscribe": None,
}


class TokenError(DigestError):
    """A link token that is forged, for another purpose, expired, or for someone no longer here."""


class SubscriberError(DigestError, ValueError):
    """An address or subscriber record that cannot be used; the message names it."""


def secret_key(config: Config, secrets: Secrets) -> str:
    """The key that signs every link: the resolved one (DIGEST_SECRET_KEY or its fallback), or
    else (without SMTP) a random key created once in the store's folder. RuntimeError when
    neither can be had."""
    if secrets.signing_key is not None:
        return secrets.signing_key.get_secret_value()
    if config.mail.smtp is not None:
        raise RuntimeError(f"mail.smtp: an SMTP server is configured, so {SIGNING_KEY_ENV} must be set")
    return _stored_key(_key_path(config.store_url))


@functools.lru_cache(maxsize=32)
def _key_path(store_url: str) -> str:
    url = make_url(store_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        # A server database has no folder here, and the web app may run on another host:
        # a key made up on each side would make every link of the other side invalid.
        raise RuntimeError(f"store_url: {SIGNING_KEY_ENV} is not set and the store {url.render_as_string()} "
                           f"has no folder to keep a generated key in: set {SIGNING_KEY_ENV}")
    return str(Path(url.database).resolve().parent / SECRET_FILE)


@functools.lru_cache(maxsize=32)
def _stored_key(path: str) -> str:
    """The key in `path`, created (mode 0600, never replaced) when there is none yet."""
    key_file = Path(path)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = key_file.read_text(encoding="ascii").strip()
        if not key:
            raise RuntimeError(f"{key_file}: the signing key file is empty; delete it (links "
                               f"sent so far stop working) or set {SIGNING_KEY_ENV}") from None
        log.info("%s is not set: signing links with the key in %s", SIGNING_KEY_ENV, key_file)
        return key
    except OSError as exc:
        raise RuntimeError(f"{SIGNING_KEY_ENV} is not set and no signing key can be kept in {key_file}: "
                           f"{exc.strerror or exc}") from exc
    key = token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.warning("%s is not set: created a random signing key in %s (mode 0600); links stay valid "
                "as long as that file is kept", SIGNING_KEY_ENV, key_file)
    return key


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


def links_for(config: Config, subscriber: Subscriber, secret: str) -> SubscriberLinks:
    """The per-subscriber URLs every message carries (List-Unsubscribe, footer links), signed
    with `secret` (`secret_key`)."""
    if subscriber.id is None:
        raise SubscriberError(f"{subscriber.email}: cannot make links for a subscriber that is "
                              "not stored yet (it has no id)")
    base = config.mail.base_url.rstrip("/")
    unsub = make_token(secret, subscriber.id, "unsubscribe", subscriber.email)
    prefs = make_token(secret, subscriber.id, "preferences", subscriber.email)
    sender_address = config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return SubscriberLinks(
        unsubscribe=f"{base}/unsubscribe/{unsub}",
        unsubscribe_mailto=f"mailto:{sender_address}?subject={quote('unsubscribe ' + unsub)}",
        preferences=f"{base}/preferences/{prefs}",
    )


def confirm_link(config: Config, row: SubscriberRow, choices: Choices, secret: str) -> str:
    token = make_token(secret, row.id, "confirm", row.email, choices)
    return f"{config.mail.base_url.rstrip('/')}/confirm/{token}"


# --- addresses and records ---------------------------------------------------------------


def normalize_email(address: str) -> str:
    """The canonical form of an address (see `digest.addresses`), or SubscriberError saying why
    it is not one."""
    try:
        return addresses.normalize(address)
    except addresses.AddressError as exc:
        raise SubscriberError(str(exc)) from exc


def known_regions(chosen: Iterable[str] | None, regions: Collection[str]) -> list[str] | None:
    """A region choice in the table's own spelling (case does not matter), or SubscriberError
    naming what is not in `regions` and listing what is. None (every region) stays None."""
    if chosen is None:
        return None
    by_key = {r.casefold(): r for r in regions}
    picked = [r.strip() for r in chosen if r and r.strip()]
    unknown = [r for r in picked if r.casefold() not in by_key]
    if unknown:
        raise SubscriberError(f"unknown region{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(map(repr, unknown))}; the regions are: {', '.join(regions)}")
    return [by_key[r.casefold()] for r in picked] or None


def region_names(config: Config) -> tuple[str, ...]:
    """The regions a subscriber can choose: those of the configured region table."""
    return load_region_table(config.edition.region_table).regions


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
           regions: Iterable[str] | None = None, status: SubscriberStatus = SubscriberStatus.ACTIVE,
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
                            confirmed_at=now if status == SubscriberStatus.ACTIVE else None)
        session.add(row)
        session.flush()
        return row, True
    changed = False
    if update_existing and (row.name != name or row.regions != _regions(regions)):
        row.name, row.regions, changed = name, _regions(regions), True
    if row.status == SubscriberStatus.PENDING and status == SubscriberStatus.ACTIVE:
        row.status, row.confirmed_at, changed = SubscriberStatus.ACTIVE, now, True
    if changed:
        row.updated_at = now
    return row, False


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    errors: list[str] = field(default_factory=list)
    # With status=pending: ids of the imported rows still waiting for their owner to confirm
    # (new ones, and earlier ones never confirmed), in file order: who gets a confirmation mail.
    pending: list[int] = field(default_factory=list)


def read_csv(path: Path, regions: Collection[str] | None = None,
             ) -> Iterator[tuple[int, SubscriberError | tuple[str, str | None, list[str] | None]]]:
    """Rows of an `email,name,regions` file (regions separated by ';', empty: all).

    Yields (line number, parsed row or the error for that line); a header row is skipped.
    With `regions` (the region table's names), a row choosing any other region is an error.
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
                chosen = [r for r in cells[2].split(";") if r.strip()] or None
                if regions is not None:
                    chosen = known_regions(chosen, regions)
            except SubscriberError as exc:
                yield lineno, SubscriberError(f"{path}:{lineno}: {exc}")
                continue
            yield lineno, (address, cells[1] or None, chosen)


def import_rows(engine: Engine, rows: Iterable[tuple[str, str | None, list[str] | None]],
                update_existing: bool = False, status: SubscriberStatus = SubscriberStatus.ACTIVE) -> ImportReport:
    """Upsert each row (see `upsert`): new ones get `status`, active or pending."""
    report = ImportReport()
    with Session(engine) as session, session.begin():
        for address, name, regions in rows:
            try:
                row, created = upsert(session, address, name=name, regions=regions, status=status,
                                      update_existing=update_existing)
            except SubscriberError as exc:
                report.errors.append(str(exc))
                continue
            if created:
                report.added += 1
            else:
                report.existing += 1
            if status == SubscriberStatus.PENDING and row.status == SubscriberStatus.PENDING:
                report.pending.append(row.id)
    return report


def import_csv(engine: Engine, path: Path, update_existing: bool = False, regions: Collection[str] | None = None,
               status: SubscriberStatus = SubscriberStatus.ACTIVE) -> ImportReport:
    """Add everyone in a CSV file as active (or, with status=pending, as waiting to confirm);
    bad lines (bad address, or a region not in `regions` when given) are reported by line,
    the rest go in."""
    good: list[tuple[str, str | None, list[str] | None]] = []
    errors: list[str] = []
    for _, parsed in read_csv(path, regions):
        if isinstance(parsed, SubscriberError):
            errors.append(str(parsed))
        else:
            good.append(parsed)
    report = import_rows(engine, good, update_existing=update_existing, status=status)
    report.errors[:0] = errors
    return report


def sync_from_config(engine: Engine, config: Config) -> None:
    """Make everyone listed in the config (and its subscribers_file) an active subscriber.

    New addresses are added with the listed name and regions; existing ones keep the choices
    they made since (on the preferences page); unsubscribed or bounced ones stay that way.
    """
    rows: list[tuple[str, str | None, list[str] | None]] = []
    errors: list[str] = []
    names = region_names(config)
    for entry in config.subscribers:
        try:
            rows.append((normalize_email(entry.email), entry.name, known_regions(entry.regions, names)))
        except SubscriberError as exc:
            errors.append(f"{config.path}: subscribers: {exc}")
    if config.subscribers_file:
        if not config.subscribers_file.is_file():
            errors.append(f"{config.subscribers_file}: subscribers file not found")
        else:
            for _, parsed in read_csv(config.subscribers_file, names):
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
            .where(SubscriberRow.status == SubscriberStatus.ACTIVE, SubscriberRow.paused_at.is_(None))
            .order_by(SubscriberRow.id)
        )
        return [to_subscriber(row) for row in rows]


def list_subscribers(engine: Engine, status: SubscriberStatus | None = None) -> list[SubscriberRow]:
    with Session(engine, expire_on_commit=False) as session:
        query = select(SubscriberRow).order_by(SubscriberRow.id)
        if status:
            query = query.where(SubscriberRow.status == status)
        return list(session.scalars(query))


def set_status(session: Session, row: SubscriberRow, status: SubscriberStatus) -> None:
    """Move a subscriber to `status`, stamping the time of the change."""
    if status not in set(SubscriberStatus):
        raise SubscriberError(f"{row.email}: unknown status {status!r} (one of {', '.join(SubscriberStatus)})")
    now = _now()
    if row.status == status:
        return
    row.status, row.updated_at = status, now
    if status == SubscriberStatus.ACTIVE:
        row.confirmed_at = now
    elif status == SubscriberStatus.UNSUBSCRIBED:
        row.unsubscribed_at = now
    elif status == SubscriberStatus.BOUNCED:
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
    if row.status == SubscriberStatus.ACTIVE:
        return
    if choices is not None:
        row.name = choices.name or row.name
    set_preferences(session, row, choices.regions if choices else row.regions, paused=False)
    set_status(session, row, SubscriberStatus.ACTIVE)


def unsubscribe(engine: Engine, email: str) -> bool:
    """Unsubscribe an address (kept as a record so no import brings it back); False if unknown."""
    with Session(engine) as session, session.begin():
        row = find(session, email)
        if row is None:
            return False
        set_status(session, row, SubscriberStatus.UNSUBSCRIBED)
        return True


def reactivate(engine: Engine, email: str) -> bool:
    """Make a bounced address active again (the bounce was a mistake); False if unknown.

    Its earlier bounces no longer count towards the bounce policy. Someone who unsubscribed
    is not brought back: that was their choice (SubscriberError)."""
    with Session(engine) as session, session.begin():
        row = find(session, email)
        if row is None:
            return False
        if row.status == SubscriberStatus.UNSUBSCRIBED:
            raise SubscriberError(f"{row.email} unsubscribed; only they can subscribe again")
        if row.status == SubscriberStatus.BOUNCED:
            set_status(session, row, SubscriberStatus.ACTIVE)  # confirmed_at = now: the bounce policy counts from here
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

