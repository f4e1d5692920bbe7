"""The `digest` command line: the daily job, a preview, and batch commands per stage.

Batch commands read JSON Lines on stdin and write one JSON line per input line, same
`id`, same order; a line that cannot be processed yields {"id", "error"} and the batch
goes on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from digest.config import DEFAULT_CONFIG, ConfigError, load_config

app = typer.Typer(help="Regional news digest: collect, summarize, group by region, render, deliver.",
                  no_args_is_help=True, add_completion=False)
console = Console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to digest.toml.")]
JsonlFlag = Annotated[bool, typer.Option("--jsonl", help="Read JSON Lines on stdin, write JSON Lines.")]


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _run_jsonl(process: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """One output line per input line; errors become {"id", "error"} lines."""
    out = sys.stdout
    for lineno, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        record_id: Any = None
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("expected a JSON object")
            record_id = record.get("id")
            result = {"id": record_id, **process(record)}
        except Exception as exc:  # noqa: BLE001 - any failure of one line is reported, the batch goes on
            result = {"id": record_id, "error": f"line {lineno}: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        out.flush()


def _require_jsonl(jsonl: bool) -> None:
    if not jsonl:
        _fail("this command works on JSON Lines: pass --jsonl and feed records on stdin")


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


@app.command()
def run(
    config: ConfigOption = DEFAULT_CONFIG,
    edition_date: Annotated[str | None, typer.Option("--date", help="Edition date, YYYY-MM-DD (default: today in the configured zone).")] = None,
    send: Annotated[bool, typer.Option("--send/--dry-run", help="Deliver (outbox or SMTP) or only build.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Send even if the quality gate holds the edition.")] = False,
) -> None:
    """Run the daily job: a Prefect flow run of `daily-digest`."""
    try:
        load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    from flows.daily_digest import daily_digest

    report = daily_digest(edition_date=date.fromisoformat(edition_date) if edition_date else None,
                          config_path=str(config), send=send, force=force)
    _print_report(report)


@app.command()
def preview(
    config: ConfigOption = DEFAULT_CONFIG,
    edition_date: Annotated[str | None, typer.Option("--date", help="Edition date, YYYY-MM-DD.")] = None,
) -> None:
    """Build an edition without delivering it, and say where to open the HTML."""
    try:
        load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    from flows.daily_digest import daily_digest

    report = daily_digest(edition_date=date.fromisoformat(edition_date) if edition_date else None,
                          config_path=str(config), send=False)
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
    """{"id","title","text"} → {"id","summary":[sentence, …]}."""
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
    """{"id","title","text"} → {"id","country","region","countries","regions"}."""
    _require_jsonl(jsonl)
    from digest.regions import load_region_table, locate as locate_story

    table = load_region_table(regions)

    def process(record: dict[str, Any]) -> dict[str, Any]:
        found = locate_story(record.get("title") or "", record["text"], table)
        return {"country": found.country, "region": found.region,
                "countries": [[code, round(score, 3)] for code, score in found.countries],
                "regions": list(found.regions)}

    _run_jsonl(process)


# --- collection commands (owned by the collection helper) ---

# --- end collection commands ---

# --- subscriber and web commands (owned by the delivery helper) ---

# --- end subscriber and web commands ---

# --- orchestration commands (owned by the orchestration helper) ---

# --- end orchestration commands ---


if __name__ == "__main__":
    app()
