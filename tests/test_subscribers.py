"""Subscribers in the store: addresses, imports, who is active, and what the config may not undo."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.orm import Session

from digest import subscribers as subs
from digest.config import Config, SubscriberConfig
from digest.models import Subscriber
from digest.migrate import FIRST_REVISION, alembic_config, upgrade
from digest.store import Base, make_engine

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_addresses_are_normalised_so_one_person_is_one_row(engine):
    subs.import_rows(engine, [(subs.normalize_email(" Ana@EXAMPLE.org "), None, None)])
    report = subs.import_rows(engine, [(subs.normalize_email("ana@example.org"), None, None)])
    assert (report.added, report.existing) == (0, 1)
    assert [r.email for r in subs.list_subscribers(engine)] == ["ana@example.org"]


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
    with Session(engine) as session, session.begin():
        subs.set_preferences(session, subs.find(session, "ana@example.org"), ["Africa"], paused=False)
    subs.sync_from_config(engine, config)
    assert subs.active_subscribers(engine)[0].regions == frozenset({"Africa"})


def test_active_subscribers_leave_out_pending_paused_and_bounced(engine):
    with Session(engine) as session, session.begin():
        for address, status in (("a@example.org", "active"), ("p@example.org", "pending"),
                                ("b@example.org", "active"), ("z@example.org", "active")):
            subs.upsert(session, address, status=status)
        subs.set_preferences(session, subs.find(session, "z@example.org"), None, paused=True)
        subs.set_status(session, subs.find(session, "b@example.org"), subs.BOUNCED)
    assert [s.email for s in subs.active_subscribers(engine)] == ["a@example.org"]
    assert all(s.id is not None for s in subs.active_subscribers(engine))


def test_forgetting_an_address_removes_it_and_its_history(engine):
    subs.import_rows(engine, [("ana@example.org", None, None)])
    assert subs.forget(engine, "ana@example.org") and subs.list_subscribers(engine) == []
    assert not subs.forget(engine, "ana@example.org")


def test_forgetting_someone_never_hands_their_id_to_the_next_subscriber(engine):
    subs.import_rows(engine, [("ana@example.org", None, None), ("bob@example.org", None, None)])
    [_, bob] = subs.list_subscribers(engine)
    subs.forget(engine, "bob@example.org")
    subs.import_rows(engine, [("cleo@example.org", None, None)])
    [_, cleo] = subs.list_subscribers(engine)
    assert cleo.id > bob.id


def test_tokens_name_the_subscriber_and_the_address_they_were_made_for():
    claim = subs.read_token("secret", subs.make_token("secret", 7, "unsubscribe", "ana@example.org"), "unsubscribe")
    assert claim.subscriber_id == 7 and claim.choices is None
    assert claim.is_for("secret", "ana@example.org") and not claim.is_for("secret", "bob@example.org")


def test_links_are_not_made_for_a_subscriber_that_is_not_stored():
    with pytest.raises(subs.SubscriberError, match="ana@example.org.*no id"):
        subs.links_for(Config(), Subscriber("ana@example.org"))


def test_tokens_are_scoped_to_a_purpose_and_unforgeable():
    token = subs.make_token("secret", 7, "unsubscribe", "ana@example.org")
    with pytest.raises(subs.TokenError):
        subs.read_token("secret", token, "preferences")
    with pytest.raises(subs.TokenError):
        subs.read_token("other-secret", token, "unsubscribe")
    with pytest.raises(subs.TokenError):
        subs.read_token("secret", token[:-2] + "xx", "unsubscribe")


def test_an_smtp_server_needs_a_real_secret(monkeypatch):
    monkeypatch.delenv(subs.SECRET_ENV, raising=False)
    with pytest.raises(RuntimeError, match=subs.SECRET_ENV):
        subs.secret_key(Config(mail={"smtp": {"host": "mail.example.org"}}))


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
