"""The email as subscribers see it: headless Chromium at phone and desktop widths, and a
compatibility lint against caniemail's data (Gmail, Outlook, Apple Mail).

Needs Debian's `chromium` and `npm ci --prefix tests/email_lint` (both done by .ci/run);
without them these tests skip locally and fail under CI.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx

import pytest
from websockets.sync.client import connect
from edition_builders import REGIONS, synthetic, wikinews

from digest import render
from digest.config import Config
from digest.models import Section

LINT_DIR = Path(__file__).resolve().parent / "email_lint"
VALUES = {"greeting": "Hello Ana", "email": "ana@example.org",
          "unsubscribe": "https://digest.example.org/unsubscribe/tok-1",
          "preferences": "https://digest.example.org/preferences/tok-2",
          "web_url": "https://digest.example.org/editions/2019-01-04"}
CLIENTS = ("gmail.*", "outlook.windows", "outlook.windows-mail", "outlook.macos", "apple-mail.*")

# caniemail features we use that some of those clients lack, each with the fallback that
# keeps the email right there. Any other unsupported feature fails the lint.
FALLBACKS = {
    "@media": "media queries only refine the layout; the inline styles are a fluid 600px column",
    "Class selector": "selectors live only in the kept <style> block; every base style is inlined",
    "Type selector": "as above: the kept block only refines",
    "ID selector": "as above: the kept block only refines",
    "Attribute selector": "only for Apple data detectors and Outlook.com dark mode, which support it",
    "Descendant combinator": "only in the kept block's client-specific dark-mode rules",
    "<body> element": "the body background is repeated on the outer .page table",
    "display:none": "the preheader is also max-height:0, 1px, transparent and mso-hide:all",
    "overflow": "preheader hiding; Outlook on Windows hides it with mso-hide:all",
    "opacity": "preheader hiding; other properties hide it where opacity is unsupported",
    "role attribute": "an accessibility hint; clients that drop it still show the tables",
    "aria-label attribute": "an accessibility hint; clients that drop it lose nothing visible",
    "Local anchors": "the contents list still names each region in the order the sections follow",
    "white-space": "keeps 'N stories' on one line; the cell has a fixed width as fallback",
}

PROBE = """(function () {
  var root = document.documentElement, out = {viewport: window.innerWidth, scrollWidth: root.scrollWidth,
    height: root.scrollHeight, sections: []};
  document.querySelectorAll('h2[id]').forEach(function (h) {
    var r = h.getBoundingClientRect(), cs = getComputedStyle(h);
    out.sections.push({id: h.id, width: r.width, height: r.height, left: r.left, right: r.right,
      shown: cs.display !== 'none' && cs.visibility !== 'hidden'});
  });
  out.sideDisplay = getComputedStyle(document.querySelector('.masthead-side')).display;
  out.cardBackground = getComputedStyle(document.querySelector('.card')).backgroundColor;
  return out;
})()"""


class Chromium:
    """Headless Chromium driven over the DevTools protocol: exact viewport widths (the
    --window-size flag has a minimum above phone width), emulated colour scheme, screenshots."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.socket = None
        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise AssertionError("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page"]
        self.socket = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=20)
        self.next_id = 0

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str, width: int, dark: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        self.call("Emulation.setEmulatedMedia",
                  features=[{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.evaluate("document.readyState") != "complete":
            assert time.monotonic() < deadline, f"{url} did not finish loading"
            time.sleep(0.05)

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path: Path, width: int, height: int) -> Path:
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    _need(binary, "Debian's chromium")
    chromium = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def look(browser: Chromium, tmp_path: Path, document: str, width: int, dark: bool = False,
         shot: str | None = None) -> dict:
    """Open the email at `width` px; optionally write a full-height screenshot under tmp_path."""
    page = tmp_path / f"email-{width}{'-dark' if dark else ''}.html"
    page.write_text(document, encoding="utf-8")
    browser.open(page.as_uri(), width, dark)
    seen = browser.evaluate(PROBE)
    if shot:
        path = browser.screenshot(tmp_path / f"{shot}.png", width, min(seen["height"], 8000))
        assert path.stat().st_size > 10_000
        print(f"screenshot: {path}")
    return seen


def _need(tool: str | None, what: str) -> None:
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not installed (.ci/run installs it)")
        pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def email_html() -> str:
    return render.render_segment(synthetic(21), Config(), None).fill(VALUES)[0]


@pytest.mark.slow
@pytest.mark.parametrize("width", [375, 600])
def test_no_horizontal_scrolling_and_every_section_visible(browser, tmp_path, email_html, width):
    seen = look(browser, tmp_path, email_html, width, shot=f"email-{width}")
    assert seen["viewport"] == width
    assert seen["scrollWidth"] <= width, f"page is {seen['scrollWidth']}px wide at {width}px"
    assert [s["id"] for s in seen["sections"]] == [Section(r, ()).anchor for r in REGIONS]
    for section in seen["sections"]:
        assert section["shown"] and section["width"] > 0 and section["height"] > 0, section
        assert 0 <= section["left"] and section["right"] <= width, section


@pytest.mark.slow
def test_columns_stack_on_a_phone_and_sit_side_by_side_on_a_desktop(browser, tmp_path, email_html):
    assert look(browser, tmp_path, email_html, 375)["sideDisplay"] == "block"
    assert look(browser, tmp_path, email_html, 600)["sideDisplay"] == "table-cell"


@pytest.mark.slow
def test_dark_mode_rules_take_effect_after_inlining(browser, tmp_path, email_html):
    light = look(browser, tmp_path, email_html, 600)
    dark = look(browser, tmp_path, email_html, 375, dark=True, shot="email-375-dark")
    assert light["cardBackground"] == "rgba(0, 0, 0, 0)"  # the white container shows through
    assert dark["cardBackground"] == "rgb(21, 27, 35)"  # #151b23 from the prefers-color-scheme block


@pytest.mark.slow
def test_sample_edition_screenshot_of_real_wikinews_stories(browser, tmp_path, shared_data):
    """Real Wikinews stories (CC BY 2.5) at 600 px: nothing overflows; the screenshot stays in tmp_path."""
    config = Config()
    config.mail.imprint = ("Sample edition: summaries of Wikinews articles, CC BY 2.5 "
                           "https://creativecommons.org/licenses/by/2.5/ (shortened)")
    document = render.render_segment(wikinews(shared_data, 12), config, None).fill(VALUES)[0]
    seen = look(browser, tmp_path, document, 600)
    assert seen["scrollWidth"] <= 600
    assert browser.screenshot(tmp_path / "sample-edition.png", 600, 1500).stat().st_size > 0


@pytest.fixture(scope="module")
def lint() -> Path:
    node = shutil.which("node")
    _need(node, "node")
    _need(str(LINT_DIR) if (LINT_DIR / "node_modules" / "@jsx-email" / "doiuse-email").is_dir() else None,
          "@jsx-email/doiuse-email (npm ci --prefix tests/email_lint)")
    return LINT_DIR / "lint.mjs"


def caniemail_errors(script: Path, document: str) -> list[str]:
    done = subprocess.run(["node", str(script), *CLIENTS], input=document, capture_output=True, text=True,
                          timeout=60, check=True, cwd=script.parent)
    return json.loads(done.stdout)["errors"]


@pytest.mark.slow
@pytest.mark.parametrize("regions", [None, frozenset({"Europe"}), frozenset({"Antarctica"})],
                         ids=["all-regions", "one-region", "quiet-day"])
def test_caniemail_finds_nothing_unsupported_without_a_fallback(lint, regions):
    document = render.render_segment(synthetic(21), Config(), regions).fill(VALUES)[0]
    errors = caniemail_errors(lint, document)
    features = {re.match(r"`(.+?)` is not supported", e).group(1) for e in errors}
    assert features - set(FALLBACKS) == set(), [e for e in errors if not any(f"`{k}`" in e for k in FALLBACKS)]


@pytest.mark.slow
def test_the_lint_catches_a_feature_without_fallback(lint):
    """The lint is live: a flexbox layout (unsupported in Outlook on Windows) is reported."""
    document = "<!DOCTYPE html><html lang='en'><body><div style='display:flex'>x</div></body></html>"
    assert any("flex" in e.lower() and "outlook.windows" in e for e in caniemail_errors(lint, document))
