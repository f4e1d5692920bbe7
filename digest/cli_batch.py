"""The batch commands, one per stage: `extract`, `summarize`, `locate`, `cluster`.

They read JSON Lines on stdin and write one JSON line per input line, same `id`, same order; a
line that cannot be processed (not UTF-8, not a JSON object, empty, a NaN or out-of-range
number) yields {"id", "error"} and the batch goes on.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from digest.cli_common import JsonlFlag, fail, gazetteer_for
from digest.summarizers import DEFAULT as DEFAULT_SUMMARIZER
from digest.summarizers import SUMMARIZERS, get_summarizer

commands = typer.Typer()


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


def run_jsonl(process: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
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
        fail(f"batch stopped: cannot read stdin or write stdout: {exc.strerror or exc}", code=1)


def require_jsonl(jsonl: bool) -> None:
    if not jsonl:
        fail("this command works on JSON Lines: pass --jsonl and feed records on stdin")

@commands.command()
def extract(jsonl: JsonlFlag = False) -> None:
    """{"id","url","html"} → {"id","title","text","published"}."""
    require_jsonl(jsonl)
    from digest.extract import extract_html

    def process(record: dict[str, Any]) -> dict[str, Any]:
        found = extract_html(record["html"], url=record.get("url"))
        return {"title": found.title, "text": found.text,
                "published": found.published.isoformat() if found.published else None}

    run_jsonl(process)


@commands.command()
def summarize(
    jsonl: JsonlFlag = False,
    sentences: Annotated[int, typer.Option("--sentences", "-n", min=1, max=10)] = 2,
    summarizer: Annotated[str, typer.Option(
        "--summarizer", help=f"One of {', '.join(sorted(SUMMARIZERS))}.")] = DEFAULT_SUMMARIZER,
) -> None:
    r"""{"id","title","text"} → {"id","summary":\[sentence, …]}."""
    require_jsonl(jsonl)
    try:
        summarize_text = get_summarizer(summarizer).summarize
    except ValueError as exc:
        fail(f"--summarizer: {exc}")

    def process(record: dict[str, Any]) -> dict[str, Any]:
        return {"summary": summarize_text(record["text"], record.get("title"), sentences, record.get("language"))}

    run_jsonl(process)


@commands.command()
def locate(
    jsonl: JsonlFlag = False,
    regions: Annotated[Path | None, typer.Option("--regions", help="A country→region table (CSV).")] = None,
    home: Annotated[str | None, typer.Option("--home", help="The outlet's ISO code (US-LA, GB) for every record "
                                                            "without its own \"home\".")] = None,
) -> None:
    """{"id","title","text"[,"home"]} → {"id","country","division","region","countries","regions"}."""
    require_jsonl(jsonl)
    from digest.regions import home_code, load_region_table
    from digest.regions import locate as locate_story

    try:
        default_home = home_code(home) if home is not None else None
    except ValueError:
        fail(f"--home {home!r} is not an ISO 3166 country or division code (GB, US-LA)")
    table = load_region_table(regions)
    gazetteer = gazetteer_for()

    def process(record: dict[str, Any]) -> dict[str, Any]:
        own = record.get("home")
        if own is not None and not isinstance(own, str):
            raise ValueError(f"home {own!r} is not an ISO 3166 country or division code")
        found = locate_story(record.get("title") or "", record["text"], table, gazetteer,
                             home_code(own) if own else default_home)
        return {"country": found.country, "division": found.division, "region": found.region,
                "countries": [[code, round(score, 3)] for code, score in found.countries],
                "regions": list(found.regions)}

    run_jsonl(process)


@commands.command()
def cluster(jsonl: JsonlFlag = False) -> None:
    """{"id","title","text"[,"published","source"]} → {"id","story"}: one story value per event.

    Reads the whole input first (a story needs all its articles). Stories are numbered s1, s2, …
    in the order of their first article; a "published" time without a zone is read as UTC.
    """
    require_jsonl(jsonl)
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
