"""The `digest` command line: the daily job, a preview, and batch commands per stage.

Batch commands read JSON Lines on stdin and write one JSON line per input line, same
`id`, same order; a line that cannot be processed (not UTF-8, not a JSON object, empty, a
NaN or out-of-range number) yields {"id", "error"} and the batch goes on.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from digest import progress
from digest.config import DEFAULT_CONFIG, ConfigError, load_config

# The ephemeral Prefect API must not try to phone home: this tool runs offline by default.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect gives its temporary API 20 s to start, too little on a busy 2-core machine.
EPHEMERAL_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
os.environ.setdefault(EPHEMERAL_TIMEOUT_ENV, "180")

app = typer.Typer(help="Regional news digest: collect, summarize, group by region, render, deliver.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to digest.toml.")]
JsonlFlag = Annotated[bool, typer.Option("--jsonl", help="Read JSON Lines on stdin, write JSON Lines.")]


# Exit codes of `digest run` (and `subscribers import`), for cron and CI; documented in the README.
EXIT_OK = 0  # sent (or, for a dry run or preview, built)
EXIT_USAGE = 2  # bad options or configuration: nothing was run
EXIT_HELD = 3  # the quality gate held the edition: nothing was sent
EXIT_UNDELIVERED = 4  # delivery stopped short (partial or deferred): a rerun sends the rest
EXIT_SKIPPED = 5  # `subscribers import`: some rows were skipped, the others imported


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _finite(text: str) -> float:
    # Python reads 1e999 as infinity, which no JSON can carry back out.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")


def _json_line(result: dict[str, Any]) -> bytes:
    """One JSON Lines record as UTF-8 bytes; lone surrogates (valid in JSON text, not in
    UTF-8) are written as \\u escapes instead."""
    text = json.dumps(result, ensure_ascii=False, default=str, allow_nan=False)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(result, default=str, allow_nan=False).encode("ascii") + b"\n"


def _run_jsonl(process: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Exactly one output line per input line, whatever its bytes; errors become
    {"id", "error"} lines. Input and output are UTF-8 whatever the locale says (JSON Lines
    is UTF-8); the exit status is 0 unless reading stdin or writing stdout fails."""
    out = sys.stdout.buffer
    try:
        for lineno, raw in enumerate(sys.stdin.buffer, start=1):
            record_id: Any = None
            try:
                # A BOM may start the stream (or every line, from tools that add one per write).
                line = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
                if not line.strip():
                    raise ValueError("empty line, expected a JSON object")
                record = json.loads(line, parse_float=_finite, parse_constant=_not_json)
                if not isinstance(record, dict):
                    raise ValueError("expected a JSON object")
                record_id = record.get("id")
                encoded = _json_line({"id": record_id, **process(record)})
            except Exception as exc:  # noqa: BLE001 - any failure of one line is reported, the batch goes on
                error = {"id": record_id, "error": f"line {lineno}: {type(exc).__name__}: {exc}"}
                encoded = _json_line(error)
            out.write(encoded)
            out.flush()
    except OSError as exc:
        _fail(f"batch stopped: cannot read stdin or write stdout: {exc.strerror or exc}", code=1)


def _require_jsonl(jsonl: bool) -> None:
    if not jsonl:
        _fail("this command works on JSON Lines: pass --jsonl and feed records on stdin")


def _print_table(table: Table) -> None:
    """A table on stdout; piped into a file or another program, at its full width rather than 80
    columns, so that no cell (an address, say) is cut."""
    out = Console()
    if not out.is_terminal:
        natural = out.measure(table, options=out.options.update_width(10_000)).maximum
        out = Console(width=max(out.width, natural))
    out.print(table)


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
    if report.delivery not in (None, "sent"):
        console.print(f"[red]Delivery {report.delivery}:[/red] "
                      + (report.delivery_problem or "some messages are still to send; run again to send them"))


def _run_flow(config: Path, edition_date: str | None, *, send: bool, force: bool = False,  # noqa: ANN202
              retry_failed: bool = False):
    """Validate the inputs here, so a typo is one clear line, then run the Prefect flow.

    Returns the run's report, also when delivery stopped short (the flow run is Failed then)."""
    try:
        settings = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        day = date.fromisoformat(edition_date) if edition_date else None
    except ValueError:
        _fail(f"--date {edition_date!r} is not a date (YYYY-MM-DD)")
    try:
        with progress.shown_on(console) as tracker:
            api = os.environ.get("PREFECT_API_URL")
            tracker.start("prefect", note=f"importing Prefect, API at {api}" if api else
                          "importing Prefect, starting its temporary API")
            if send:
                _require_secret(config, settings)
            from flows.daily_digest import daily_digest

            state = daily_digest(edition_date=day, config_path=str(config), send=send, force=force,
                                 retry_failed=retry_failed, return_state=True)
    except RuntimeError as exc:
        if "ephemeral Prefect API" not in str(exc):
            raise
        limit = os.environ.get(EPHEMERAL_TIMEOUT_ENV)
        _fail(f"Prefect's temporary API did not start within {limit} s (is the machine busy?): "
              f"set {EPHEMERAL_TIMEOUT_ENV} higher, or PREFECT_API_URL to a running Prefect server",
              code=1)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result


def _require_secret(config: Path, settings) -> None:  # noqa: ANN001 - Config
    """Check the key that signs every message's links is there before the run does any work:
    DIGEST_SECRET_KEY, the Prefect Secret block, or (no SMTP, SQLite store) the generated key."""
    from digest.subscribers import secret_key

    try:
        secret_key(settings)
        return
    except RuntimeError:
        from flows.daily_digest import _secrets_from_blocks

        _secrets_from_blocks(settings)
    try:
        secret_key(settings)
    except RuntimeError as exc:
        _fail(f"{config}: {exc} (or save it as the Prefect Secret block 'digest-secret-key')")


DateOption = Annotated[str | None, typer.Option("--date", help="Edition date, YYYY-MM-DD (default: today in the configured zone).")]


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
    if report.delivery not in (None, "sent"):
        raise typer.Exit(EXIT_UNDELIVERED)


@app.command()
def preview(config: ConfigOption = DEFAULT_CONFIG, edition_date: DateOption = None) -> None:
    """Build an edition without delivering it, and say where to open the HTML."""
    report = _run_flow(config, edition_date, send=False)
    if not report.html_path:
        _fail("no edition was rendered")
    Console().print(f"Open [bold]{Path(report.html_path).resolve().as_uri()}[/bold] in a browser.")


@app.command()
def extract(jsonl: JsonlFlag = False) -> None:
    """{"id","url","html"} → {"id","title","text","published"}."""
    _require_jsonl(jsonl)
    from digest.extract import extract_html

    def process(record: dict[str, Any]) -> dict[str, Any]:
        found = extract_html(record["html"], url=record.get("url"))
        return {"title": found.title, "text": found.text,
                "published": found.published.isoformat() if found.published else None}

    _run_jsonl(process)


@app.command()
def summarize(
    jsonl: JsonlFlag = False,
    sentences: Annotated[int, typer.Option("--sentences", "-n", min=1, max=10)] = 2,
) -> None:
    r"""{"id","title","text"} → {"id","summary":\[sentence, …]}."""
    _require_jsonl(jsonl)
    from digest.summarize import summarize as summarize_text

    def process(record: dict[str, Any]) -> dict[str, Any]:
        return {"summary": summarize_text(record["text"], title=record.get("title"),
                                          sentences=sentences, language=record.get("language"))}

    _run_jsonl(process)


@app.command()
def locate(
    jsonl: JsonlFlag = False,
    regions: Annotated[Path | None, typer.Option("--regions", help="A country→region table (CSV).")] = None,
) -> None:
    """{"id","title","text"} → {"id","country","division","region","countries","regions"}."""
    _require_jsonl(jsonl)
    from digest.gazetteer import load_gazetteer
    from digest.regions import load_region_table, locate as locate_story

    table = load_region_table(regions)
    gazetteer = load_gazetteer()  # builds the index on first use (under a minute)

    def process(record: dict[str, Any]) -> dict[str, Any]:
        found = locate_story(record.get("title") or "", record["text"], table, gazetteer)
        return {"country": found.country, "division": found.division, "region": found.region,
                "countries": [[code, round(score, 3)] for code, score in found.countries],
                "regions": list(found.regions)}

    _run_jsonl(process)


@app.command()
def cluster(jsonl: JsonlFlag = False) -> None:
    """{"id","title","text"[,"published","source"]} → {"id","story"}: one story value per event.

    Reads the whole input first (a story needs all its articles). Stories are numbered s1, s2, …
    in the order of their first article; a "published" time without a zone is read as UTC.
    """
    _require_jsonl(jsonl)
    from datetime import UTC, datetime

    from digest.stories import Report, group

    answers: list[dict[str, Any]] = []
    reports: list[Report] = []
    at: list[int] = []  # answer line of each report
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        record_id: Any = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            record_id = record.get("id")
            if not isinstance(record.get("text"), str):
                raise ValueError('"text" must be a string')
            published = datetime.fromisoformat(record["published"]) if record.get("published") else None
            if published is not None and published.tzinfo is None:
                published = published.replace(tzinfo=UTC)
            reports.append(Report(str(record.get("title") or ""), record["text"], published))
            at.append(len(answers))
            answers.append({"id": record_id})
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
            answers.append({"id": record_id, "error": f"line {lineno}: {type(exc).__name__}: {exc}"})
    for number, members in enumerate(group(reports), start=1):
        for member in members:
            answers[at[member]]["story"] = f"s{number}"
    for answer in answers:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, default=str) + "\n")


# --- collection commands (owned by the collection helper) ---

sources_app = typer.Typer(help="The configured sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("check")
def sources_check(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")] = False,
) -> None:
    """Fetch each source once (feeds only, not their pages) and show status, entries, newest entry, error."""
    from datetime import UTC, datetime

    from digest.collect import collect_all

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    cfg.sources = [s.model_copy(update={"fetch_pages": False}) for s in cfg.sources]
    results = collect_all(cfg, now=datetime.now(UTC))
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


@app.command("feed")
def feed_entries(
    location: Annotated[str, typer.Argument(metavar="URL_OR_PATH", help="A feed URL or file (or a page that links to its feed).")],
    # The output is JSON Lines either way and nothing is read from stdin; the flag is accepted
    # for symmetry with the batch commands.
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Accepted; the output is JSON Lines anyway.")] = False,  # noqa: ARG001
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds before giving up on a slow server.")] = 20.0,
    local: Annotated[bool, typer.Option("--local", help="Allow loopback and private addresses (a feed on your own network).")] = False,
) -> None:
    """Parse one feed and print its entries as JSON Lines: title, link, published, summary, id."""
    from digest.collect import FeedError, fetch_feed
    from digest.fetch import FetchError, FetchPolicy, Fetcher

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

# --- end collection commands ---

# --- subscriber and web commands (owned by the delivery helper) ---

subscribers_app = typer.Typer(help="Manage subscribers: add, import, list, remove, reactivate, export.",
                              no_args_is_help=True)
app.add_typer(subscribers_app, name="subscribers")


def _subscriber_store(config_path: Path):  # noqa: ANN202 - (Config, Engine)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _fail(str(exc))
    from digest.store import open_store

    return config, open_store(config.store_url)


def _check_status(status: str | None) -> None:
    from digest.subscribers import STATUSES

    if status is not None and status not in STATUSES:
        _fail(f"--status {status!r} is not a subscriber status; use one of {', '.join(STATUSES)}")


@subscribers_app.command("add")
def subscribers_add(
    email: Annotated[str, typer.Argument(help="The address to add (or update).")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    region: Annotated[list[str] | None, typer.Option("--region", "-r", help="A region to receive; repeat; none: all.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add an active subscriber, or set an existing one's name and regions."""
    from digest import subscribers as subs

    settings, engine = _subscriber_store(config)
    try:
        address = subs.normalize_email(email)
        regions = subs.known_regions(region or None, subs.region_names(settings))
    except subs.SubscriberError as exc:
        _fail(str(exc))
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

    settings, engine = _subscriber_store(config)
    if pending:
        try:
            subs.secret_key(settings)  # the confirmation links are signed: fail before importing
        except RuntimeError as exc:
            _fail(f"{config}: {exc}")
    report = subs.import_csv(engine, csv_file, regions=subs.region_names(settings),
                             status=subs.PENDING if pending else subs.ACTIVE)
    for error in report.errors:
        console.print(f"[yellow]skipped:[/yellow] {error}")
    console.print(f"added {report.added}{' as pending' if pending else ''}, already there {report.existing}, "
                  f"skipped {len(report.errors)}")
    if pending:
        where = "mailed" if settings.mail.smtp else f"written to {settings.outbox_dir / notices.OUTBOX_FOLDER}"
        console.print(f"sending {len(report.pending)} confirmation mails, {rate:g} a second at most")
        mailed = notices.confirm_pending(settings, engine, report.pending, rate)
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

    _, engine = _subscriber_store(config)
    try:
        found = subs.reactivate(engine, email)
    except subs.SubscriberError as exc:
        _fail(str(exc))
    if not found:
        _fail(f"{email} is not in the subscriber list", code=1)
    console.print(f"{email} is active")


@subscribers_app.command("list")
def subscribers_list(
    status: Annotated[str | None, typer.Option("--status", help="pending, active, unsubscribed or bounced.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Show subscribers with their status and regions."""
    from digest import subscribers as subs

    _check_status(status)
    _, engine = _subscriber_store(config)
    table = Table()
    for column in ("Email", "Name", "Regions", "Status", "Since"):
        table.add_column(column, overflow="fold")  # an address is folded on a narrow terminal, never cut
    for row in subs.list_subscribers(engine, status):
        state = row.status + (" (paused)" if row.paused_at else "")
        table.add_row(row.email, row.name or "", "; ".join(row.regions or ["all"]), state,
                      f"{row.updated_at:%Y-%m-%d %H:%M}")
    _print_table(table)


@subscribers_app.command("remove")
def subscribers_remove(
    email: str,
    forget: Annotated[bool, typer.Option("--forget", help="Delete the address and its delivery history instead of unsubscribing it.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Unsubscribe an address (kept so no import brings it back), or erase it with --forget."""
    from digest import subscribers as subs

    _, engine = _subscriber_store(config)
    if not (subs.forget if forget else subs.unsubscribe)(engine, email):
        _fail(f"{email} is not in the subscriber list", code=1)
    console.print(f"{'forgot' if forget else 'unsubscribed'} {email}")


@subscribers_app.command("export")
def subscribers_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="CSV file (default: stdout).")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Write subscribers as CSV (email,name,regions,status and the time of each change)."""
    import csv

    from digest import subscribers as subs

    _check_status(status)
    _, engine = _subscriber_store(config)
    handle = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    writer = csv.writer(handle)
    writer.writerow(["email", "name", "regions", "status", "created_at", "confirmed_at",
                     "paused_at", "unsubscribed_at", "bounced_at"])
    for row in subs.list_subscribers(engine, status):
        writer.writerow([row.email, row.name or "", ";".join(row.regions or []), row.status]
                        + [(t.isoformat() if t else "") for t in (row.created_at, row.confirmed_at,
                                                                  row.paused_at, row.unsubscribed_at, row.bounced_at)])
    if output:
        handle.close()
        console.print(f"wrote {output}")


@app.command()
def web(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Serve the subscription pages and the archive (uvicorn). Behind a proxy, keep --host local
    and name the proxy in `web.trusted_proxies`: only its X-Forwarded-For is believed."""
    import uvicorn

    from digest.web import create_app, server_config

    loaded, engine = _subscriber_store(config)
    try:
        application = create_app(loaded, engine)
    except RuntimeError as exc:  # no key to sign links with
        _fail(f"{config}: {exc}")
    uvicorn.Server(server_config(application, host, port)).run()

# --- end subscriber and web commands ---

# --- orchestration commands (owned by the orchestration helper) ---

@app.command()
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
    try:
        settings = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    from flows.daily_digest import DeploymentTaken, serve as serve_flow

    console.print(f"Serving deployment daily-digest/{name} from this process (the work pool's, if deployed, "
                  f"is daily-digest/daily): {cron} ({settings.edition.timezone}), config {config.resolve()}")
    try:
        serve_flow(config.resolve(), settings.edition.timezone, cron=cron, name=name, send=send)
    except DeploymentTaken as exc:
        _fail(str(exc))


# --- end orchestration commands ---

# --- operator commands: set-up, history, test sends ---

@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The folder to set up (created if missing).")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing digest.toml and sample/.")] = False,
) -> None:
    """Write a commented starter digest.toml and the bundled sample corpus into DIRECTORY."""
    from digest.starter import SAMPLE_DATE, StarterError, write_starter

    try:
        starter = write_starter(directory, force=force)
    except StarterError as exc:
        _fail(str(exc))
    console.print(f"wrote {starter.config} and {starter.sample}/ (Wikinews, CC BY 2.5: see CREDITS.md)")
    console.print(f"next: cd {directory} && digest run --date {SAMPLE_DATE}   "
                  "# the sample edition, into out/")


editions_app = typer.Typer(help="Past editions: `digest editions` lists them, `show DATE` tells one.")
app.add_typer(editions_app, name="editions")
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")]


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

    _, engine = _subscriber_store(config)
    editions = list_editions(engine, limit)
    if as_json:
        sys.stdout.write(json.dumps([e.as_json() for e in editions], ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Editions in {config}")
    for column in ("Date", "Status", "Stories", "Per region", "Subscribers", "Deliveries", "Held because", "Run time"):
        table.add_column(column, justify="right" if column in ("Stories", "Subscribers", "Run time") else "left",
                         overflow="fold")
    for e in editions:
        colour = {"held": "yellow", "sent": "green"}.get(e.status, "white")
        table.add_row(e.id, f"[{colour}]{e.status}[/{colour}]", "—" if e.stories is None else str(e.stories),
                      _counts(e.regions), str(e.subscribers), _counts(e.deliveries),
                      "; ".join(e.held_reasons), "—" if e.run_seconds is None else f"{e.run_seconds:g} s")
    _print_table(table)
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

    _, engine = _subscriber_store(config)
    try:
        detail = edition_detail(engine, edition_id)
    except LookupError as exc:
        _fail(str(exc), code=1)
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
        _print_table(failed)
    if detail.problems:
        problems = Table(title="Deliveries that did not go out")
        for column in ("Subscriber", "Status", "Attempts", "Last error"):
            problems.add_column(column, overflow="fold")
        for o in detail.problems:
            problems.add_row(o.email, o.status, str(o.attempts), o.last_error or "")
        _print_table(problems)


@app.command("send-test")
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

    loaded, engine = _subscriber_store(config)
    try:
        day = date.fromisoformat(edition_date) if edition_date else datetime.now(loaded.edition.zone).date()
    except ValueError:
        _fail(f"--date {edition_date!r} is not a date (YYYY-MM-DD)")
    try:
        proof = send_proof(engine, loaded, address, as_subscriber=as_subscriber, edition_date=day)
    except ProofError as exc:
        _fail(str(exc), code=1)
    if proof.stories == 0:
        console.print(f"[yellow]warning:[/yellow] the store has no stories for {proof.edition_id} "
                      f"in {proof.subscriber.email}'s regions yet (`digest preview` collects them)")
    console.print(f"sent {proof.subscriber.email}'s message for {proof.edition_id} "
                  f"({proof.stories} stories) to {proof.to}: {proof.where}")

# --- end operator commands ---


# --- bounce mailbox (owned by the bounces helper) ---


@app.command("bounces")
def bounces_command(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Read the bounce mailbox (the mail.imap section): mark dead addresses bounced, honour mailed unsubscribes,
    move what was dealt with to the processed folder; the rest stays in the inbox for you."""
    from rich.markup import escape

    from digest import bounces

    settings, engine = _subscriber_store(config)
    if settings.mail.imap is None:
        _fail(f"{escape(str(config))}: no \\[mail.imap] section: add one naming the mailbox bounces and unsubscribe "
              "mails arrive in (host, username, password_env; see the README)")
    try:
        report = bounces.process_mailbox(settings, engine)
    except bounces.BounceError as exc:
        _fail(escape(str(exc)), code=1)
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
        _print_table(table)
    console.print(bounces.summary(report.mails))


if __name__ == "__main__":
    app()
