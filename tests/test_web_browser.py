"""A reader in headless Chromium: subscribe → confirmation email at the SMTP server → follow
its link → change regions → unsubscribe, with the database checked after each step.

Chromium is driven over the DevTools protocol (websockets), so nothing beyond Debian's
`chromium` is needed.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session
from websockets.sync.client import connect as ws_connect

from digest import subscribers as subs
from digest.config import Config
from digest.store import open_store
from digest.web import create_app
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
    monkeypatch.setenv(subs.SECRET_ENV, "browser-test-secret")
    mailbox = Mailbox()
    smtp_server = start(mailbox)
    port = free_port()
    config = Config(store_url=f"sqlite:///{tmp_path / 'digest.db'}", output_dir=tmp_path / "out",
                    mail={"base_url": f"http://127.0.0.1:{port}{request.param}",
                          "smtp": {"host": "127.0.0.1", "port": smtp_server.port, "security": "none",
                                   "password_env": None}})
    engine = open_store(config.store_url)
    server = uvicorn.Server(uvicorn.Config(create_app(config, engine), host="127.0.0.1", port=port,
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
    with Session(engine) as session:
        return subs.find(session, email)


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
