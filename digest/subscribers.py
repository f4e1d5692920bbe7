"""Subscriber records: who gets which regions, and their status over time.

Status: pending (asked on the web, not yet confirmed) → active → unsubscribed | bounced.
Pausing keeps an active subscription but skips deliveries. Addresses are validated and
normalised by `digest.addresses` (what delivery can send, lower-cased: one person, one row);
region choices are checked against the region table. The signed links that act on a record
(confirm, preferences, unsubscribe) are `digest.links`; the rows themselves, and every change
to them, `digest.store.subscribers`.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from digest import addresses
from digest.config import Config
from digest.errors import DigestError
from digest.models import Subscriber, SubscriberStatus
from digest.regions import load_region_table
from digest.store import Engine
from digest.store import subscribers as store
from digest.store.subscribers import SubscriberRecord

log = logging.getLogger(__name__)

NAME_MAX = 100  # characters; a name only ever goes into a greeting


class SubscriberError(DigestError, ValueError):
    """An address or subscriber record that cannot be used; the message names it."""


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
    """Add each row, or find it already there (see `store.add_subscribers`): new ones get
    `status`, active or pending. A row whose address is no address is an error of the report."""
    report = ImportReport()
    good = []
    for address, name, regions in rows:
        try:
            good.append((normalize_email(address), name, regions))
        except SubscriberError as exc:
            report.errors.append(str(exc))
    for row, created in store.add_subscribers(engine, good, status=status, update_existing=update_existing):
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
    return [row.as_subscriber()
            for row in store.list_subscribers(engine, SubscriberStatus.ACTIVE, paused=False)]


def find(engine: Engine, email: str) -> SubscriberRecord | None:
    """The subscriber with this address (in any spelling `normalize_email` accepts), or None."""
    return store.find_subscriber(engine, normalize_email(email))


def unsubscribe(engine: Engine, email: str) -> bool:
    """Unsubscribe an address (kept as a record so no import brings it back); False if unknown."""
    row = find(engine, email)
    if row is None:
        return False
    return store.set_subscriber_status(engine, row.id, SubscriberStatus.UNSUBSCRIBED) is not None


def reactivate(engine: Engine, email: str) -> bool:
    """Make a bounced address active again (the bounce was a mistake); False if unknown.

    Its earlier bounces no longer count towards the bounce policy. Someone who unsubscribed
    is not brought back: that was their choice (SubscriberError)."""
    row = find(engine, email)
    if row is None:
        return False
    if row.status == SubscriberStatus.UNSUBSCRIBED:
        raise SubscriberError(f"{row.email} unsubscribed; only they can subscribe again")
    return store.reactivate_subscriber(engine, row.id) is not None


def forget(engine: Engine, email: str) -> bool:
    """Delete an address and its delivery history (a request to erase personal data)."""
    return store.forget_subscriber(engine, normalize_email(email))
