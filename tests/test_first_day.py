"""Small things a new operator meets on the first day with the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.starter import write_starter

ROOT = Path(__file__).resolve().parent.parent
LONG = "a-long-address-for-the-newsroom-desk.of.the.evening.team@subdomain.example-newsroom.org"


@pytest.fixture
def config(tmp_path) -> str:
    path = str(write_starter(tmp_path).config)
    for address in ("ada@example.org", LONG):
        added = CliRunner().invoke(app, ["subscribers", "add", address, "--name", "Someone With A Long Name",
                                         "-r", "Australia & Oceania", "-r", "Europe", "--config", path])
        assert added.exit_code == 0, added.output
    return path


def test_feed_prints_its_entries_without_being_asked_for_jsonl():
    result = CliRunner().invoke(app, ["feed", str(ROOT / "sample" / "feeds" / "wire.atom")])
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(entries) == 20 and all(e["title"] and e["link"] for e in entries)
    again = CliRunner().invoke(app, ["feed", str(ROOT / "sample" / "feeds" / "wire.atom"), "--jsonl"])
    assert again.stdout == result.stdout


def test_subscribers_list_piped_prints_every_address_whole(config):
    result = CliRunner().invoke(app, ["subscribers", "list", "--config", config])
    assert result.exit_code == 0, result.output
    assert re.search(rf"│ {re.escape(LONG)} +│ Someone With A Long Name +│ Australia & Oceania; Europe", result.stdout)


def test_subscribers_list_on_a_narrow_terminal_folds_addresses_rather_than_cutting_them(config, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats the output as a terminal …
    monkeypatch.setenv("COLUMNS", "80")  # … of 80 columns
    result = CliRunner().invoke(app, ["subscribers", "list", "--config", config])
    assert result.exit_code == 0, result.output
    lines = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    first_column = "".join(line.split("│")[1].strip() for line in lines if line.count("│") > 2)
    assert LONG in first_column


@pytest.mark.parametrize("command", ["list", "export"])
def test_an_unknown_status_is_an_error_listing_the_statuses(config, command):
    result = CliRunner().invoke(app, ["subscribers", command, "--status", "bogus", "--config", config])
    assert result.exit_code == 2
    assert "--status 'bogus' is not a subscriber status; use one of pending, active, unsubscribed, bounced" \
        in result.output
    assert "ada@example.org" not in result.output
