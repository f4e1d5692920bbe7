"""Exit codes and delivery status as cron sees them: `digest run` and the subscriber commands.

The runs are real flow runs (temporary Prefect API) of the sample edition, delivering to a
real aiosmtpd server on loopback.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.cli_common import EXIT_HELD, EXIT_SKIPPED, EXIT_UNDELIVERED
from digest.store import open_store
from digest.models import SubscriberStatus
from digest.subscribers import active_subscribers
from smtp_server import Faults
from test_flow import EDITION, _edition_row, make_config, sample_server  # noqa: F401 - a fixture

DAY = EDITION.isoformat()


def smtp_config(tmp_path, base: str, port: int, refusal_streak: int):  # noqa: ANN001, ANN201
    """The light sample config, delivering through the server on `port`."""
    path = make_config(tmp_path, base, light=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f'[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                     f'password_env = ""\ntimeout = 5\nretry_backoff = 0.01\nrefusal_streak = {refusal_streak}\n')
    return path


@pytest.mark.slow
def test_a_relay_that_denies_everyone_fails_the_run_and_the_next_days_run_finishes_that_edition(
        prefect_harness, sample_server, tmp_path, mailbox, monkeypatch):  # noqa: F811
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")
    # The sample has two subscribers: two identical refusals in a row are the server's.
    config = smtp_config(tmp_path, sample_server, mailbox.controller.port, refusal_streak=2)
    mailbox.faults = Faults(rcpt_reply="550 5.7.1 Relaying denied")
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--date", DAY])
    assert result.exit_code == EXIT_UNDELIVERED, result.output
    assert "refused 2 recipients in a row" in result.output and "5.7.1" in result.output
    assert _edition_row(tmp_path, DAY).status == "deferred"
    assert len(active_subscribers(open_store(f"sqlite:///{tmp_path / 'digest.db'}"))) == 2  # nobody bounced
    collected = _edition_row(tmp_path, DAY).stats["articles_collected"]
    assert collected > 0

    mailbox.faults = Faults()  # the relay is fixed; the next scheduled run is another edition
    next_day = (EDITION + timedelta(days=1)).isoformat()
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--date", next_day])
    assert result.exit_code in (0, EXIT_HELD), result.output  # the next day may have no stories
    finished = _edition_row(tmp_path, DAY)
    assert finished.status == "sent"
    assert finished.stats["articles_collected"] == collected  # finishing collected nothing, and kept the figures
    earlier = [rcpt for rcpt, message, _ in mailbox.messages if DAY in message["Message-ID"]]
    assert sorted(earlier) == ["ana@example.org", "bo@example.org"]


@pytest.mark.slow
def test_a_held_edition_exits_with_its_own_code(prefect_harness, sample_server, tmp_path):  # noqa: F811
    config = make_config(tmp_path, sample_server, light=True, quality={"min_articles": 500})
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--date", DAY])
    assert result.exit_code == EXIT_HELD, result.output
    assert "HELD" in result.output


def store_config(tmp_path) -> str:  # noqa: ANN001
    path = tmp_path / "digest.toml"
    path.write_text('store_url = "sqlite:///digest.db"\n', encoding="utf-8")
    return str(path)


def test_an_import_with_skipped_rows_says_so_in_its_exit_code(tmp_path):
    config = store_config(tmp_path)
    good = tmp_path / "good.csv"
    good.write_text("email,name,regions\nana@example.org,Ana,\n", encoding="utf-8")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("email,name,regions\nbo@example.org,Bo,\nnot-an-address,X,\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["subscribers", "import", str(good), "--config", config]).exit_code == 0
    result = CliRunner().invoke(app, ["subscribers", "import", str(mixed), "--config", config])
    assert result.exit_code == EXIT_SKIPPED and "skipped 1" in result.output
    assert len(active_subscribers(open_store(f"sqlite:///{tmp_path / 'digest.db'}"))) == 2


def test_reactivate_brings_back_a_bounced_address_only(tmp_path):
    from digest import subscribers as subs
    from digest.store import set_subscriber_status

    config = store_config(tmp_path)
    engine = open_store(f"sqlite:///{tmp_path / 'digest.db'}")
    subs.import_rows(engine, [("ana@example.org", None, None), ("bo@example.org", None, None)])
    set_subscriber_status(engine, subs.find(engine, "ana@example.org").id, SubscriberStatus.BOUNCED)
    subs.unsubscribe(engine, "bo@example.org")
    runner = CliRunner()
    assert runner.invoke(app, ["subscribers", "reactivate", "ana@example.org", "--config", config]).exit_code == 0
    refused = runner.invoke(app, ["subscribers", "reactivate", "bo@example.org", "--config", config])
    assert refused.exit_code == 2 and "unsubscribed" in refused.output
    assert runner.invoke(app, ["subscribers", "reactivate", "cy@example.org", "--config", config]).exit_code == 1
    assert [s.email for s in active_subscribers(engine)] == ["ana@example.org"]
