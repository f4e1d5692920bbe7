"""The whole job, as an operator runs it: `digest run` on the sample corpus, feeds served over HTTP.

A real subprocess, a real Prefect flow run on the ephemeral API, real HTTP, and the
resulting .eml files parsed back with Python's email package.
"""

from __future__ import annotations

import email
import email.policy
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from digest.models import Section

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample"
DIGEST = Path(sys.executable).with_name("digest")

pytestmark = pytest.mark.slow


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002, ANN001, ANN002 - keep the test output clean
        pass


@pytest.fixture(scope="module")
def sample_server():
    handler = functools.partial(QuietHandler, directory=str(SAMPLE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def write_config(folder: Path, base_url: str, extra_source: str = "") -> Path:
    config = folder / "digest.toml"
    config.write_text(f"""
output_dir = "out"
store_url = "sqlite:///digest.db"
subscribers_file = "{SAMPLE / 'subscribers.csv'}"

[edition]
timezone = "Europe/London"
window_hours = 36
max_lookback_hours = 36

[mail]
sender = "World Digest <digest@example.org>"
base_url = "https://digest.example.org"

[[sources]]
name = "Sample World News"
kind = "feed"
url = "{base_url}/feeds/world.rss"
local = true

[[sources]]
name = "Sample Wire"
kind = "feed"
url = "{base_url}/feeds/wire.atom"
fetch_pages = false
local = true

[[sources]]
name = "Article files"
kind = "folder"
url = "{SAMPLE / 'articles'}"
{extra_source}
""", encoding="utf-8")
    return config


def run_digest(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PREFECT_HOME=str(config.parent / "prefect-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", COLUMNS="200")
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([str(DIGEST), "run", "--config", str(config), "--date", "2017-10-18", *args],
                          capture_output=True, text=True, env=env, timeout=600, cwd=config.parent)


def parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def html_part(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


@pytest.fixture(scope="module")
def edition(tmp_path_factory, sample_server):
    folder = tmp_path_factory.mktemp("sample-edition")
    broken = f"""
[[sources]]
name = "Broken feed"
kind = "feed"
url = "{sample_server}/feeds/missing.rss"
local = true
"""
    config = write_config(folder, sample_server, broken)
    result = run_digest(config)
    (folder / "run.log").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr, encoding="utf-8")
    assert result.returncode == 0, result.stdout + result.stderr
    return folder, result


def test_every_subscriber_gets_one_multipart_message(edition):
    folder, _ = edition
    messages = sorted((folder / "out" / "outbox").rglob("*.eml"))
    recipients = sorted(str(parse(p)["To"]) for p in messages)
    assert len(recipients) == 5 and len(set(recipients)) == 5
    for path in messages:
        message = parse(path)
        assert message.get_content_type() == "multipart/alternative"
        html = html_part(message)
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert 'style="' in html, "CSS must be inlined"
        assert text.strip()
        assert message["List-Unsubscribe"]


def section_html(html: str, region: str) -> str:
    """The part of the HTML from a region's section anchor up to the next section."""
    start = html.index(f'id="{Section(region, ()).anchor}"')
    following = html.find('id="region-', start + 1)
    return html[start:following if following != -1 else len(html)]


def test_the_seed_lands_in_the_middle_east_with_a_short_summary(edition):
    folder, _ = edition
    ada = next(p for p in (folder / "out" / "outbox").rglob("*.eml") if "ada@" in str(parse(p)["To"]))
    middle_east = section_html(html_part(parse(ada)), "Middle East")
    assert "First day of Syrian peace talks end without breakthrough" in middle_east
    assert re.search(r"without\s+a\s+breakthrough", middle_east)


def test_subscribers_get_only_the_regions_they_chose(edition):
    folder, _ = edition
    by_recipient = {str(parse(p)["To"]): parse(p) for p in (folder / "out" / "outbox").rglob("*.eml")}
    brigitte = html_part(next(m for to, m in by_recipient.items() if "brigitte@" in to))
    ada = html_part(next(m for to, m in by_recipient.items() if "ada@" in to))
    anchors = {s: Section(s, ()).anchor for s in ("Europe", "Asia", "Middle East", "Africa")}
    assert f'id="{anchors["Europe"]}"' in brigitte
    assert all(f'id="{anchors[r]}"' not in brigitte for r in ("Asia", "Middle East", "Africa"))
    assert all(f'id="{anchor}"' in ada for anchor in anchors.values())


def test_a_broken_feed_is_reported_and_spoils_nothing(edition):
    folder, result = edition
    failed_sources = result.stdout[result.stdout.find("Failed sources"):]
    assert "Broken feed" in failed_sources and "404" in failed_sources
    assert "Sample World News" not in failed_sources and "Sample Wire" not in failed_sources, result.stdout
    html_files = list((folder / "out" / "editions").glob("*.html"))
    assert len(html_files) == 1
    html = html_files[0].read_text(encoding="utf-8")
    assert "Notre Dame in Paris catches fire" in html  # from the RSS feed's pages
    assert "Canada 2019 general election" in html  # in both feeds


def test_running_the_same_edition_again_sends_nothing_twice(edition):
    folder, _ = edition
    before = sorted(p.name for p in (folder / "out" / "outbox").rglob("*.eml"))
    again = run_digest(folder / "digest.toml")
    assert again.returncode == 0, again.stdout + again.stderr
    after = sorted(p.name for p in (folder / "out" / "outbox").rglob("*.eml"))
    assert after == before
