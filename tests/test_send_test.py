"""`digest send-test`: one subscriber's real message, sent to one address, recorded nowhere."""

from __future__ import annotations

import os
import re
from email import message_from_bytes, policy

from typer.testing import CliRunner

from digest.cli import app
from digest.credentials import resolve_secrets
from digest.deliver import ledger_counts
from digest.message import build_mime
from digest.gazetteer import load_gazetteer
from digest.proof import rebuild_edition
from digest.subscribers import active_subscribers
from sample_store import EDITION_DATE, sample_folder

DAY = EDITION_DATE.isoformat()


def _send_test(config, *args: str):  # noqa: ANN001, ANN202
    return CliRunner().invoke(app, ["send-test", *args, "--date", DAY, "--config", str(config.path)])


# A signed link token is payload.timestamp.signature: the same subscriber and purpose signed a
# second later gives another timestamp and signature.
TOKEN = re.compile(r"([A-Za-z0-9_-]{10,})\.[A-Za-z0-9_-]{4,8}\.[A-Za-z0-9_-]{20,}")


def _unstamped(text: str) -> str:
    return TOKEN.sub(r"\1", text)


def _parts(message) -> dict[str, str]:  # noqa: ANN001
    return {part.get_content_type(): _unstamped(part.get_content()) for part in message.iter_parts()}


def test_send_test_mails_the_subscribers_own_message_to_the_test_address_and_not_the_ledger(
        tmp_path, mailbox, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-send-secret")
    config, engine = sample_folder(tmp_path)
    with (tmp_path / "digest.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {mailbox.port}\nsecurity = "none"\n'
                   'password_env = ""\ntimeout = 5\n')

    result = _send_test(config, "editor@example.net", "--as", "chen@example.org")

    assert result.exit_code == 0, result.output
    assert f"sent chen@example.org's message for {DAY} (11 stories) to editor@example.net" in result.output
    [(rcpt, received, _)] = mailbox.messages
    assert rcpt == "editor@example.net"
    # What the run would build for Chen (its Date header and MIME boundary differ by nature).
    chen = next(s for s in active_subscribers(engine) if s.email == "chen@example.org")
    [(_, raw)] = build_mime(rebuild_edition(engine, config, EDITION_DATE, load_gazetteer()), DAY, [chen], config,
                            resolve_secrets(config, os.environ))
    expected = message_from_bytes(raw, policy=policy.default)
    for header in ("From", "To", "Subject", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert _unstamped(received[header]) == _unstamped(expected[header]), header
    assert received["To"] == "Chen Wei <chen@example.org>"
    assert _parts(received) == _parts(expected)
    assert ledger_counts(engine, DAY) == {}


def test_without_smtp_the_test_message_goes_to_outbox_test_and_the_outbox_stays_empty(tmp_path):
    config, engine = sample_folder(tmp_path)  # its subscribers are in the config's subscribers_file

    result = _send_test(config, "ada@example.org")

    assert result.exit_code == 0, result.output
    [written] = (config.outbox_dir / "test").iterdir()
    assert written.name == f"{DAY}-ada-example-org.eml"
    message = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert message["To"] == "Ada Lovelace <ada@example.org>"
    assert "40 stories" in message["Subject"]
    assert [p.name for p in config.outbox_dir.iterdir()] == ["test"]
    assert ledger_counts(engine, DAY) == {}


def test_an_address_that_is_not_a_subscriber_needs_as(tmp_path):
    config, _ = sample_folder(tmp_path)

    result = _send_test(config, "editor@example.net")

    assert result.exit_code == 1
    assert "editor@example.net is not a subscriber; pass --as SUBSCRIBER" in result.output
    assert not config.outbox_dir.exists()


def test_before_anything_is_collected_it_warns_that_the_message_has_no_stories(tmp_path):
    from digest.config_file import load_config
    from digest.starter import write_starter

    config = load_config(write_starter(tmp_path).config)

    result = _send_test(config, "ada@example.org")

    assert result.exit_code == 0, result.output
    assert f"the store has no stories for {DAY}" in result.output
