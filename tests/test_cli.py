"""The batch commands: JSON Lines in, one JSON line out per input line, same id, same order."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from digest.cli import app

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "sample" / "articles" / "syrian-peace-talks-astana.txt"
SAMPLE_PAGE = next((ROOT / "sample" / "pages").glob("notre-dame*.html"))


def run_jsonl(args: list[str], records: list) -> list[dict]:
    stdin = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    result = CliRunner().invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def seed_body() -> str:
    text = SEED.read_text(encoding="utf-8")
    return text[text.index("ASTANA:"):text.index("Courtesy :")]


def test_summarize_keeps_ids_and_order_and_reports_bad_lines():
    out = run_jsonl(["summarize", "--jsonl", "--sentences", "2"], [
        {"id": "seed", "title": "First day of Syrian peace talks end without breakthrough", "text": seed_body()},
        "this is not json",
        {"id": "no-text", "title": "Missing text"},
        {"id": 7, "title": "Short", "text": "A short item. It has two sentences."},
    ])
    assert [line.get("id") for line in out] == ["seed", None, "no-text", 7]
    assert 1 <= len(out[0]["summary"]) <= 2
    assert "breakthrough" in " ".join(out[0]["summary"])
    assert "error" in out[1] and "line 2" in out[1]["error"]
    assert "error" in out[2] and "text" in out[2]["error"]
    assert out[3]["summary"]


def test_locate_puts_the_seed_in_the_middle_east_not_kazakhstan():
    out = run_jsonl(["locate", "--jsonl"], [
        {"id": "seed", "title": "First day of Syrian peace talks end without breakthrough", "text": seed_body()},
        {"id": "nowhere", "title": "Recipe", "text": "Mix the flour with water and bake for an hour."},
    ])
    assert out[0]["country"] == "SY" and out[0]["region"] == "Middle East"
    assert out[0]["countries"][0][0] == "SY"
    assert out[1]["country"] is None and out[1]["region"] == "Global"


def test_extract_returns_title_text_and_date_of_a_page():
    html = SAMPLE_PAGE.read_text(encoding="utf-8")
    out = run_jsonl(["extract", "--jsonl"], [
        {"id": "page", "url": "https://example.org/notre-dame", "html": html},
        {"id": "empty", "url": "https://example.org/empty", "html": "<html><body></body></html>"},
    ])
    assert out[0]["title"] == "Notre Dame in Paris catches fire"
    assert out[0]["text"].startswith("The roof of Notre Dame cathedral")
    assert "Most read" not in out[0]["text"] and "Creative Commons" not in out[0]["text"]
    assert out[0]["published"].startswith("2017-10-17")
    assert out[1]["id"] == "empty" and "error" in out[1]


def test_batch_commands_need_the_jsonl_flag():
    result = CliRunner().invoke(app, ["summarize"], input="")
    assert result.exit_code == 2
    assert "--jsonl" in result.output


def test_run_names_a_missing_config_file_without_a_traceback(tmp_path):
    result = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2
    assert "nope.toml: config file not found" in result.output
    assert "Traceback" not in result.output


def test_run_rejects_a_date_that_is_not_a_date():
    result = CliRunner().invoke(app, ["run", "--config", str(ROOT / "digest.toml"), "--date", "2017-13-01"])
    assert result.exit_code == 2
    assert "'2017-13-01' is not a date" in result.output


def test_a_config_error_names_the_file_and_the_field(tmp_path):
    bad = tmp_path / "digest.toml"
    bad.write_text('[edition]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["preview", "--config", str(bad)])
    assert result.exit_code == 2
    assert "digest.toml" in result.output and "edition.timezone" in result.output
