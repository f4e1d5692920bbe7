"""The subscriber commands (`digest subscribers ...`) and the subscription web app (`digest web`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from digest.cli_common import (
    DEFAULT_CONFIG,
    EXIT_SKIPPED,
    EXIT_UNDELIVERED,
    ConfigOption,
    console,
    fail,
    print_table,
    secrets_for,
    subscriber_store,
)
from digest.models import SubscriberStatus

commands = typer.Typer()

subscribers_app = typer.Typer(help="Manage subscribers: add, import, list, remove, reactivate, export.",
                              no_args_is_help=True)
commands.add_typer(subscribers_app, name="subscribers")



def check_status(status: str | None) -> None:
    if status is not None and status not in set(SubscriberStatus):
        fail(f"--status {status!r} is not a subscriber status; use one of {', '.join(SubscriberStatus)}")


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The address to add (or update).")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", "-r", help="A region to receive; repeat; none: all.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add an active subscriber, or set an existing one's name and regions."""
    from digest import subscribers as subs

    settings, engine = subscriber_store(config)
    try:
        address = subs.normalize_email(email)
        regions = subs.known_regions(region or None, subs.region_names(settings))
    except subs.SubscriberError as exc:
        fail(str(exc))
    report = subs.import_rows(engine, [(address, name, regions)], update_existing=True)
    console.print(f"{'added' if report.added else 'updated'} {address}")


@subscribers_app.command("import")
def subscribers_import(
    csv_file: Annotated[Path, typer.Argument(help="CSV: email,name,regions (regions separated by ';').", exists=True, dir_okay=False)],
    pending: Annotated[bool, typer.Option("--pending", help="Add new addresses as pending and mail each a confirmation link (double opt-in).")] = False,
    rate: Annotated[float, typer.Option("--rate", min=0.01, help="With --pending: confirmation mails per second, at most.")] = 1.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add everyone in a CSV file as active (or, with --pending, ask each to confirm); bad
    lines are listed and skipped (exit 5). Confirmations that could not be sent exit 4."""
    from digest import notices
    from digest import subscribers as subs
    from digest.store.ledger import OUTBOX

    settings, engine = subscriber_store(config)
    if pending:
        try:  # the confirmation links are signed: fail before importing
            mailer = notices.Mailer.of(settings, secrets_for(settings))
        except RuntimeError as exc:
            fail(f"{config}: {exc}")
    report = subs.import_csv(engine, csv_file, regions=subs.region_names(settings),
                             status=SubscriberStatus.PENDING if pending else SubscriberStatus.ACTIVE)
    for error in report.errors:
        console.print(f"[yellow]skipped:[/yellow] {error}")
    console.print(f"added {report.added}{' as pending' if pending else ''}, already there {report.existing}, "
                  f"skipped {len(report.errors)}")
    if pending:
        where = f"written to {mailer.transport.name}" if mailer.transport.taken == OUTBOX else "mailed"
        console.print(f"sending {len(report.pending)} confirmation mails, {rate:g} a second at most")
        mailed = notices.confirm_pending(mailer, engine, report.pending, rate)
        for address in mailed.failed:
            console.print(f"[yellow]not sent:[/yellow] confirmation to {address} (it stays pending; "
                          "importing the file again with --pending retries it)")
        console.print(f"confirmations {where}: {mailed.sent}, failed {len(mailed.failed)}")
        if mailed.failed:
            raise typer.Exit(EXIT_UNDELIVERED)
    if report.errors:
        raise typer.Exit(EXIT_SKIPPED)


@subscribers_app.command("reactivate")
def subscribers_reactivate(
    email: Annotated[str, typer.Argument(help="A bounced address to make active again.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make a bounced address active again (a mistaken bounce); earlier bounces stop counting."""
    from digest import subscribers as subs

    _, engine = subscriber_store(config)
    try:
        found = subs.reactivate(engine, email)
    except subs.SubscriberError as exc:
        fail(str(exc))
    if not found:
        fail(f"{email} is not in the subscriber list", code=1)
    console.print(f"{email} is active")


@subscribers_app.command("list")
def subscribers_list(
    status: Annotated[str | None, typer.Option("--status", help="pending, active, unsubscribed or bounced.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show subscribers with their status and regions."""
    from digest.store import list_subscribers

    check_status(status)
    _, engine = subscriber_store(config)
    table = Table()
    for column in ("Email", "Name", "Regions", "Status", "Since"):
        table.add_column(column, overflow="fold")  # an address is folded on a narrow terminal, never cut
    for row in list_subscribers(engine, status):
        state = row.status + (" (paused)" if row.paused_at else "")
        table.add_row(row.email, row.name or "", "; ".join(row.regions or ["all"]), state,
                      f"{row.updated_at:%Y-%m-%d %H:%M}")
    print_table(table)


@subscribers_app.command("remove")
def subscribers_remove(
    email: str,
    forget: Annotated[bool, typer.Option("--forget", help="Delete the address and its delivery history instead of unsubscribing it.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Unsubscribe an address (kept so no import brings it back), or erase it with --forget."""
    from digest import subscribers as subs

    _, engine = subscriber_store(config)
    if not (subs.forget if forget else subs.unsubscribe)(engine, email):
        fail(f"{email} is not in the subscriber list", code=1)
    console.print(f"{'forgot' if forget else 'unsubscribed'} {email}")


@subscribers_app.command("export")
def subscribers_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file (default: stdout).")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Write subscribers as CSV (email,name,regions,status and the time of each change)."""
    import csv

    from digest.store import list_subscribers

    check_status(status)
    _, engine = subscriber_store(config)
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    writer = csv.writer(handle)
    writer.writerow(["email", "name", "regions", "status", "created_at", "confirmed_at",
                     "paused_at", "unsubscribed_at", "bounced_at"])
    for row in list_subscribers(engine, status):
        writer.writerow([row.email, row.name or "", ";".join(row.regions or []), row.status]
                        + [(t.isoformat() if t else "") for t in (row.created_at, row.confirmed_at,
                                                                  row.paused_at, row.unsubscribed_at, row.bounced_at)])
    if output:
        handle.close()
        console.print(f"wrote {output}")


@commands.command()
def web(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Serve the subscription pages and the archive (uvicorn). Behind a proxy, keep --host local
    and name the proxy in `web.trusted_proxies`: only its X-Forwarded-For is believed."""
    import uvicorn

    from digest.web import create_app, server_config

    from flows.blocks import secret_from_server_block

    loaded, engine = subscriber_store(config)
    try:
        application = create_app(loaded, engine, secrets=secrets_for(loaded, secret_from_server_block))
    except RuntimeError as exc:  # no key to sign links with
        fail(f"{config}: {exc}")
    uvicorn.Server(server_config(application, host, port)).run()
