"""The subscription web app through FastAPI's TestClient: double opt-in, preferences,
one-click unsubscribe, the archive, and what it refuses (forged links, cross-site forms, floods)."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import feedparser
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from digest import links
from digest import subscribers as subs
from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, resolve_secrets
from digest.edition import stats_json
from digest.regions import load_region_table
from digest.gazetteer import load_gazetteer
from digest.proof import rebuild_edition
from digest.store import EditionRow, SubscriberRow, find_subscriber, list_subscribers, save_edition, select_edition
from digest.web import create_app, server_config
from digest.web_archive import ARCHIVE_PAGE
from digest.web_site import RateLimit
from edition_builders import edition, item
from link_checks import assert_link_for
from sample_store import EDITION_DATE, sample_folder
from smtp_server import Faults, Mailbox, start

BASE = "http://testserver"
REGIONS = list(load_region_table().regions)


@pytest.fixture
def config(tmp_path, store_url, monkeypatch) -> Config:
    if not store_url.startswith("sqlite"):
        # A server database has no folder to keep a generated key in: the operator sets one.
        monkeypatch.setenv(SIGNING_KEY_ENV, "server-store-test-secret")
    return Config(store_url=store_url, output_dir=tmp_path / "out", mail={"base_url": BASE})


def app_for(config: Config, engine, **limits):  # noqa: ANN001, ANN003, ANN201
    """The app as `digest web` makes it: secrets from this process's environment."""
    return create_app(config, engine, secrets=resolve_secrets(config, os.environ), **limits)


def links_for(config: Config, subscriber) -> links.SubscriberLinks:  # noqa: ANN001
    return links.links_for(config, subscriber, links.secret_key(config, resolve_secrets(config, os.environ)))


@pytest.fixture
def client(config, engine) -> TestClient:
    return TestClient(app_for(config, engine))


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def subscribe(client: TestClient, email: str, regions: list[str] = REGIONS, **extra):  # noqa: ANN003, ANN201
    form = client.get("/")
    return client.post("/subscribe", data={"email": email, "regions": regions,
                                           "csrf": csrf_of(form.text), **extra})


def emails(config: Config, subject: str = "") -> list:
    """The app's emails in the outbox, oldest first; those whose subject starts with `subject`."""
    folder = config.outbox_dir / "web"
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    messages = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]
    return [m for m in messages if m["Subject"].startswith(subject)]


def link_in(message, path: str) -> str:  # noqa: ANN001
    """The path of the email's `/{path}/…` link (its host is the test client's)."""
    text = message.get_body(("plain",)).get_content()
    return urlsplit(re.search(rf"https?://\S+?/{path}/\S+", text).group(0)).path


def row(engine, email: str):  # noqa: ANN001, F811
    return find_subscriber(engine, email)


def follow_confirmation(client: TestClient, confirm: str) -> str:
    """Open a confirmation link and press its button; the preferences path it lands on."""
    page = client.get(confirm)
    response = client.post(confirm, data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    return response.headers["location"]


def confirmed(client: TestClient, config: Config, email: str, regions: list[str] = REGIONS,
              **extra) -> str:  # noqa: ANN003
    """Subscribe and confirm; the preferences path it lands on."""
    subscribe(client, email, regions, **extra)
    return follow_confirmation(client, link_in(emails(config, "Confirm")[-1], "confirm"))


def test_subscribing_creates_a_pending_subscriber_and_emails_a_confirmation_link(client, config, engine):
    response = subscribe(client, "Ana@Example.org", ["Europe", "Asia"], name="Ana")
    assert response.status_code == 200 and "Check your inbox" in response.text
    stored = row(engine, "ana@example.org")
    assert (stored.status, stored.name, stored.regions) == ("pending", "Ana", ["Asia", "Europe"])
    [message] = emails(config)
    assert message["To"] == "ana@example.org" and "Confirm" in message["Subject"]
    assert "/confirm/" in message.get_content()
    assert subs.active_subscribers(engine) == []


def test_opening_the_confirmation_link_asks_and_the_button_confirms(client, config, engine):
    subscribe(client, "ana@example.org")
    confirm = link_in(emails(config)[0], "confirm")
    page = client.get(confirm)
    assert page.status_code == 200 and row(engine, "ana@example.org").status == "pending"
    response = client.post(confirm, data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/preferences/")
    stored = row(engine, "ana@example.org")
    assert stored.status == "active" and stored.confirmed_at is not None
    assert [s.email for s in subs.active_subscribers(engine)] == ["ana@example.org"]
    assert "You are subscribed" in client.get(response.headers["location"]).text


def test_the_answer_is_the_same_whether_or_not_an_address_is_subscribed(client, config, engine):
    confirmed(client, config, "known@example.org")
    known = subscribe(client, "known@example.org").text.replace("known@", "X@")
    unknown = subscribe(client, "stranger@example.org").text.replace("stranger@", "X@")
    assert known == unknown
    already = emails(config)[-2]
    assert already["To"] == "known@example.org" and "already subscribed" in already["Subject"]
    assert "/preferences/" in already.get_content()


def test_subscribing_again_does_not_change_an_active_subscribers_regions(client, config, engine):
    confirmed(client, config, "ana@example.org", ["Europe"])
    subscribe(client, "ana@example.org", ["Africa"])
    assert row(engine, "ana@example.org").regions == ["Europe"]


def test_a_forged_or_misused_link_is_refused(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org")
    token = preferences.split("/")[-1].split("?")[0]
    assert client.get(f"/unsubscribe/{token}").status_code == 400  # a preferences token, not an unsubscribe one
    assert client.post(f"/unsubscribe/{token}").status_code == 400
    forged = links.make_token("someone-elses-secret", row(engine, "ana@example.org").id, "unsubscribe",
                             "ana@example.org")
    assert client.post(f"/unsubscribe/{forged}").status_code == 400
    assert client.get("/preferences/not-a-token").status_code == 400
    assert row(engine, "ana@example.org").status == "active"


def test_a_confirmation_link_expires(client, config, engine, monkeypatch):
    subscribe(client, "ana@example.org")
    confirm = link_in(emails(config)[0], "confirm")
    later = time.time() + links.TOKEN_MAX_AGE["confirm"] + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get(confirm).status_code == 400


def test_forms_without_the_sites_csrf_token_are_refused(client, config, engine):
    response = client.post("/subscribe", data={"email": "ana@example.org", "regions": REGIONS})
    assert response.status_code == 403
    other = TestClient(client.app)
    stolen = csrf_of(other.get("/").text)  # valid for another browser's cookie only
    assert subscribe(client, "ana@example.org", csrf=stolen).status_code == 403
    assert row(engine, "ana@example.org") is None and emails(config) == []


def test_an_invalid_address_is_explained_without_storing_anything(client, config, engine):
    response = subscribe(client, "not an address")
    assert response.status_code == 422 and "valid email address" in response.text
    assert list_subscribers(engine) == []


def test_subscribing_is_rate_limited_per_client(config, engine):
    client = TestClient(app_for(config, engine, subscribes_per_ip=(2, 3600)))
    assert [subscribe(client, f"r{i}@example.org").status_code for i in range(3)] == [200, 200, 429]
    assert len(list_subscribers(engine)) == 2


def test_confirmation_emails_to_one_address_are_capped(config, engine):
    client = TestClient(app_for(config, engine, emails_per_address=(2, 3600)))
    for _ in range(4):
        assert subscribe(client, "ana@example.org").status_code == 200
    assert len(emails(config)) == 2


def test_preferences_change_regions_and_pause(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org").split("?")[0]
    page = client.get(preferences)
    saved = client.post(preferences, data={"regions": ["Africa", "Europe"], "paused": "true",
                                           "csrf": csrf_of(page.text)})
    assert "Saved" in saved.text
    stored = row(engine, "ana@example.org")
    assert stored.regions == ["Africa", "Europe"] and stored.paused_at is not None
    assert subs.active_subscribers(engine) == []
    client.post(preferences, data={"regions": REGIONS, "csrf": csrf_of(page.text)})
    stored = row(engine, "ana@example.org")
    assert stored.regions is None and stored.paused_at is None  # every region, and resumed
    [subscriber] = subs.active_subscribers(engine)
    assert subscriber.regions is None


def test_one_click_unsubscribe_works_from_a_mail_client_post(client, config, engine):
    confirmed(client, config, "ana@example.org")
    links = links_for(config, row(engine, "ana@example.org").as_subscriber())
    path = links.unsubscribe.removeprefix(BASE)
    mail_client = TestClient(client.app)  # no cookies, no page: RFC 8058's POST
    assert "Stop sending" in mail_client.get(path).text
    assert row(engine, "ana@example.org").status == "active"  # opening the link changes nothing
    response = mail_client.post(path, content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    stored = row(engine, "ana@example.org")
    assert stored.status == "unsubscribed" and stored.unsubscribed_at is not None
    assert mail_client.post(path).status_code == 200  # again: still fine, still unsubscribed


def test_an_unsubscribed_reader_can_come_back_from_the_preferences_page(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org").split("?")[0]
    subs.unsubscribe(engine, "ana@example.org")
    page = client.get(preferences)
    assert "Subscribe again" in page.text
    client.post(preferences, data={"regions": REGIONS, "resubscribe": "true", "csrf": csrf_of(page.text)})
    assert row(engine, "ana@example.org").status == "active"


def test_the_archive_lists_and_serves_only_editions_that_were_sent(client, engine, tmp_path):
    now = datetime.now(UTC)
    html = tmp_path / "2026-01-05.html"
    html.write_text("<html><body><h1>World Digest 5 January</h1></body></html>")
    with Session(engine) as session, session.begin():
        # held: stopped by the checks; built: a dry run or preview that never went out
        for edition_id, status in (("2026-01-05", "sent"), ("2026-01-06", "held"), ("2026-01-07", "built")):
            until = datetime.fromisoformat(f"{edition_id}T06:00:00+00:00")
            session.add(EditionRow(id=edition_id, title=f"World Digest {edition_id}", created=now,
                                   since=until, until=until, status=status, html_path=str(html), stats={}))
    listing = client.get("/editions")
    assert "/editions/2026-01-05" in listing.text
    assert "2026-01-06" not in listing.text and "2026-01-07" not in listing.text
    assert "5 January 2026" in listing.text  # the edition's own date, not the day it was built
    page = client.get("/editions/2026-01-05")
    assert page.status_code == 200 and "World Digest 5 January" in page.text
    assert client.get("/editions/2026-01-06").status_code == 404
    assert client.get("/editions/2026-01-07").status_code == 404
    assert client.get("/editions/1999-01-01").status_code == 404


def sent(engine, edition_id: str, built, status: str = "sent") -> None:  # noqa: ANN001
    """Record `built` (an Edition) as the flow does: its stats, with its sections, stored with it."""
    until = datetime.fromisoformat(f"{edition_id}T06:00:00+00:00")
    with Session(engine) as session, session.begin():
        session.add(EditionRow(id=edition_id, title=built.title, created=until, since=until, until=until,
                               status=status, html_path=None,
                               stats=stats_json(built.stats, None, built.sections)))


def two_editions(engine) -> None:  # noqa: ANN001
    sent(engine, "2026-01-05", edition([
        item("Floods close roads in the north", "Europe", summary=("Rivers rose overnight.", "Schools shut.")),
        item("Ferry strike ends", "Europe"),
        item("Election date set", "Africa", source="Daily Planet"),
    ]))
    sent(engine, "2026-01-06", edition([item("Monsoon arrives early", "Asia")]))
    sent(engine, "2026-01-07", edition([item("A dry run nobody saw", "Asia")]), status="built")


def test_the_archive_lists_each_sent_edition_with_its_story_count_and_top_headlines(client, engine):
    two_editions(engine)
    listing = client.get("/editions")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", listing.text))
    assert text.index("6 January 2026 · 1 story") < text.index("5 January 2026 · 3 stories")  # newest first
    # The lead story of each region, in the edition's section order.
    assert text.index("Election date set") < text.index("Floods close roads in the north")
    assert "Ferry strike ends" not in text and "A dry run nobody saw" not in text
    assert listing.headers["cache-control"] == "public, max-age=3600" and "set-cookie" not in listing.headers


def test_a_long_archive_is_listed_a_page_at_a_time_newest_first(client, engine):
    for day in range(1, 36):  # 35 editions: a full page and five older ones
        sent(engine, f"2026-01-{day:02d}" if day <= 31 else f"2026-02-{day - 31:02d}",
             edition([item(f"Headline of day {day}", "Europe")]))
    first = client.get("/editions")
    assert first.text.count('class="edition-link"') == ARCHIVE_PAGE
    assert "Headline of day 35" in first.text and "Headline of day 5<" not in first.text
    assert '<a rel="next" href="/editions?page=2">' in first.text and "Newer editions" not in first.text
    second = client.get("/editions?page=2")
    assert second.text.count('class="edition-link"') == 5
    assert "Headline of day 5<" in second.text and "Headline of day 1<" in second.text
    assert '<a rel="prev" href="/editions">' in second.text and "Older editions" not in second.text
    for beyond in ("3", "0", "-1", "two", "9" * 40):
        assert client.get(f"/editions?page={beyond}").status_code == 404, beyond


def test_an_edition_page_shows_its_stories_in_the_sites_own_styles(client, engine):
    two_editions(engine)
    page = client.get("/editions/2026-01-05")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<a href="https://news.example.org/floods-close-roads-in-the-north">' in page.text
    assert "Rivers rose overnight. Schools shut." in page.text and "Daily Planet" in page.text
    assert page.text.index(">Africa</h2>") < page.text.index(">Europe</h2>")
    assert "prefers-color-scheme: dark" in page.text  # the site's stylesheet, dark mode included
    assert "class=\"card" not in page.text  # not the email's table layout
    assert client.get("/editions/2026-01-07").status_code == 404


def test_the_atom_feed_lists_sent_editions_as_valid_atom_with_links_below_base_url(config, engine):
    config.mail.base_url = f"{BASE}/digest"
    client = TestClient(app_for(config, engine))
    two_editions(engine)
    response = client.get("/digest/editions.atom")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo and feed.version == "atom10"
    assert feed.feed.title == "World Digest" and feed.feed.id == f"{BASE}/digest/editions.atom"
    assert [e.link for e in feed.entries] == [f"{BASE}/digest/editions/2026-01-06",
                                              f"{BASE}/digest/editions/2026-01-05"]
    newest, older = feed.entries
    assert newest.title == "World Digest: 6 January 2026" and newest.updated == "2026-01-06T06:00:00Z"
    assert older.summary == "3 stories. Election date set; Floods close roads in the north"
    # The feed is found from every page.
    assert 'type="application/atom+xml"' in client.get("/digest/").text
    assert client.get(urlsplit(newest.link).path).status_code == 200


def test_an_empty_archive_still_has_a_valid_feed(client):
    feed = feedparser.parse(client.get("/editions.atom").content)
    assert not feed.bozo and feed.entries == []


def test_the_sample_edition_as_the_run_stores_it_reads_in_the_archive(tmp_path):
    config, engine = sample_folder(tmp_path / "operator")
    day = EDITION_DATE
    edition_time = datetime.combine(day, config.edition.edition_time, tzinfo=config.edition.zone)
    select_edition(engine, day.isoformat(), edition_time, config.edition.window_hours,
                   config.edition.max_lookback_hours, title=config.edition.title)
    built = rebuild_edition(engine, config, day, load_gazetteer())
    save_edition(engine, day.isoformat(), status="sent", html_path="gone.html",
                 stats=stats_json(built.stats, None, built.sections))
    client = TestClient(app_for(config, engine))
    listing = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", client.get("/editions").text))
    assert f"{day.day} {day:%B %Y} · {len(built.items)} stories" in listing
    page = client.get(f"/editions/{day.isoformat()}").text
    for section in built.sections:
        assert f">{html.escape(section.region)}</h2>" in page
        lead = section.items[0]
        assert f'<a href="{html.escape(lead.article.url)}">{html.escape(lead.article.title)}</a>' in page
    [entry] = feedparser.parse(client.get("/editions.atom").content).entries
    assert entry.summary.startswith(f"{len(built.items)} stories. {built.sections[0].items[0].article.title}")
    engine.dispose()


def test_token_pages_tell_browsers_not_to_leak_or_keep_them(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org")
    headers = client.get(preferences).headers
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"


def test_an_old_link_does_not_reach_the_next_person_given_the_same_id(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org").split("?")[0]
    ana = row(engine, "ana@example.org")
    unsubscribe = links_for(config, ana.as_subscriber()).unsubscribe.removeprefix(BASE)
    confirm = link_in(emails(config, "Confirm")[-1], "confirm")
    subs.forget(engine, "ana@example.org")
    # Someone new under Ana's old id, as SQLite handed out before revision 0002 (and as a
    # store restored from a backup still might).
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        session.add(SubscriberRow(id=ana.id, email="bob@example.org", status="pending",
                                  created_at=now, updated_at=now))
    page = client.get("/")
    assert client.get(preferences).status_code == 400
    assert client.post(preferences, data={"regions": ["Africa"], "paused": "true",
                                          "csrf": csrf_of(page.text)}).status_code == 400
    assert client.get(unsubscribe).status_code == 400
    assert client.post(unsubscribe).status_code == 400
    assert client.post(confirm, data={"csrf": csrf_of(page.text)}).status_code == 400
    bob = row(engine, "bob@example.org")
    assert (bob.id, bob.status, bob.regions, bob.paused_at) == (ana.id, "pending", None, None)


def test_asking_again_for_an_unsubscribed_address_changes_nothing_until_its_owner_confirms(
        client, config, engine):
    confirmed(client, config, "ana@example.org", ["Europe"], name="Ana")
    subs.unsubscribe(engine, "ana@example.org")
    subscribe(client, "ana@example.org", ["Africa"], name="Mallory")
    stored = row(engine, "ana@example.org")
    assert (stored.status, stored.name, stored.regions) == ("unsubscribed", "Ana", ["Europe"])
    confirmation = emails(config)[-1]
    assert "Mallory" not in confirmation.get_content()  # a stranger's words do not reach Ana's inbox
    follow_confirmation(client, link_in(confirmation, "confirm"))
    stored = row(engine, "ana@example.org")
    assert (stored.status, stored.name, stored.regions) == ("active", "Mallory", ["Africa"])


def test_asking_again_for_a_pending_address_keeps_the_first_choices_until_a_link_is_followed(
        client, config, engine):
    subscribe(client, "ana@example.org", ["Europe"])
    first = link_in(emails(config, "Confirm")[-1], "confirm")
    subscribe(client, "ana@example.org", ["Africa"])
    assert row(engine, "ana@example.org").regions == ["Europe"]
    follow_confirmation(client, first)
    assert row(engine, "ana@example.org").regions == ["Europe"]


def test_following_a_confirmation_link_again_keeps_choices_made_since(client, config, engine):
    preferences = confirmed(client, config, "ana@example.org", ["Europe"]).split("?")[0]
    confirm = link_in(emails(config, "Confirm")[-1], "confirm")
    page = client.get(preferences)
    client.post(preferences, data={"regions": ["Asia"], "csrf": csrf_of(page.text)})
    follow_confirmation(client, confirm)
    assert row(engine, "ana@example.org").regions == ["Asia"]


def test_a_name_longer_than_the_limit_is_refused(client, config, engine):
    response = subscribe(client, "ana@example.org", name="x" * (subs.NAME_MAX + 1))
    assert response.status_code == 422 and f"at most {subs.NAME_MAX} characters" in response.text
    assert row(engine, "ana@example.org") is None and emails(config) == []


def test_the_rate_limiter_forgets_clients_that_have_gone_quiet():
    now = [0.0]
    limit = RateLimit(2, 60.0, clock=lambda: now[0])
    for i in range(1000):
        assert limit.allow(f"10.0.{i // 256}.{i % 256}")
    now[0] = 61.0
    assert limit.allow("10.9.9.9")
    assert list(limit.events) == ["10.9.9.9"]


@pytest.fixture
def smtp(tmp_path, store_url, monkeypatch):  # noqa: ANN201, F811
    """A real SMTP server and a config that mails through it; (config, mailbox)."""
    monkeypatch.setenv(SIGNING_KEY_ENV, "smtp-test-secret")
    mailbox = Mailbox(faults=Faults(refuse_rcpt=frozenset({"refused@example.org"})))
    server = start(mailbox)
    config = Config(store_url=store_url, output_dir=tmp_path / "out",
                    mail={"base_url": BASE, "smtp": {"host": "127.0.0.1", "port": server.port,
                                                     "security": "none", "password_env": None}})
    yield config, mailbox
    server.stop()


def test_the_confirmation_email_goes_out_through_the_smtp_server(smtp, engine):
    config, mailbox = smtp
    client = TestClient(app_for(config, engine))
    subscribe(client, "ana@example.org", ["Europe"])
    [(recipient, message, _)] = mailbox.messages
    assert recipient == "ana@example.org" and "Confirm" in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated" and emails(config) == []
    follow_confirmation(client, link_in(message, "confirm"))
    assert row(engine, "ana@example.org").status == "active"


def test_an_already_subscribed_email_that_fails_is_logged_as_that_kind(smtp, engine, caplog):
    config, mailbox = smtp
    subs.import_rows(engine, [("refused@example.org", None, None)])
    client = TestClient(app_for(config, engine))
    with caplog.at_level(logging.ERROR, logger="digest.web"):
        assert subscribe(client, "refused@example.org").status_code == 200
    assert mailbox.messages == []
    assert "already email to refused@example.org could not be sent" in caplog.text


def test_confirming_sends_a_welcome_through_the_smtp_server_once(smtp, engine):
    config, mailbox = smtp
    client = TestClient(app_for(config, engine))
    subscribe(client, "ana@example.org", ["Europe"], name="Ana")
    [(_, confirmation, _)] = mailbox.messages
    follow_confirmation(client, link_in(confirmation, "confirm"))
    follow_confirmation(client, link_in(confirmation, "confirm"))  # again: no second welcome
    assert [m["Subject"] for _, m, _ in mailbox.messages] == ["Confirm your subscription to World Digest",
                                                              "Welcome to World Digest"]


def test_the_welcome_carries_the_subscribers_own_preferences_and_unsubscribe_links(client, config, engine):
    confirmed(client, config, "ana@example.org", ["Europe", "Asia"], name="Ana")
    [welcome] = emails(config, "Welcome")
    text = welcome.get_body(("plain",)).get_content()
    html = welcome.get_body(("html",)).get_content()
    assert "Hello Ana," in text and "news from Asia, Europe" in text and f"{BASE}/editions" in text
    ana = row(engine, "ana@example.org")
    key = links.secret_key(config, resolve_secrets(config, os.environ))
    for purpose in ("preferences", "unsubscribe"):
        link = BASE + link_in(welcome, purpose)
        assert_link_for(link, f"{BASE}/{purpose}/", purpose, key, ana.id, ana.email)
        assert link in text and f'href="{link}"' in html
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert client.get(link_in(welcome, "preferences")).status_code == 200
    assert "Stop sending" in client.get(link_in(welcome, "unsubscribe")).text


def test_templates_without_the_welcome_still_confirm_and_say_what_is_missing(client, config, engine,
                                                                           tmp_path, caplog):
    older = tmp_path / "templates"
    shutil.copytree(config.templates_dir, older, ignore=shutil.ignore_patterns("welcome.*"))
    config.templates_dir = older
    with caplog.at_level(logging.ERROR, logger="digest.notices"):
        confirmed(client, config, "ana@example.org")
    assert row(engine, "ana@example.org").status == "active" and emails(config, "Welcome") == []
    assert f"welcome email to ana@example.org not sent: {older} lacks welcome.subject.txt.j2" in caplog.text


def test_digest_web_logs_where_a_mail_went_without_smtp(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path / "digest.db"}"\noutput_dir = "{tmp_path / "out"}"\n',
                      encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "digest.cli", "web", "--port", str(port), "--config", str(config)],
                              stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                form = httpx.get(base + "/")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None, "digest web did not start"
                time.sleep(0.2)
        httpx.post(base + "/subscribe", cookies=form.cookies,
                   data={"email": "ana@example.org", "regions": REGIONS, "csrf": csrf_of(form.text)})
        time.sleep(0.5)  # the mail is written after the answer
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[1]
    [path] = (tmp_path / "out" / "outbox" / "web").glob("*.eml")
    assert f"confirm email to ana@example.org written to {path} (no mail.smtp: nothing was mailed)" in log


def test_a_mail_written_to_the_outbox_is_logged_with_its_path(client, config, engine, caplog):
    with caplog.at_level(logging.INFO, logger="digest.notices"):
        subscribe(client, "ana@example.org")
    [path] = (config.outbox_dir / "web").glob("*.eml")
    assert f"confirm email to ana@example.org written to {path} (no mail.smtp: nothing was mailed)" in caplog.text


def test_every_url_the_app_emits_stays_below_the_base_urls_path(config, engine):
    config.mail.base_url = f"{BASE}/digest/"
    client = TestClient(app_for(config, engine))
    home = client.get("/digest/")
    assert 'action="/digest/subscribe"' in home.text
    assert 'href="/digest/"' in home.text and 'href="/digest/editions"' in home.text
    client.post("/digest/subscribe", data={"email": "ana@example.org", "regions": REGIONS,
                                           "csrf": csrf_of(home.text)})
    confirm = link_in(emails(config, "Confirm")[-1], "confirm")
    assert confirm.startswith("/digest/confirm/")
    assert f'action="{confirm}"' in client.get(confirm).text
    preferences = follow_confirmation(client, confirm)
    assert preferences.startswith("/digest/preferences/")
    page = client.get(preferences).text
    assert 'action="/digest/preferences/' in page and f'href="{BASE}/digest/unsubscribe/' in page
    unsubscribe = re.search(r'href="[^"]*(/digest/unsubscribe/[^"]+)"', page).group(1)
    assert 'action="/digest/unsubscribe/' in client.get(unsubscribe).text
    # A proxy that strips the path before passing requests on reaches the same pages.
    assert 'href="/digest/editions"' in client.get("/editions").text


# --- the signing key: never a public one --------------------------------------------------


def test_without_a_secret_the_app_signs_with_a_key_of_its_own_kept_beside_the_store(
        tmp_path, monkeypatch, caplog):
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    config = Config(store_url=f"sqlite:///{tmp_path / 'data' / 'digest.db'}", output_dir=tmp_path / "out",
                    mail={"base_url": BASE})
    from digest.store import open_store

    engine = open_store(config.store_url)
    with caplog.at_level(logging.WARNING, logger="digest.links"):
        client = TestClient(app_for(config, engine))
    key_file = tmp_path / "data" / links.SECRET_FILE
    assert f"created a random signing key in {key_file}" in caplog.text
    assert key_file.stat().st_mode & 0o777 == 0o600
    preferences = confirmed(client, config, "ana@example.org")
    ana = row(engine, "ana@example.org")
    # Links signed with the key everyone could read before are worthless now.
    public = "insecure-development-secret"
    for purpose in ("unsubscribe", "preferences"):
        forged = links.make_token(public, ana.id, purpose, ana.email)
        assert client.get(f"/{purpose}/{forged}").status_code == 400
    forged_confirm = links.make_token(public, ana.id, "confirm", ana.email, links.Choices(None, ["Asia"]))
    assert client.get(f"/confirm/{forged_confirm}").status_code == 400
    # The job, building messages on the same store, signs with that same key.
    assert client.get(preferences).status_code == 200
    unsubscribe = urlsplit(links_for(config, ana.as_subscriber()).unsubscribe).path
    assert client.get(unsubscribe).status_code == 200
    engine.dispose()


# --- what an unsubscribe link can do: unsubscribe ------------------------------------------


def test_the_unsubscribed_page_offers_a_confirmation_email_not_a_preferences_link(client, config, engine):
    confirmed(client, config, "ana@example.org", ["Europe"])
    ana = row(engine, "ana@example.org")
    unsubscribe = urlsplit(links_for(config, ana.as_subscriber()).unsubscribe).path
    page = client.post(unsubscribe)
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    assert "/preferences/" not in page.text and "/confirm/" not in page.text
    assert client.get(unsubscribe.replace("/unsubscribe/", "/preferences/")).status_code == 400
    # "Subscribe again" is the subscribe form: it mails a confirmation link to the address.
    sent_before = len(emails(config))
    again = client.post("/subscribe", data={"email": "ana@example.org", "regions": ["Europe"],
                                            "csrf": csrf_of(page.text)})
    assert again.status_code == 200 and "Check your inbox" in again.text
    assert row(engine, "ana@example.org").status == "unsubscribed"
    [confirmation] = emails(config)[sent_before:]
    follow_confirmation(client, link_in(confirmation, "confirm"))
    assert row(engine, "ana@example.org").status == "active"


# --- addresses the sender can use -----------------------------------------------------------


def test_an_address_with_a_non_ascii_mailbox_is_refused_on_the_form(client, config, engine):
    response = subscribe(client, "üser@example.org")
    assert response.status_code == 422
    assert "plain (ASCII) letters before the @" in response.text
    assert list_subscribers(engine) == [] and emails(config) == []


def test_an_international_domain_is_stored_and_mailed_as_punycode(client, config, engine):
    response = subscribe(client, "user@bücher.de")
    assert response.status_code == 200
    assert [r.email for r in list_subscribers(engine)] == ["user@xn--bcher-kva.de"]
    [confirmation] = emails(config)
    assert confirmation["To"] == "user@xn--bcher-kva.de"
    raw = next((config.outbox_dir / "web").glob("*.eml")).read_bytes()
    assert b"\nTo: user@xn--bcher-kva.de" in raw and b"=?utf-8?" not in raw.split(b"\n\n", 1)[0].lower()


# --- forwarded headers: only from the proxies named in the config ---------------------------


@pytest.fixture
def served(config, engine):  # noqa: ANN201
    """Start the app behind a real uvicorn on 127.0.0.1, as `digest web` does; a function of
    the trusted proxies that returns the base URL."""
    import socket
    import threading

    import uvicorn

    servers = []

    def serve(trusted: list[str]) -> str:
        config.web.trusted_proxies = trusted
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        app = app_for(config, engine, subscribes_per_ip=(1, 3600.0))
        server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        while not server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield serve
    for server in servers:
        server.should_exit = True


def subscribe_from(base: str, email: str, forwarded_for: str) -> int:
    import httpx

    with httpx.Client(base_url=base) as http:
        form = http.get("/")
        return http.post("/subscribe", headers={"X-Forwarded-For": forwarded_for},
                         data={"email": email, "regions": REGIONS, "csrf": csrf_of(form.text)}).status_code


def test_a_client_cannot_dodge_the_per_client_limit_with_x_forwarded_for(served):
    base = served([])
    assert subscribe_from(base, "a@example.org", "203.0.113.1") == 200
    assert subscribe_from(base, "b@example.org", "203.0.113.2") == 429  # still 127.0.0.1


def test_a_trusted_proxy_forwards_each_clients_own_address(served):
    base = served(["127.0.0.0/8"])
    assert subscribe_from(base, "a@example.org", "203.0.113.1") == 200
    assert subscribe_from(base, "b@example.org", "203.0.113.2") == 200
    assert subscribe_from(base, "c@example.org", "203.0.113.1") == 429
