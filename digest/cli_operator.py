"""The operator's commands: sources and feeds (`sources check`, `feed`), scheduling (`serve`),
set-up (`init`), history (`editions`), test sends (`send-test`) and the bounce mailbox (`bounces`)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from digest.cli_common import (
    DEFAULT_CONFIG,
    ConfigOption,
    DateOption,
    JsonOption,
    console,
    fail,
    gazetteer_for,
    load_settings,
    print_table,
    secrets_for,
    subscriber_store,
)
from digest.models import EditionStatus

commands = typer.Typer()


sources_app = typer.Typer(help="The configured sources.", no_args_is_help=True)
commands.add_typer(sources_app, name="sources")


@sources_app.command("check")
def sources_check(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")] = False,
) -> None:
    """Fetch each source once (feeds only, not their pages) and show status, entries, newest entry, error."""
    from datetime import UTC, datetime

    from digest.pipeline import collect_all

    cfg = load_settings(config)
    cfg.sources = [s.model_copy(update={"fetch_pages": False}) for s in cfg.sources]
    results = collect_all(None, cfg, now=datetime.now(UTC))
    rows = [{"source": r.source, "kind": s.kind, "location": r.location, "status": r.status,
             "entries": r.entries, "newest": r.newest.isoformat() if r.newest else None,
             "error": "; ".join(e.error for e in r.errors) or None, "notes": r.notes}
            for s, r in zip(cfg.sources, results, strict=True)]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    else:
        table = Table(title=f"Sources in {config}")
        for column in ("Source", "Kind", "Status", "Entries", "Newest entry", "Last error"):
            table.add_column(column, justify="right" if column == "Entries" else "left", overflow="fold")
        for row in rows:
            colour = "red" if row["status"] == "error" else "yellow" if row["error"] else "green"
            table.add_row(row["source"], row["kind"], f"[{colour}]{row['status']}[/{colour}]", str(row["entries"]),
                          (row["newest"] or "—")[:16].replace("T", " "), row["error"] or "")
        Console().print(table)
    if any(r.failed for r in results):
        raise typer.Exit(1)


@commands.command("feed")
def feed_entries(
    location: Annotated[str, typer.Argument(metavar="URL_OR_PATH", help="A feed URL or file (or a page that links to its feed).")],
    # The output is JSON Lines either way and nothing is read from stdin; the flag is accepted
    # for symmetry with the batch commands.
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Accepted; the output is JSON Lines anyway.")] = False,  # noqa: ARG001
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before giving up on a slow server.")] = 20.0,
    local: Annotated[bool, typer.Option("--local", help="Allow loopback and private addresses (a feed on your own network).")] = False,
) -> None:
    """Parse one feed and print its entries as JSON Lines: title, link, published, summary, id."""
    from digest.feeds import FeedError, fetch_feed
    from digest.fetch import Fetcher, FetchError, FetchPolicy

    policy = FetchPolicy(read_timeout=timeout, connect_timeout=min(timeout, 10.0), total_timeout=timeout * 2)
    try:
        with Fetcher(policy) as fetcher:
            _, feed, _ = fetch_feed(fetcher, location, local=local)
    except (FetchError, FeedError, OSError) as exc:
        message = str(exc) if location in str(exc) else f"{location}: {exc}"
        sys.stdout.write(json.dumps({"error": message}, ensure_ascii=False) + "\n")
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - bad input must end in an error line, never a traceback
        sys.stdout.write(json.dumps({"error": f"{location}: {type(exc).__name__}: {exc}"}, ensure_ascii=False) + "\n")
        raise typer.Exit(1) from None
    if feed is not None and feed.problem:
        console.print(f"[yellow]warning:[/yellow] {location}: {feed.problem}")
    for entry in feed.entries if feed is not None else ():
        sys.stdout.write(json.dumps({"title": entry.title, "link": entry.link,
                                     "published": entry.published.isoformat() if entry.published else None,
                                     "summary": entry.summary, "id": entry.id}, ensure_ascii=False) + "\n")


# --- orchestration commands (owned by the orchestration helper) ---

@commands.command()
def serve(
    config: ConfigOption = DEFAULT_CONFIG,
    cron: Annotated[str, typer.Option("--cron", help="When to run, a cron expression in the edition's time zone.")] = "0 6 * * *",
    name: Annotated[str, typer.Option("--name", help="Deployment name; never the work pool's ('daily').")] = "serve",
    send: Annotated[bool, typer.Option("--send/--dry-run", help="Deliver (outbox or SMTP) or only build.")] = True,
) -> None:
    """Serve the `daily-digest` flow on its schedule in this process (Ctrl-C stops it).

    Needs a Prefect server (PREFECT_API_URL). It registers its own deployment,
    `daily-digest/serve` by default, beside the work-pool deployment `daily-digest/daily` of
    deployments/prefect.yaml, and refuses a name that belongs to a work-pool deployment.
    Runs can also be started by hand with `prefect deployment run 'daily-digest/<name>'`.
    """
    settings = load_settings(config)
    from flows.daily_digest import DeploymentTaken
    from flows.daily_digest import serve as serve_flow

    console.print(f"Serving deployment daily-digest/{name} from this process (the work pool's, if deployed, "
                  f"is daily-digest/daily): {cron} ({settings.edition.timezone}), config {config.resolve()}")
    try:
        serve_flow(config.resolve(), settings.edition.timezone, cron=cron, name=name, send=send)
    except DeploymentTaken as exc:
        fail(str(exc))


# --- end orchestration commands ---

# --- operator commands: set-up, history, test sends ---

@commands.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The folder to set up (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing digest.toml and sample/.")] = False,
) -> None:
    """Write a commented starter digest.toml and the bundled sample corpus into DIRECTORY."""
    from digest.starter import SAMPLE_DATE, StarterError, write_starter

    try:
        starter = write_starter(directory, force=force)
    except StarterError as exc:
        fail(str(exc))
    console.print(f"wrote {starter.config} and {starter.sample}/ (Wikinews, CC BY 2.5: see CREDITS.md)")
    console.print(f"next: cd {directory} && digest run --date {SAMPLE_DATE}   "
                  "# the sample edition, into out/")


editions_app = typer.Typer(help="Past editions: `digest editions` lists them, `show DATE` tells one.")
commands.add_typer(editions_app, name="editions")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "—"


@editions_app.callback(invoke_without_command=True)
def editions_list(
    ctx: typer.Context,
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the newest N.")] = None,
) -> None:
    """Editions, newest first: status, stories per region, the ledger's counts, held reasons, run time."""
    if ctx.invoked_subcommand is not None:
        return
    from digest.history import list_editions

    _, engine = subscriber_store(config)
    editions = list_editions(engine, limit)
    if as_json:
        sys.stdout.write(json.dumps([e.as_json() for e in editions], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Editions in {config}")
    for column in ("Date", "Status", "Stories", "Per region", "Subscribers", "Deliveries", "Held because", "Run time"):
        table.add_column(column, justify="right" if column in ("Stories", "Subscribers", "Run time") else "left",
                         overflow="fold")
    for e in editions:
        colour = {EditionStatus.HELD: "yellow", EditionStatus.SENT: "green"}.get(e.status, "white")
        table.add_row(e.id, f"[{colour}]{e.status}[/{colour}]", "—" if e.stories is None else str(e.stories),
                      _counts(e.regions), str(e.subscribers), _counts(e.deliveries),
                      "; ".join(e.held_reasons), "—" if e.run_seconds is None else f"{e.run_seconds:g} s")
    print_table(table)
    if not editions:
        console.print("no editions yet: `digest run` records one (a --dry-run records nothing)")


@editions_app.command("show")
def editions_show(
    edition_id: Annotated[str, typer.Argument(metavar="DATE", help="The edition, YYYY-MM-DD.")],
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
) -> None:
    """One edition: its numbers, the sources that failed and every delivery that did not go out."""
    from digest.history import edition_detail

    _, engine = subscriber_store(config)
    try:
        detail = edition_detail(engine, edition_id)
    except LookupError as exc:
        fail(str(exc), code=1)
    if as_json:
        sys.stdout.write(json.dumps(detail.as_json(), ensure_ascii=False, indent=2) + "\n")
        return
    e = detail.summary
    out = Console()
    out.print(f"[bold]{e.title} — {e.id}[/bold]: {e.status}, built {e.created:%Y-%m-%d %H:%M}"
              + ("" if e.run_seconds is None else f", run time {e.run_seconds:g} s"))
    out.print(f"Stories: {'—' if e.stories is None else e.stories} ({_counts(e.regions)})")
    out.print(f"Deliveries to {e.subscribers} subscribers: {_counts(e.deliveries)}")
    for reason in e.held_reasons:
        out.print(f"[yellow]Held because[/yellow] {reason}")
    sources = f" of {detail.sources}" if detail.sources is not None else ""
    out.print(f"Failed sources: {len(detail.failed_sources)}{sources}")
    if detail.failed_sources:
        failed = Table()
        for column in ("Source", "Where", "Error"):
            failed.add_column(column, overflow="fold")
        for err in detail.failed_sources:
            failed.add_row(err.get("source", ""), err.get("location", ""), err.get("error", ""))
        print_table(failed)
    if detail.problems:
        problems = Table(title="Deliveries that did not go out")
        for column in ("Subscriber", "Status", "Attempts", "Last error"):
            problems.add_column(column, overflow="fold")
        for o in detail.problems:
            problems.add_row(o.email, o.status, str(o.attempts), o.last_error or "")
        print_table(problems)


@commands.command("send-test")
def send_test(
    address: Annotated[str, typer.Argument(help="Where the test message goes.")],
    as_subscriber: Annotated[str | None, typer.Option("--as", help="Whose message to send (default: ADDRESS's own).")] = None,
    edition_date: DateOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Send one subscriber's message, exactly as the run builds it, to ADDRESS (SMTP or outbox/test/).

    The edition is rebuilt from the store; nothing goes into the delivery ledger. The links in it
    are the subscriber's own: following "unsubscribe" unsubscribes them.
    """
    from datetime import datetime

    from digest.proof import ProofError, send_proof

    loaded, engine = subscriber_store(config)
    try:
        day = date.fromisoformat(edition_date) if edition_date else datetime.now(loaded.edition.zone).date()
    except ValueError:
        fail(f"--date {edition_date!r} is not a date (YYYY-MM-DD)")
    try:
        proof = send_proof(engine, loaded, secrets_for(loaded), address, as_subscriber=as_subscriber, edition_date=day,
                           gazetteer=gazetteer_for())
    except ProofError as exc:
        fail(str(exc), code=1)
    if proof.stories == 0:
        console.print(f"[yellow]warning:[/yellow] the store has no stories for {proof.edition_id} "
                      f"in {proof.subscriber.email}'s regions yet (`digest preview` collects them)")
    console.print(f"sent {proof.subscriber.email}'s message for {proof.edition_id} "
                  f"({proof.stories} stories) to {proof.to}: {proof.where}")




@commands.command("bounces")
def bounces_command(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Read the bounce mailbox (the mail.imap section): mark dead addresses bounced, honour mailed unsubscribes,
    move what was dealt with to the processed folder; the rest stays in the inbox for you."""
    from rich.markup import escape

    from digest import bounces

    settings, engine = subscriber_store(config)
    if settings.mail.imap is None:
        fail(f"{escape(str(config))}: no \\[mail.imap] section: add one naming the mailbox bounces and unsubscribe "
              "mails arrive in (host, username, password_env; see the README)")
    try:
        report = bounces.process_mailbox(settings, engine, secrets_for(settings))
    except bounces.BounceError as exc:
        fail(escape(str(exc)), code=1)
    if as_json:
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        table = Table(title=f"Mailbox {escape(report.mailbox)}")
        for column in ("UID", "From", "Subject", "Kind", "Address", "Status", "Done", "Moved"):
            table.add_column(column, overflow="fold")
        for mail in report.mails:
            # Senders and subjects are anyone's text: shown as written, never as markup.
            table.add_row(*(escape(cell) for cell in (mail.uid, mail.sender, mail.subject, mail.kind,
                                                        mail.address, mail.status, mail.action)),
                          "yes" if mail.moved else "[yellow]no[/yellow]")
        print_table(table)
    console.print(bounces.summary(report.mails))
