"""A reader in headless Chromium: subscribe → confirmation email at the SMTP server → follow
its link → change regions → unsubscribe, with the database checked after each step; and a
visitor reading the archive, on a phone and in dark mode.

Chromium is driven over the DevTools protocol (websockets), so nothing beyond Debian's
`chromium` is needed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session
from websockets.sync.client import connect as ws_connect

from digest import subscribers as subs
from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, resolve_secrets
from digest.edition import stats_json
from digest.store import EditionRow, find_subscriber, open_store
from digest.web import create_app
from edition_builders import edition, item
from smtp_server import Mailbox, free_port, start

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")]


class Tab:
    """One browser tab over the DevTools protocol: just what a reader does."""

    def __init__(self, ws_url: str) -> None:
        self.ws = ws_connect(ws_url, max_size=None)
        self.ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:  # noqa: ANN003
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == call_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression: str):  # noqa: ANN201
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for_text(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        body = ""
        while time.monotonic() < deadline:
            try:
                body = self.js("document.readyState === 'complete' ? document.body.innerText : ''") or ""
            except RuntimeError:  # the page is being replaced by the next one
                body = ""
            if text in body:
                return body
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; the page says: {body[:300]!r}")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def click(self, selector: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).click()")

    def type_into(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def tick_only(self, regions: list[str]) -> None:
        for box in self.js("[...document.querySelectorAll('input[name=regions]')].map(b => b.value)"):
            if (box in regions) != self.js(f"document.querySelector('input[value=\"{box}\"]').checked"):
                self.click(f'input[value="{box}"]')


@pytest.fixture
def browser(tmp_path) -> Iterator[Tab]:
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
        tab = Tab(pages[0]["webSocketDebuggerUrl"])
        yield tab
        tab.ws.close()
    finally:
        process.kill()
        process.wait()


@pytest.fixture(params=["", "/digest"], ids=["at-root", "below-a-path"])
def site(request, tmp_path, monkeypatch) -> Iterator[tuple[str, Mailbox, object]]:  # noqa: ANN001
    """The app behind uvicorn, at the root of its host or below a path of base_url."""
    monkeypatch.setenv(SIGNING_KEY_ENV, "browser-test-secret")
    mailbox = Mailbox()
    smtp_server = start(mailbox)
    port = free_port()
    config = Config(store_url=f"sqlite:///{tmp_path / 'digest.db'}", output_dir=tmp_path / "out",
                    mail={"base_url": f"http://127.0.0.1:{port}{request.param}",
                          "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none",
                                   "password_env": None}})
    engine = open_store(config.store_url)
    app = create_app(config, engine, secrets=resolve_secrets(config, os.environ))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield config.mail.base_url, mailbox, engine
    finally:
        server.should_exit = True
        thread.join()
        smtp_server.stop()
        engine.dispose()


def stored(engine, email: str):  # noqa: ANN001, ANN201
    return find_subscriber(engine, email)


def wait_for_mail(mailbox: Mailbox, to: str, timeout: float = 10.0):  # noqa: ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for rcpt, m, _ in mailbox.messages if rcpt == to]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no email reached the SMTP server for {to}")


def test_a_reader_subscribes_confirms_chooses_regions_and_unsubscribes(browser, site):
    base, mailbox, engine = site
    address = "reader@example.org"

    browser.goto(base + "/")
    browser.wait_for_text("Subscribe to")
    browser.type_into("#email", address)
    browser.tick_only(["Europe", "Asia"])
    browser.click("button[type=submit]")
    browser.wait_for_text("Check your inbox")
    row = stored(engine, address)
    assert (row.status, row.regions) == ("pending", ["Asia", "Europe"])

    confirmation = wait_for_mail(mailbox, address)
    link = re.search(r"https?://\S+/confirm/\S+", confirmation.get_content()).group(0)
    browser.goto(link)
    browser.wait_for_text("Start sending")
    assert stored(engine, address).status == "pending"
    browser.click("#confirm")
    browser.wait_for_text("You are subscribed")
    assert stored(engine, address).status == "active"
    prefix = urlsplit(base).path
    assert browser.js("location.pathname").startswith(f"{prefix}/preferences/")  # the redirect kept base_url's path

    browser.tick_only(["Europe", "Africa"])
    browser.click("#save")
    browser.wait_for_text("Saved.")
    row = stored(engine, address)
    assert (row.status, row.regions) == ("active", ["Africa", "Europe"])

    browser.click("#unsubscribe")
    browser.wait_for_text("Stop sending")
    browser.click("#unsubscribe")
    browser.wait_for_text("You are unsubscribed")
    assert browser.js("location.pathname").startswith(f"{prefix}/unsubscribe/")
    row = stored(engine, address)
    assert row.status == "unsubscribed" and row.unsubscribed_at is not None
    assert subs.active_subscribers(engine) == []


def dark(tab: Tab, on: bool) -> None:
    tab.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme",
                                                      "value": "dark" if on else "light"}])


def background(tab: Tab, selector: str) -> str:
    return tab.js(f"getComputedStyle(document.querySelector({json.dumps(selector)})).backgroundColor")


def test_a_visitor_reads_the_archive_on_a_phone_and_finds_its_feed(browser, site):
    base, _, engine = site
    built = edition([item("Floods close roads in the north", "Europe",
                          summary=("Rivers rose overnight across the region.", "Schools stayed shut.")),
                     item("Election date set", "Africa")])
    until = datetime(2026, 1, 5, 6, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        session.add(EditionRow(id="2026-01-05", title="World Digest", created=until, since=until, until=until,
                               status="sent", stats=stats_json(built.stats, None, built.sections)))
    browser.call("Emulation.setDeviceMetricsOverride", width=375, height=740, deviceScaleFactor=2, mobile=True)

    browser.goto(base + "/editions")
    listing = browser.wait_for_text("Past editions")
    assert "5 January 2026 · 2 stories" in listing and "Election date set" in listing
    assert browser.js("document.querySelector('link[type=\"application/atom+xml\"]').href") == base + "/editions.atom"
    browser.click(".edition-link")
    page = browser.wait_for_text("Rivers rose overnight across the region. Schools stayed shut.")
    assert page.index("Africa") < page.index("Europe")
    assert browser.js("location.pathname") == urlsplit(base).path + "/editions/2026-01-05"
    assert browser.js("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone
    feed = httpx.get(browser.js("document.querySelector('link[type=\"application/atom+xml\"]').href"))
    assert feed.status_code == 200 and b"<entry>" in feed.content


def test_the_pages_follow_the_readers_dark_mode(browser, site):
    base, _, _ = site
    browser.goto(base + "/")
    browser.wait_for_text("Subscribe to")
    assert (background(browser, "body"), background(browser, "main")) == ("rgb(244, 244, 241)", "rgb(255, 255, 255)")
    dark(browser, True)
    assert (background(browser, "body"), background(browser, "main"), background(browser, "#email")) == (
        "rgb(11, 15, 20)", "rgb(21, 27, 35)", "rgb(11, 15, 20)")
    assert browser.js("getComputedStyle(document.body).color") == "rgb(230, 233, 238)"  # light text on it
