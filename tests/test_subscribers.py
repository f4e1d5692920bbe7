"""Subscribers in the store: addresses, imports, who is active, and what the config may not undo."""

from __future__ import annotations

import os
import re
import time
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from digest import message
from digest import subscribers as subs
from digest.cli import app
from digest.config import Config, SubscriberConfig
from digest.config_file import load_config
from digest.credentials import SIGNING_KEY_ENV, resolve_secrets
from digest.models import SubscriberStatus
from digest.store.migrate import FIRST_REVISION, alembic_config, upgrade
from digest.store import (
    Base,
    add_subscribers,
    confirm_subscriber,
    get_subscriber,
    list_subscribers,
    make_engine,
    open_store,
    reactivate_subscriber,
    set_preferences,
    set_subscriber_status,
)
from digest.web import create_app
from smtp_server import Faults, Mailbox, start

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_addresses_are_normalised_so_one_person_is_one_row(engine):
    subs.import_rows(engine, [(subs.normalize_email(" Ana@EXAMPLE.org "), None, None)])
    report = subs.import_rows(engine, [(subs.normalize_email("ana@example.org"), None, None)])
    assert (report.added, report.existing) == (0, 1)
    assert [r.email for r in list_subscribers(engine)] == ["ana@example.org"]


def test_an_invalid_address_is_refused_with_its_reason():
    with pytest.raises(subs.SubscriberError, match="'ana@' is not a valid email address"):
        subs.normalize_email("ana@")


def test_a_csv_import_adds_good_lines_and_reports_bad_ones_by_line(engine, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("email,name,regions\nana@example.org,Ana,Europe;Asia\nnot-an-address,Bob,\n"
                   "cleo@example.org,,\n")
    report = subs.import_csv(engine, csv)
    assert report.added == 2
    assert len(report.errors) == 1 and f"{csv}:3" in report.errors[0]
    by_email = {s.email: s for s in subs.active_subscribers(engine)}
    assert by_email["ana@example.org"].regions == frozenset({"Europe", "Asia"})
    assert by_email["cleo@example.org"].regions is None  # empty: every region


def test_config_sync_never_brings_back_someone_who_unsubscribed(engine, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("bob@example.org,Bob,Africa\n")
    config = Config(subscribers=[SubscriberConfig(email="ana@example.org", regions=["Europe"])],
                    subscribers_file=csv)
    subs.sync_from_config(engine, config)
    assert {s.email for s in subs.active_subscribers(engine)} == {"ana@example.org", "bob@example.org"}
    subs.unsubscribe(engine, "ana@example.org")
    subs.sync_from_config(engine, config)
    assert [s.email for s in subs.active_subscribers(engine)] == ["bob@example.org"]


def test_config_sync_keeps_choices_made_since_on_the_preferences_page(engine):
    config = Config(subscribers=[SubscriberConfig(email="ana@example.org", regions=["Europe"])])
    subs.sync_from_config(engine, config)
    set_preferences(engine, subs.find(engine, "ana@example.org").id, ["Africa"], paused=False)
    subs.sync_from_config(engine, config)
    assert subs.active_subscribers(engine)[0].regions == frozenset({"Africa"})


def test_active_subscribers_leave_out_pending_paused_and_bounced(engine):
    for address, status in (("a@example.org", "active"), ("p@example.org", "pending"),
                            ("b@example.org", "active"), ("z@example.org", "active")):
        subs.import_rows(engine, [(address, None, None)], status=status)
    set_preferences(engine, subs.find(engine, "z@example.org").id, None, paused=True)
    set_subscriber_status(engine, subs.find(engine, "b@example.org").id, SubscriberStatus.BOUNCED)
    assert [s.email for s in subs.active_subscribers(engine)] == ["a@example.org"]
    assert all(s.id is not None for s in subs.active_subscribers(engine))


def test_forgetting_an_address_removes_it_and_its_history(engine):
    subs.import_rows(engine, [("ana@example.org", None, None)])
    assert subs.forget(engine, "ana@example.org") and list_subscribers(engine) == []
    assert not subs.forget(engine, "ana@example.org")


def test_a_change_to_a_subscriber_forgotten_meanwhile_changes_nothing_and_says_so(engine):
    # A link is read in one transaction and acted on in the next: its owner may be gone by then.
    [(ana, _)] = add_subscribers(engine, [("ana@example.org", None, None)])
    subs.forget(engine, "ana@example.org")
    assert get_subscriber(engine, ana.id) is None
    assert set_subscriber_status(engine, ana.id, SubscriberStatus.UNSUBSCRIBED) is None
    assert set_preferences(engine, ana.id, ["Asia"], paused=True) is None
    assert confirm_subscriber(engine, ana.id, None) is None
    assert reactivate_subscriber(engine, ana.id) is None
    assert list_subscribers(engine) == []


def test_resubscribing_on_the_preferences_page_brings_back_only_who_unsubscribed(engine):
    subs.import_rows(engine, [("ana@example.org", None, None), ("bob@example.org", None, None)])
    ana = set_subscriber_status(engine, subs.find(engine, "ana@example.org").id, SubscriberStatus.UNSUBSCRIBED)
    bob = set_subscriber_status(engine, subs.find(engine, "bob@example.org").id, SubscriberStatus.BOUNCED)
    back = set_preferences(engine, ana.id, ["Asia"], paused=False, resubscribe=True)
    assert (back.status, back.regions) == ("active", ["Asia"]) and back.confirmed_at >= ana.unsubscribed_at
    assert set_preferences(engine, bob.id, None, paused=False, resubscribe=True).status == "bounced"


def test_forgetting_someone_never_hands_their_id_to_the_next_subscriber(engine):
    subs.import_rows(engine, [("ana@example.org", None, None), ("bob@example.org", None, None)])
    [_, bob] = list_subscribers(engine)
    subs.forget(engine, "bob@example.org")
    subs.import_rows(engine, [("cleo@example.org", None, None)])
    [_, cleo] = list_subscribers(engine)
    assert cleo.id > bob.id


def test_migrations_build_exactly_the_schema_of_the_models(store_url):
    upgrade(store_url)
    upgrade(store_url)  # a second run has nothing to do
    engine = make_engine(store_url)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                       Base.metadata)
    engine.dispose()
    assert differences == []


def test_a_database_created_before_migrations_is_adopted_and_brought_up_to_date(store_url):
    Base.metadata.create_all(engine := make_engine(store_url))
    upgrade(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == HEAD
    engine.dispose()


def test_upgrading_keeps_every_subscriber_and_their_delivery_history(store_url):
    upgrade(store_url, FIRST_REVISION)
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("insert into editions (id, title, created, since, until, status, stats) "
                          "values ('e1', 'E1', :t, :t, :t, 'sent', '{}')"), {"t": "2026-01-05 06:00:00"})
        for address in ("a@example.org", "b@example.org"):
            conn.execute(text("insert into subscribers (email, status, created_at, updated_at) "
                              "values (:e, 'active', :t, :t)"), {"e": address, "t": "2026-01-05 06:00:00"})
        conn.execute(text("insert into deliveries (edition_id, subscriber_id, status, attempts) "
                          "select 'e1', id, 'sent', 1 from subscribers"))
        before = conn.execute(text("select id, email from subscribers order by id")).all()
    upgrade(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("select id, email from subscribers order by id")).all() == before
        assert conn.execute(text("select count(*) from deliveries")).scalar() == 2
    engine.dispose()


# --- addresses: what delivery can send, whichever way an address comes in -----------------


@pytest.mark.parametrize(("typed", "stored"), [
    ("user@bücher.de", "user@xn--bcher-kva.de"),
    ("Ana@MÜNCHEN.example", "ana@xn--mnchen-3ya.example"),
    (" Bob.O'Neil+news@Example.org ", "bob.o'neil+news@example.org"),
])
def test_an_international_domain_is_kept_as_the_punycode_delivery_sends_to(typed, stored):
    assert subs.normalize_email(typed) == stored
    # The message builder accepts exactly this form, unchanged.
    assert message._address(stored) == stored


@pytest.mark.parametrize("typed", ["üser@example.org", "josé@example.org", '"a b"@example.org',
                                   "ana@[127.0.0.1]", "ana@localhost", "ana@example.org, bob@example.org"])
def test_an_address_the_sender_cannot_use_is_refused(typed):
    with pytest.raises(subs.SubscriberError, match="is not a valid email address"):
        subs.normalize_email(typed)


def test_a_csv_import_refuses_a_non_ascii_mailbox_and_stores_an_idna_domain_as_punycode(engine, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("üser@example.org,Ü,\nuser@bücher.de,U,\n", encoding="utf-8")
    report = subs.import_csv(engine, csv)
    assert report.added == 1 and f"{csv}:1" in report.errors[0] and "before the @" in report.errors[0]
    assert [s.email for s in subs.active_subscribers(engine)] == ["user@xn--bcher-kva.de"]


# --- regions: only those of the region table ---------------------------------------------


def test_a_csv_line_choosing_an_unknown_region_is_skipped_with_the_valid_ones_listed(engine, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("ana@example.org,Ana,Europe;Asia\nbob@example.org,Bob,Eurpoe\ncleo@example.org,,europe\n")
    report = subs.import_csv(engine, csv, regions=subs.region_names(Config()))
    assert report.added == 2
    [error] = report.errors
    assert error.startswith(f"{csv}:2: unknown region 'Eurpoe'; the regions are: ") and "Europe" in error
    by_email = {s.email: s.regions for s in subs.active_subscribers(engine)}
    assert by_email == {"ana@example.org": frozenset({"Europe", "Asia"}),
                        "cleo@example.org": frozenset({"Europe"})}  # the table's spelling


def test_config_sync_skips_a_listed_subscriber_with_an_unknown_region(engine, caplog):
    config = Config(subscribers=[SubscriberConfig(email="ana@example.org", regions=["Atlantis"]),
                                 SubscriberConfig(email="bob@example.org", regions=["Africa"])])
    subs.sync_from_config(engine, config)
    assert [s.email for s in subs.active_subscribers(engine)] == ["bob@example.org"]
    assert "unknown region 'Atlantis'" in caplog.text


# --- importing as pending: double opt-in for a list brought from elsewhere ------------------


def import_config(folder, smtp_port: int | None = None):  # noqa: ANN001, ANN201
    """A digest.toml with its store in `folder`, mailing through `smtp_port` (else the outbox)."""
    smtp = (f'\n[mail.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\npassword_env = ""\n'
            if smtp_port else "")
    path = folder / "digest.toml"
    path.write_text(f'store_url = "sqlite:///{folder / "digest.db"}"\noutput_dir = "{folder / "out"}"\n'
                    f'[mail]\nbase_url = "http://testserver"\n{smtp}', encoding="utf-8")
    return path


def test_a_pending_import_mails_each_new_address_a_confirmation_no_faster_than_the_rate(
        tmp_path, monkeypatch):
    monkeypatch.setenv(SIGNING_KEY_ENV, "import-test-secret")
    mailbox = Mailbox()
    server = start(mailbox)
    config = import_config(tmp_path, server.port)
    engine = open_store(load_config(config).store_url)
    subs.import_rows(engine, [("known@example.org", None, None)])
    people = tmp_path / "people.csv"
    people.write_text("email,name,regions\nana@example.org,Ana,Europe;Asia\nbob@example.org,,\n"
                      "known@example.org,,\nnot-an-address,,\ncy@example.org,Cy,Africa\n", encoding="utf-8")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["subscribers", "import", str(people), "--pending", "--rate", "10",
                                      "--config", str(config)])
    elapsed = time.monotonic() - started
    server.stop()
    assert result.exit_code == 5, result.output  # the bad line was skipped, the rest went in
    assert "added 3 as pending, already there 1, skipped 1" in result.output
    assert "confirmations mailed: 3, failed 0" in result.output
    assert [rcpt for rcpt, _, _ in mailbox.messages] == ["ana@example.org", "bob@example.org", "cy@example.org"]
    assert elapsed >= 0.2  # three mails at 10 a second: the last no sooner than 0.2 s after the first
    statuses = {row.email: row.status for row in list_subscribers(engine)}
    assert statuses == {"known@example.org": "active", "ana@example.org": "pending",
                        "bob@example.org": "pending", "cy@example.org": "pending"}
    # The link confirms what the file said.
    settings = load_config(config)
    client = TestClient(create_app(settings, engine, secrets=resolve_secrets(settings, os.environ)))
    confirm = urlsplit(re.search(r"https?://\S+/confirm/\S+", mailbox.messages[0][1].get_content()).group(0)).path
    page = client.get(confirm)
    client.post(confirm, data={"csrf": re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)})
    ana = subs.find(engine, "ana@example.org")
    assert (ana.status, ana.name, ana.regions) == ("active", "Ana", ["Asia", "Europe"])
    engine.dispose()


def test_importing_again_reminds_only_those_still_pending_and_without_smtp_writes_the_outbox(
        tmp_path, monkeypatch):
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    config = import_config(tmp_path)
    people = tmp_path / "people.csv"
    people.write_text("ana@example.org\nbob@example.org\n", encoding="utf-8")
    args = ["subscribers", "import", str(people), "--pending", "--rate", "100", "--config", str(config)]
    first = CliRunner().invoke(app, args)
    outbox = tmp_path / "out" / "outbox" / "web"
    assert first.exit_code == 0, first.output
    assert f"confirmations written to {outbox}: 2, failed 0" in first.output
    engine = open_store(load_config(config).store_url)
    confirm_subscriber(engine, subs.find(engine, "ana@example.org").id, None)
    for eml in outbox.glob("*.eml"):
        eml.unlink()
    again = CliRunner().invoke(app, args)
    assert "added 0 as pending, already there 2" in again.output
    [reminder] = outbox.glob("*.eml")
    assert message_from_bytes(reminder.read_bytes(), policy=policy.default)["To"] == "bob@example.org"
    assert [r.status for r in list_subscribers(engine)] == ["active", "pending"]
    engine.dispose()


def test_a_pending_import_through_a_server_that_refuses_an_address_says_so_and_keeps_it_pending(
        tmp_path, monkeypatch):
    monkeypatch.setenv(SIGNING_KEY_ENV, "import-test-secret")
    mailbox = Mailbox(faults=Faults(refuse_rcpt=frozenset({"gone@example.org"})))
    server = start(mailbox)
    people = tmp_path / "people.csv"
    people.write_text("gone@example.org\nana@example.org\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["subscribers", "import", str(people), "--pending", "--rate", "100",
                                      "--config", str(import_config(tmp_path, server.port))])
    server.stop()
    assert result.exit_code == 4
    assert "not sent: confirmation to gone@example.org (it stays pending" in result.output
    assert [rcpt for rcpt, _, _ in mailbox.messages] == ["ana@example.org"]


def test_statuses_are_stored_as_the_words_earlier_stores_hold(engine):
    # Stored rows predate the enums: their values must never change.
    assert [s.value for s in SubscriberStatus] == ["pending", "active", "unsubscribed", "bounced"]
    subs.import_rows(engine, [("ana@example.org", None, None)], status=SubscriberStatus.PENDING)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM subscribers")).scalar_one() == "pending"
    [row] = list_subscribers(engine, status=SubscriberStatus.PENDING)
    assert row.status == SubscriberStatus.PENDING
