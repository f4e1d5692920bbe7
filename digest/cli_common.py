"""What the `digest` commands share: the console, exit codes, common options, and the edge
helpers that load a config, open its store and resolve its secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True, soft_wrap=True)

# digest.config's default path, named here because importing that module (its pydantic models,
# email validation, the region table: about 0.1 s of CPU) would slow the start of the batch
# commands, which read no configuration; `load_settings` imports it when a command needs it.
DEFAULT_CONFIG = Path("digest.toml")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to digest.toml.")]
JsonlFlag = Annotated[bool, typer.Option("--jsonl", help="Read JSON Lines on stdin, write JSON Lines.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document for scripts.")]
DateOption = Annotated[str | None, typer.Option("--date", help="Edition date, YYYY-MM-DD (default: today in the configured zone).")]

# Exit codes of `digest run` (and `subscribers import`), for cron and CI; documented in the README.
EXIT_OK = 0  # sent (or, for a dry run or preview, built)
EXIT_USAGE = 2  # bad options or configuration: nothing was run
EXIT_HELD = 3  # the quality gate held the edition: nothing was sent
EXIT_UNDELIVERED = 4  # delivery stopped short (partial or deferred): a rerun sends the rest
EXIT_SKIPPED = 5  # `subscribers import`: some rows were skipped, the others imported


def fail(message: str, code: int = EXIT_USAGE) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def print_table(table: Table) -> None:
    """A table on stdout; piped into a file or another program, at its full width rather than 80
    columns, so that no cell (an address, say) is cut."""
    out = Console()
    if not out.is_terminal:
        natural = out.measure(table, options=out.options.update_width(10_000)).maximum
        out = Console(width=max(out.width, natural))
    out.print(table)


def secrets_for(settings, fallback=None):  # noqa: ANN001, ANN202 - Config, Fallback → Secrets
    """The secrets a command passes down, from this process's environment (and `fallback`)."""
    from digest.credentials import resolve_secrets

    return resolve_secrets(settings, os.environ, fallback)


def gazetteer_for():  # noqa: ANN201 - Gazetteer, imported lazily
    """The gazetteer where this process's environment puts it, built on first use (under a minute)."""
    from digest.config import gazetteer_path
    from digest.gazetteer import load_gazetteer

    return load_gazetteer(gazetteer_path(os.environ))


def load_settings(config_path: Path):  # noqa: ANN201 - Config, imported lazily
    """The loaded config, or one clear line naming the file and key (exit 2)."""
    from digest.config_file import ConfigError, load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


def subscriber_store(config_path: Path):  # noqa: ANN202 - (Config, Engine)
    config = load_settings(config_path)
    from digest.store import open_store

    return config, open_store(config.store_url)
