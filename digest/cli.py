"""The `digest` command line: the daily job (`run`) and its `preview`; the other commands are
grouped in modules by what they serve (`cli_batch`: one command per stage on JSON Lines,
`cli_subscribers`: subscribers and the web app, `cli_operator`: sources, scheduling, history,
test sends, bounces) and their shared options and helpers in `cli_common`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from digest import cli_batch, cli_operator, cli_subscribers, progress
from digest.cli_common import (
    DEFAULT_CONFIG,
    EXIT_HELD,
    EXIT_UNDELIVERED,
    ConfigOption,
    DateOption,
    console,
    fail,
    load_settings,
    secrets_for,
)
from digest.models import EditionStatus

# The ephemeral Prefect API must not try to phone home: this tool runs offline by default.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect gives its temporary API 20 s to start, too little on a busy 2-core machine.
EPHEMERAL_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
os.environ.setdefault(EPHEMERAL_TIMEOUT_ENV, "180")

app = typer.Typer(help="Regional news digest: collect, summarize, group by region, render, deliver.",
                  no_args_is_help=True, add_completion=False)


def _print_report(report) -> None:  # noqa: ANN001 - RunReport
    table = Table(title=f"Edition {report.edition_id}")
    table.add_column("Region")
    table.add_column("Articles", justify="right")
    for region, count in report.articles_per_region.items():
        table.add_row(region, str(count))
    table.add_row("[bold]Total[/bold]", f"[bold]{sum(report.articles_per_region.values())}[/bold]")
    Console().print(table)
    if report.errors:
        errors = Table(title="Failed sources")
        errors.add_column("Source")
        errors.add_column("Where")
        errors.add_column("Error")
        for err in report.errors:
            errors.add_row(err.source, err.location, err.error)
        Console().print(errors)
    if report.held:
        Console().print("[yellow]Edition HELD, not sent:[/yellow] " + "; ".join(report.held_reasons))
    if report.html_path:
        Console().print(f"HTML edition: {report.html_path}")
    if report.messages:
        first = report.messages[0]
        Console().print(f"Messages: {len(report.messages)} (first: {first})")
    if report.uncertain:
        Console().print(f"{report.uncertain} message(s) left mid-transaction by a crashed run were sent "
                        "again with the same Message-ID: a recipient may have two copies")
    for earlier in report.unfinished:
        Console().print(f"[yellow]Edition {earlier} is not fully delivered:[/yellow] "
                        f"digest run --date {earlier}")
    if report.delivery not in (None, EditionStatus.SENT):
        console.print(f"[red]Delivery {report.delivery}:[/red] "
                      + (report.delivery_problem or "some messages are still to send; run again to send them"))


def _run_flow(config: Path, edition_date: str | None, *, send: bool, force: bool = False,  # noqa: ANN202
              retry_failed: bool = False):
    """Validate the inputs here, so a typo is one clear line, then run the Prefect flow.

    Returns the run's report, also when delivery stopped short (the flow run is Failed then)."""
    settings = load_settings(config)
    try:
        day = date.fromisoformat(edition_date) if edition_date else None
    except ValueError:
        fail(f"--date {edition_date!r} is not a date (YYYY-MM-DD)")
    try:
        with progress.shown_on(console) as tracker:
            api = os.environ.get("PREFECT_API_URL")
            tracker.start("prefect", note=f"importing Prefect, API at {api}" if api else
                          "importing Prefect, starting its temporary API")
            if send:
                _require_secret(config, settings)
            from flows.daily_digest import daily_digest
            from flows.temporary_api import temporary_api

            with temporary_api():  # Prefect's own, without its server code in this process
                state = daily_digest(edition_date=day, config_path=str(config), send=send, force=force,
                                     retry_failed=retry_failed, return_state=True)
    except RuntimeError as exc:
        if "ephemeral Prefect API" not in str(exc):
            raise
        limit = os.environ.get(EPHEMERAL_TIMEOUT_ENV)
        fail(f"Prefect's temporary API did not start within {limit} s (is the machine busy?): "
              f"set {EPHEMERAL_TIMEOUT_ENV} higher, or PREFECT_API_URL to a running Prefect server",
              code=1)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result

def _require_secret(config: Path, settings) -> None:  # noqa: ANN001 - Config
    """Check the key that signs every message's links is there before the run does any work:
    DIGEST_SECRET_KEY, the Prefect Secret block, or (no SMTP, SQLite store) the generated key.
    The flow resolves its secrets itself (its parameters are stored by Prefect): this only checks."""
    from digest.links import secret_key

    try:
        secret_key(settings, secrets_for(settings))
        return
    except RuntimeError:
        from flows.blocks import secret_from_block
    try:
        secret_key(settings, secrets_for(settings, secret_from_block))
    except RuntimeError as exc:
        fail(f"{config}: {exc} (or save it as the Prefect Secret block 'digest-secret-key')")



@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    edition_date: DateOption = None,
    send: Annotated[bool, typer.Option("--send/--dry-run", help="Deliver (outbox or SMTP) or only build.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Send even if the quality gate holds the edition.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also resend messages a server refused for good in an earlier run.")] = False,
) -> None:
    """Run the daily job: a Prefect flow run of `daily-digest`.

    Exit code 0: sent; 3: held by the quality gate; 4: delivery stopped short (rerun to finish).
    """
    report = _run_flow(config, edition_date, send=send, force=force, retry_failed=retry_failed)
    _print_report(report)
    if report.held:
        raise typer.Exit(EXIT_HELD)
    if report.delivery not in (None, EditionStatus.SENT):
        raise typer.Exit(EXIT_UNDELIVERED)


@app.command()
def preview(config: ConfigOption = DEFAULT_CONFIG, edition_date: DateOption = None) -> None:
    """Build an edition without delivering it, and say where to open the HTML."""
    report = _run_flow(config, edition_date, send=False)
    if not report.html_path:
        fail("no edition was rendered")
    Console().print(f"Open [bold]{Path(report.html_path).resolve().as_uri()}[/bold] in a browser.")


for group in (cli_batch, cli_operator, cli_subscribers):
    app.add_typer(group.commands)


if __name__ == "__main__":
    app()
