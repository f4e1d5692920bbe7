"""The command line: batch commands (JSON Lines in, one JSON line out per input line, same id,
same order, whatever the bytes), subscriber commands, and `digest run` failing in one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_locate_reads_a_bare_town_as_the_outlets_when_given_its_home():
    story = {"title": "Break-in at pharmacy", "text": "London police are investigating a break-in at a pharmacy."}
    out = run_jsonl(["locate", "--jsonl", "--home", "ca-on"], [
        {"id": "given", **story}, {"id": "own", **story, "home": "GB"}, {"id": "bad", **story, "home": "Ontario"}])
    assert (out[0]["country"], out[0]["division"]) == ("CA", "CA-ON")
    assert out[1]["country"] == "GB"
    assert "error" in out[2] and "'Ontario'" in out[2]["error"]
    refused = CliRunner().invoke(app, ["locate", "--jsonl", "--home", "Ontario"], input="")
    assert refused.exit_code == 2 and "--home 'Ontario'" in refused.output


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


# --- batch commands on odd bytes ------------------------------------------------------------

ODD_LINES = [
    b'\xef\xbb\xbf{"id": "bom", "title": "Kenya", "text": "Nairobi voted today."}',  # BOM first
    b'{"id": "latin-1", "text": "Caf\xe9 in Paris"}',                               # not UTF-8
    b'{"id": NaN, "text": "Rome"}',
    b'{"id": Infinity, "text": "Rome"}',
    b'{"id": 1e999, "text": "Rome"}',
    b'',
    b'[1, 2]',
    b'{"id": "surrogate", "title": "\\ud800", "text": "Lima is in Peru. \\udfff"}',
    b'{"id": "last", "text": "Berlin, Germany."}',
]


def run_batch(stdin: bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`digest locate --jsonl` as a pipeline runs it: a real process, bytes in, bytes out."""
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "digest.cli", "locate", "--jsonl"], input=stdin,
                          capture_output=True, env=env, timeout=120)


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_every_input_line_gets_exactly_one_valid_json_line_whatever_its_bytes(locale):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8", "PYTHONIOENC"))}
    result = run_batch(b"\n".join(ODD_LINES) + b"\n", dict(env, LC_ALL=locale, PYTHONUTF8="0"))
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    lines = result.stdout.decode("utf-8").splitlines()  # the output is UTF-8 in any locale
    assert len(lines) == len(ODD_LINES)
    out = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the output")) for line in lines]
    assert out[0]["id"] == "bom" and out[0]["region"] == "Africa"
    assert out[1]["id"] is None and "line 2" in out[1]["error"] and "UnicodeDecodeError" in out[1]["error"]
    for number in (3, 4, 5):
        assert out[number - 1]["id"] is None and f"line {number}" in out[number - 1]["error"]
    assert "empty line" in out[5]["error"] and "expected a JSON object" in out[6]["error"]
    assert out[7]["id"] == "surrogate" and "region" in out[7]
    assert out[8]["id"] == "last" and out[8]["country"] == "DE"


def test_a_result_that_is_not_valid_json_becomes_an_error_line(monkeypatch, capsysbinary):
    from digest import cli_batch

    monkeypatch.setattr(sys, "stdin", _BytesStdin(b'{"id": 1}\n{"id": 2}\n'))
    cli_batch.run_jsonl(lambda record: {"score": math.nan if record["id"] == 1 else 0.5})
    first, second = (json.loads(line) for line in capsysbinary.readouterr().out.splitlines())
    assert first["id"] == 1 and "Out of range float values are not JSON compliant" in first["error"]
    assert second == {"id": 2, "score": 0.5}


class _BytesStdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)


# --- subscriber commands ------------------------------------------------------------------


def sample_config(tmp_path: Path) -> Path:
    """The sample config (its sources and subscribers) with its store and output in tmp_path."""
    (tmp_path / "sample").symlink_to(ROOT / "sample")
    config = tmp_path / "digest.toml"
    config.write_text((ROOT / "digest.toml").read_text(encoding="utf-8"), encoding="utf-8")
    return config


def test_adding_a_subscriber_with_an_unknown_region_lists_the_valid_ones(tmp_path):
    config = sample_config(tmp_path)
    result = CliRunner().invoke(app, ["subscribers", "add", "x@example.org", "-r", "Eurpoe", "--config", str(config)])
    assert result.exit_code == 2
    assert "unknown region 'Eurpoe'; the regions are: " in result.output
    assert "Europe" in result.output and "Middle East" in result.output
    listed = CliRunner().invoke(app, ["subscribers", "list", "--config", str(config)])
    assert "x@example.org" not in listed.output


def test_adding_a_subscriber_takes_region_names_in_any_case_and_an_idna_domain(tmp_path):
    config = sample_config(tmp_path)
    result = CliRunner().invoke(app, ["subscribers", "add", "Ana@Bücher.de", "-r", "middle east",
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "added ana@xn--bcher-kva.de" in result.output
    exported = CliRunner().invoke(app, ["subscribers", "export", "--config", str(config)])
    assert "ana@xn--bcher-kva.de,,Middle East,active" in exported.stdout


def test_adding_an_address_the_sender_cannot_use_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["subscribers", "add", "üser@example.org", "--config", str(sample_config(tmp_path))])
    assert result.exit_code == 2 and "before the @" in result.output


def test_a_csv_import_skips_lines_with_unknown_regions(tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("ana@example.org,Ana,Europe\nbob@example.org,Bob,Atlantis\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["subscribers", "import", str(people), "--config", str(sample_config(tmp_path))])
    assert "unknown region 'Atlantis'" in result.output
    assert "added 1, already there 0, skipped 1" in result.output


# --- digest run: one line, not a traceback ------------------------------------------------


def run_digest(config: Path, **env: str) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=str(ROOT), PREFECT_HOME=str(config.parent / "prefect-home"),
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="200", **env)
    environ.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "digest.cli", "run", "--config", str(config),
                           "--date", "2017-10-18"], capture_output=True, text=True, env=environ,
                          timeout=900, cwd=config.parent)


def test_a_binary_config_is_named_as_such_not_as_a_bad_date(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_bytes(b"\x00\x01\xff\xfe binary")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--date", "2017-10-18"])
    assert result.exit_code == 2
    assert "not a text file" in result.output and "is not a date" not in result.output


@pytest.mark.slow  # starts Prefect's temporary API to look for the key's Secret block
def test_smtp_without_a_signing_key_stops_the_run_before_any_work(tmp_path):
    config = sample_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + '\n[mail.smtp]\nhost = "127.0.0.1"\n', encoding="utf-8")
    result = run_digest(config, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
                        **{"DIGEST_SECRET_KEY": ""})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{config}: mail.smtp: an SMTP server is configured, so DIGEST_SECRET_KEY must be set" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow  # a real `digest run`: importing Prefect and the flow takes a while on a busy machine
def test_a_temporary_api_that_does_not_start_is_one_line_saying_what_to_set(tmp_path):
    result = run_digest(sample_config(tmp_path), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher" in error


BUSY_SECONDS = 90


@pytest.mark.slow
def test_the_sample_run_succeeds_while_two_busy_processes_load_the_cpu(tmp_path):
    # Each spins for BUSY_SECONDS and then ends by itself, whatever happens to this test.
    spin = f"import time\nend = time.monotonic() + {BUSY_SECONDS}\nwhile time.monotonic() < end: pass\n"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        result = run_digest(sample_config(tmp_path))
    finally:
        for process in busy:  # done early: no need to keep loading a shared machine
            process.terminate()
            process.wait()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "Traceback" not in result.stderr
    assert len(list((tmp_path / "out" / "outbox").rglob("*.eml"))) == 5
