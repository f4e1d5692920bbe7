"""`digest editions`: the history of editions, read from the store and the delivery ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from digest.cli import app
from digest.config import SmtpConfig
from digest.credentials import Secrets
from digest.deliver import send_edition
from digest.edition import stats_json
from digest.message import build_mime
from digest.models import EditionStats, SourceError
from digest.gazetteer import load_gazetteer
from digest.proof import rebuild_edition
from digest.quality import evaluate
from digest.render import render_edition
from digest.store import DeliveryRow, save_edition, select_edition
from digest.subscribers import active_subscribers, sync_from_config
from sample_store import EDITION_DATE, sample_folder
from smtp_server import Faults, Mailbox, start

NEXT_DAY = EDITION_DATE + timedelta(days=1)


def _record(engine, config, day, *, status: str, errors=(), timings=None):  # noqa: ANN001
    """An edition as the flow records it: selected, built, checked by the gate, saved with its stats."""
    edition_time = datetime.combine(day, config.edition.edition_time, tzinfo=config.edition.zone)
    select_edition(engine, day.isoformat(), edition_time, config.edition.window_hours,
                   config.edition.max_lookback_hours, title=config.edition.title)
    edition = rebuild_edition(engine, config, day, load_gazetteer())
    report = evaluate(edition, render_edition(edition, config).html, config.quality)
    stats = EditionStats(sources=len(config.sources), sources_failed=len(errors),
                         articles_in_window=len(edition.items), errors=list(errors), timings=timings or {})
    save_edition(engine, day.isoformat(), status=status, html_path="unused.html",
                 stats=stats_json(stats, report, edition.sections))
    return edition


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Two editions: the sample one, mailed through a server that refuses two of the five
    subscribers, and the next day's, empty and held by the quality gate."""
    folder = tmp_path_factory.mktemp("operator")
    config, engine = sample_folder(folder)
    sync_from_config(engine, config)
    broken = SourceError("Broken Feed", "https://feeds.example.org/broken.rss", "HTTP 503")
    edition = _record(engine, config, EDITION_DATE, status="sent", errors=[broken],
                      timings={"collect": 1.25, "summarize": 0.5, "deliver": 0.25})
    handler = Mailbox(faults=Faults(refuse_rcpt=frozenset({"chen@example.org"}),
                                    refuse_data=frozenset({"diego@example.org"})))
    controller = start(handler)
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=controller.port, security="none", password_env=None,
                          timeout=5.0, retry_backoff=0.01)
        send_edition(engine, EDITION_DATE.isoformat(),
                     build_mime(edition, EDITION_DATE.isoformat(), active_subscribers(engine), config, Secrets()), smtp)
    finally:
        controller.stop()
    _record(engine, config, NEXT_DAY, status="held")
    yield folder / "digest.toml", engine
    engine.dispose()


def _json(args: list[str]):  # noqa: ANN202
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_editions_lists_newest_first_with_stories_per_region_and_the_ledgers_counts(history):
    config, _ = history
    held, sent = _json(["editions", "--json", "--config", str(config)])
    assert (held["id"], sent["id"]) == (NEXT_DAY.isoformat(), EDITION_DATE.isoformat())
    assert sent["status"] == "sent" and sent["stories"] == 40
    assert sent["regions"]["Middle East"] == 7 and sum(sent["regions"].values()) == 40
    assert sent["deliveries"] == {"bounced": 1, "failed": 1, "sent": 3}
    assert sent["subscribers"] == 5
    assert sent["run_seconds"] == 2.0
    assert sent["held_reasons"] == []


def test_a_held_edition_says_which_checks_held_it(history):
    config, _ = history
    held = _json(["editions", "--json", "--config", str(config), "--limit", "1"])
    assert len(held) == 1
    assert held[0]["status"] == "held" and held[0]["stories"] == 0
    assert held[0]["deliveries"] == {} and held[0]["subscribers"] == 0
    [reason] = held[0]["held_reasons"]
    assert reason == "articles: 0 articles in the edition (at least 1 wanted) (limit 1)"


def test_editions_show_names_the_failed_sources_and_every_delivery_that_did_not_go_out(history):
    config, _ = history
    shown = _json(["editions", "show", EDITION_DATE.isoformat(), "--json", "--config", str(config)])
    assert shown["sources"] == 3
    assert shown["failed_sources"] == [{"source": "Broken Feed", "location": "https://feeds.example.org/broken.rss",
                                        "error": "HTTP 503"}]
    problems = {p["email"]: p for p in shown["problems"]}
    assert set(problems) == {"chen@example.org", "diego@example.org"}
    assert problems["chen@example.org"]["status"] == "bounced"
    assert "550" in problems["chen@example.org"]["last_error"]
    assert problems["diego@example.org"]["status"] == "failed"


def test_the_table_is_printed_whole_when_piped(history):
    config, _ = history
    result = CliRunner().invoke(app, ["editions", "--config", str(config)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if EDITION_DATE.isoformat() in line)
    assert "Australia & Oceania 4" in row and "bounced 1, failed 1, sent 3" in row and "2 s" in row
    shown = CliRunner().invoke(app, ["editions", "show", EDITION_DATE.isoformat(), "--config", str(config)])
    assert "Failed sources: 1 of 3" in shown.stdout and "chen@example.org" in shown.stdout


def test_a_ledger_status_added_later_shows_up_as_its_own_count(history, tmp_path):
    config, engine = history
    with Session(engine) as session, session.begin():
        row = session.query(DeliveryRow).filter_by(edition_id=EDITION_DATE.isoformat(), status="sent").first()
        row.status = "leased"  # a state another version of the sender might use
    try:
        [_, sent] = _json(["editions", "--json", "--config", str(config)])
        assert sent["deliveries"] == {"bounced": 1, "failed": 1, "leased": 1, "sent": 2}
    finally:
        with Session(engine) as session, session.begin():
            session.query(DeliveryRow).filter_by(status="leased").update({"status": "sent"})


def test_an_unknown_date_is_an_error_naming_the_editions_there_are(history):
    config, _ = history
    result = CliRunner().invoke(app, ["editions", "show", "2001-01-01", "--config", str(config)])
    assert result.exit_code == 1
    assert "no edition '2001-01-01'" in result.output
    assert f"latest: {NEXT_DAY.isoformat()}, {EDITION_DATE.isoformat()}" in result.output
