"""Bounces and mailed unsubscribes, read from a real IMAP server (Dovecot on a loopback port).

The samples in tests/fixtures/bounces/ are written in the formats Postfix, Exim, Gmail and
Outlook (Exchange Online) send, with made-up addresses; each quotes the Message-ID
`<2026-11-30.N@example.org>` of the message it returns, which the tests store as sent.
"""

from __future__ import annotations

import imaplib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest import bounces, links, returned_mail
from digest import subscribers as subs
from digest.config import Config
from digest.config_file import ConfigError, config_from_dict
from digest.credentials import SIGNING_KEY_ENV, resolve_secrets
from digest.store.ledger import BOUNCED, FAILED, SENT, Claim, Ledger, Outcome
from digest.store import DeliveryRow, SubscriberRow, open_store

SAMPLES = FIXTURES / "bounces"
SECRET = "bounce-test-secret"
PASSWORD_ENV = "DIGEST_TEST_IMAP_PASSWORD"
# Who each sample is about, and the number N of the message it returns.
SENT_TO = {
    "gone@example.net": 11,  # postfix-unknown-user
    "nobody@example.com": 12,  # exim-unknown-user
    "full@example.com": 13,  # exim-mailbox-full
    "slow@example.com": 14,  # postfix-delayed
    "quota.reader@example.net": 15,  # gmail-over-quota
    "ghost@contoso.example": 16,  # outlook-recipient-not-found
    "reader@example.com": 17,  # reader-reply, out-of-office
    "leaving@example.com": 19,  # mailto-unsubscribe
}


def _dovecot() -> str:
    found = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip("dovecot not found (Debian: apt-get install dovecot-imapd)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Imap:
    host: str
    port: int
    user: tuple[str, str]  # address, password

    def connect(self, user: str, password: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        conn.login(user, password)
        return conn


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Imap]:
    """Dovecot on a loopback port, configured in a temporary folder: passwd-file users,
    maildirs, plaintext login (loopback only), no TLS, no system service."""
    binary = _dovecot()
    # Not pytest's tmp_path: that is private to the user running the tests, and Dovecot's
    # mail processes run as an unprivileged user when the tests run as root.
    base = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    base.chmod(0o755)
    port = _free_port()
    if os.geteuid() == 0:
        login_user, internal_user, mail_user = "dovenull", "dovecot", pwd.getpwnam("dovecot")
    else:
        me = pwd.getpwuid(os.getuid())
        login_user = internal_user = me.pw_name
        mail_user = me
    (base / "mail").mkdir()
    os.chown(base / "mail", mail_user.pw_uid, mail_user.pw_gid)
    user = ("bounces@example.org", "imap-test-password")
    passwd = base / "passwd"
    passwd.write_text(f"{user[0]}:{{PLAIN}}{user[1]}\n", encoding="ascii")
    passwd.chmod(0o644)
    (base / "dovecot.conf").write_text(f"""
base_dir = {base}/run
state_dir = {base}/state
instance_name = digest-test-{port}
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:{base}/mail/%u
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={base}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""", encoding="ascii")
    process = subprocess.Popen([binary, "-F", "-c", str(base / "dovecot.conf")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # a busy 2-core machine
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (base / "dovecot.log").read_text() if (base / "dovecot.log").exists() else ""
                    pytest.fail(f"dovecot did not start: {process.stdout.read().decode()} {log}")
                time.sleep(0.1)
        yield Imap("127.0.0.1", port, user)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot: Imap, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The test user's mailbox, emptied: no mail in the inbox, no other folder."""
    user, password = dovecot.user
    conn = dovecot.connect(user, password)
    _, folders = conn.list()
    for line in folders:
        name = line.decode().rsplit(' "." ', 1)[-1].strip('"')
        if name.upper() != "INBOX":
            conn.delete(f'"{name}"')
    _, count = conn.select("INBOX")
    if int(count[0]):
        conn.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
        conn.expunge()
    conn.logout()
    monkeypatch.setenv(PASSWORD_ENV, password)
    return user, password


@pytest.fixture
def config(tmp_path: Path, store_url: str, dovecot: Imap, mailbox: tuple[str, str],
           monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv(SIGNING_KEY_ENV, SECRET)
    imap = {"host": dovecot.host, "port": dovecot.port, "security": "none", "username": mailbox[0],
            "password_env": PASSWORD_ENV, "folders": {"inbox": "INBOX", "processed": "Digest processed"}}
    raw = {"store_url": store_url, "mail": {"sender": "World Digest <digest@example.org>", "imap": imap}}
    (tmp_path / "digest.toml").write_text(_toml(raw), encoding="utf-8")
    return config_from_dict(raw, base=tmp_path, path=tmp_path / "digest.toml")


def _toml(raw: dict, prefix: str = "") -> str:
    """Just enough TOML for the config above (strings, ints, nested tables)."""
    flat = "".join(f"{k} = {json.dumps(v)}\n" for k, v in raw.items() if not isinstance(v, dict))
    head = f"[{prefix}]\n" if prefix and flat else ""
    return head + flat + "".join(_toml(v, f"{prefix}.{k}" if prefix else k)
                                 for k, v in raw.items() if isinstance(v, dict))


def _message_id(n: int) -> str:
    return f"<2026-11-30.{n}@example.org>"


def _sent(engine: Engine, edition: str = "2026-11-30", recipients: dict[str, int] = SENT_TO) -> dict[str, int]:
    """Store the subscribers and record the edition as sent to each (through the ledger)."""
    subs.import_rows(engine, [(address, None, None) for address in recipients], update_existing=False)
    with Session(engine) as session:
        ids = {row.email: row.id for row in session.scalars(select(SubscriberRow))}
    ledger = Ledger(engine, edition, lease_seconds=60)
    ledger.prepare()
    entries = ledger.entries([ids[a] for a in recipients])
    for address, n in recipients.items():
        entry = entries[ids[address]]
        claim = Claim(entry.delivery_id, ids[address], entry.status, entry.owner)
        message_id = _message_id(n).replace("2026-11-30", edition)
        assert ledger.step(claim=claim, message_id=message_id)[0]
        ledger.step(Outcome(claim, SENT, None, message_id))
    return ids


def _sample(name: str, **fill: str) -> bytes:
    raw = (SAMPLES / name).read_bytes()
    for key, value in fill.items():
        raw = raw.replace(b"{" + key.encode() + b"}", value.encode("ascii"))
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _deliver(dovecot: Imap, mailbox: tuple[str, str], *mails: bytes) -> None:
    conn = dovecot.connect(*mailbox)
    for raw in mails:
        status, data = conn.append("INBOX", None, None, raw)
        assert status == "OK", data
    conn.logout()


def _subjects(dovecot: Imap, mailbox: tuple[str, str], folder: str) -> list[str]:
    conn = dovecot.connect(*mailbox)
    status, _ = conn.select(f'"{folder}"', readonly=True)
    assert status == "OK", folder
    _, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
    conn.logout()
    return sorted(returned_mail.header_text(item[1].decode().replace("\r\n", " ")) for item in data
                  if isinstance(item, tuple))


def _status(engine: Engine, address: str) -> str:
    return subs.find(engine, address).status


def _delivery(engine: Engine, address: str, edition: str = "2026-11-30") -> DeliveryRow:
    with Session(engine) as session:
        return session.scalar(select(DeliveryRow).join(SubscriberRow, SubscriberRow.id == DeliveryRow.subscriber_id)
                              .where(SubscriberRow.email == address, DeliveryRow.edition_id == edition))


def _unsubscribe_token(engine: Engine, address: str) -> str:
    row = subs.find(engine, address)
    return links.make_token(SECRET, row.id, "unsubscribe", row.email)


# --- reading each format --------------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "kind", "address", "status"), [
    ("postfix-unknown-user.eml", "hard", "gone@example.net", "5.1.1"),
    ("postfix-delayed.eml", "delay", "slow@example.com", "4.4.1"),
    ("exim-unknown-user.eml", "hard", "nobody@example.com", "5.1.1"),
    ("exim-mailbox-full.eml", "soft", "full@example.com", "5.2.2"),
    ("gmail-over-quota.eml", "soft", "quota.reader@example.net", "5.2.2"),
    ("outlook-recipient-not-found.eml", "hard", "ghost@contoso.example", "5.1.10"),
])
def test_each_mta_format_names_the_recipient_and_whether_the_address_is_dead(sample, kind, address, status):
    (notice,) = returned_mail.read_notices(_sample(sample))
    assert (notice.kind, notice.address, notice.status) == (kind, address, status)
    assert _message_id(SENT_TO[address]) in notice.message_ids


def test_an_out_of_office_reply_is_recognised_and_a_reader_reply_is_not():
    assert [n.kind for n in returned_mail.read_notices(_sample("out-of-office.eml"))] == ["auto-reply"]
    assert returned_mail.read_notices(_sample("reader-reply.eml")) == []


def test_a_report_in_a_format_nobody_reads_is_not_taken_for_an_auto_reply():
    # Marked auto-submitted like every MTA report: it must stay in the inbox, not be filed away.
    assert returned_mail.read_notices(_sample("unknown-format-report.eml")) == []


def test_a_mailto_unsubscribe_carries_the_link_token_from_its_subject():
    (notice,) = returned_mail.read_notices(_sample("mailto-unsubscribe.eml", token="abc.def-ghi"))
    assert (notice.kind, notice.token, notice.address) == ("unsubscribe", "abc.def-ghi", "leaving@example.com")


# --- the mailbox, end to end ----------------------------------------------------------------------


def test_processing_the_mailbox_acts_on_each_report_and_moves_only_what_it_dealt_with(config, dovecot, mailbox):
    engine = open_store(config.store_url)
    _sent(engine)
    token = _unsubscribe_token(engine, "leaving@example.com")
    samples = ["postfix-unknown-user.eml", "postfix-delayed.eml", "exim-unknown-user.eml",
               "exim-mailbox-full.eml", "gmail-over-quota.eml", "outlook-recipient-not-found.eml",
               "out-of-office.eml", "reader-reply.eml", "stranger-failure.eml"]
    _deliver(dovecot, mailbox, *(_sample(s) for s in samples), _sample("mailto-unsubscribe.eml", token=token),
             _sample("mailto-unsubscribe.eml", token=token[:-4] + "AAAA"))

    report = bounces.process_mailbox(config, engine, resolve_secrets(config, os.environ))

    # A returned "no such address" bounces the subscriber (one is enough by default).
    for dead in ("gone@example.net", "nobody@example.com", "ghost@contoso.example"):
        assert _status(engine, dead) == "bounced", dead
        assert _delivery(engine, dead).status == BOUNCED
        assert _delivery(engine, dead).last_error.startswith("returned: 5.1.1")
        assert _delivery(engine, dead).message_id == _message_id(SENT_TO[dead])
    # A full mailbox is one soft bounce: the delivery failed, the subscriber stays.
    for full in ("full@example.com", "quota.reader@example.net"):
        assert _status(engine, full) == "active", full
        assert (_delivery(engine, full).status, _delivery(engine, full).last_error[:15]) == (FAILED, "returned: 5.2.2")
    # A delay warning, a report about a stranger and replies change nothing.
    for address in ("slow@example.com", "reader@example.com"):
        assert _status(engine, address) == "active"
        assert _delivery(engine, address).status == SENT
    assert _status(engine, "leaving@example.com") == "unsubscribed"

    assert _subjects(dovecot, mailbox, "INBOX") == [
        "From: Careful Reader <reader@example.com> Subject: Re: World Digest 30 Nov: 8 regions, 40 stories",
        "From: Leaving Reader <leaving@example.com> Subject: unsubscribe " + token[:-4] + "AAAA",
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System) Subject: Undelivered Mail Returned to Sender",
    ]
    assert len(_subjects(dovecot, mailbox, "Digest processed")) == 8
    assert report.counts == {"hard": 4, "delay": 1, "soft": 2, "auto-reply": 1, "unrecognised": 1, "unsubscribe": 2}
    assert sum(m.moved for m in report.mails) == 8
    stranger = next(m for m in report.mails if m.address == "stranger@example.com")
    assert (stranger.action, stranger.moved) == ("left in the inbox: about no message of ours", False)


def test_a_second_run_finds_only_what_was_left_and_counts_nothing_twice(config, dovecot, mailbox):
    engine = open_store(config.store_url)
    _sent(engine)
    _deliver(dovecot, mailbox, _sample("exim-mailbox-full.eml"), _sample("reader-reply.eml"))
    bounces.process_mailbox(config, engine, resolve_secrets(config, os.environ))
    # The same report again (an MTA retrying its report, or a copy put back by hand).
    _deliver(dovecot, mailbox, _sample("exim-mailbox-full.eml"))

    second = bounces.process_mailbox(config, engine, resolve_secrets(config, os.environ))

    assert [(m.kind, m.moved) for m in second.mails] == [("unrecognised", False), ("soft", True)]
    assert "already failed, counted once" in second.mails[1].action
    assert _status(engine, "full@example.com") == "active"


def test_a_report_without_the_returned_headers_counts_against_the_latest_edition_once(store_url):
    # Exim with bounce_return_message = false: the report names the address, quotes nothing.
    engine = open_store(store_url)
    _sent(engine, "2026-11-29", {"nobody@example.com": 12})
    _sent(engine, "2026-11-30", {"nobody@example.com": 12})
    raw = _sample("exim-unknown-user.eml").split(b"------ This is a copy")[0]
    policy = bounces.Policy(hard_bounces=2)
    (notice,) = returned_mail.read_notices(raw)
    assert not notice.message_ids & {_message_id(12)}

    actions = [bounces.apply_notice(engine, notice, policy, lambda: SECRET).action for _ in range(2)]

    assert actions == ["nobody@example.com: delivery 2026-11-30 bounced",
                       "nobody@example.com: delivery 2026-11-30 already bounced, counted once"]
    assert _delivery(engine, "nobody@example.com", "2026-11-29").status == SENT
    assert _status(engine, "nobody@example.com") == "active"


# --- the policy -----------------------------------------------------------------------------------


def test_soft_bounces_mark_a_subscriber_bounced_only_when_enough_fall_within_the_window(store_url):
    engine = open_store(store_url)
    editions = ["2026-10-01", "2026-11-20", "2026-11-25", "2026-11-30"]
    for edition in editions:
        _sent(engine, edition, {"full@example.com": 13})
    policy = bounces.Policy(hard_bounces=1, soft_bounces=3, soft_days=30)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():  # a subscriber since before the first edition
        session.scalar(select(SubscriberRow).where(SubscriberRow.email == "full@example.com")).confirmed_at = (
            now - timedelta(days=90))

    def returned(edition: str, when: datetime) -> str:
        raw = _sample("exim-mailbox-full.eml").replace(b"2026-11-30.13", f"{edition}.13".encode())
        (notice,) = returned_mail.read_notices(raw)
        return bounces.apply_notice(engine, notice, policy, lambda: SECRET, now=when).action

    # The first is too old to count with the others; three within 30 days bounce.
    assert returned(editions[0], now - timedelta(days=40)) == "full@example.com: soft bounce (1 of 3 in 30 days)"
    assert returned(editions[1], now - timedelta(days=9)) == "full@example.com: soft bounce (1 of 3 in 30 days)"
    assert returned(editions[2], now - timedelta(days=4)) == "full@example.com: soft bounce (2 of 3 in 30 days)"
    assert _status(engine, "full@example.com") == "active"
    assert returned(editions[3], now) == "full@example.com: marked bounced (3 of 3 in 30 days)"
    assert _status(engine, "full@example.com") == "bounced"


def test_after_reactivation_earlier_returns_no_longer_count(store_url):
    engine = open_store(store_url)
    _sent(engine, "2026-11-29", {"gone@example.net": 11})
    _sent(engine, "2026-11-30", {"gone@example.net": 11})
    policy = bounces.Policy(hard_bounces=2)
    first = _sample("postfix-unknown-user.eml").replace(b"2026-11-30.11", b"2026-11-29.11")
    (notice,) = returned_mail.read_notices(first)
    assert bounces.apply_notice(engine, notice, policy, lambda: SECRET).action == \
        "gone@example.net: delivery 2026-11-29 bounced"
    (notice,) = returned_mail.read_notices(_sample("postfix-unknown-user.eml"))
    assert bounces.apply_notice(engine, notice, policy, lambda: SECRET).action == "gone@example.net: marked bounced"

    subs.reactivate(engine, "gone@example.net")
    _sent(engine, "2026-12-01", {"gone@example.net": 11})
    later = _sample("postfix-unknown-user.eml").replace(b"2026-11-30.11", b"2026-12-01.11")
    (notice,) = returned_mail.read_notices(later)
    assert bounces.apply_notice(engine, notice, policy, lambda: SECRET).action == \
        "gone@example.net: delivery 2026-12-01 bounced"
    assert _status(engine, "gone@example.net") == "active"


# --- failures and configuration -------------------------------------------------------------------


def test_a_wrong_password_is_one_line_naming_the_server_and_the_user(config, dovecot, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    engine = open_store(config.store_url)
    with pytest.raises(bounces.BounceError) as caught:
        bounces.process_mailbox(config, engine, resolve_secrets(config, os.environ))
    message = str(caught.value)
    assert message.startswith(f"mail.imap: 127.0.0.1:{dovecot.port}: login as {config.mail.imap.username} refused")
    assert "\n" not in message


def test_a_server_that_is_not_there_is_named(config, monkeypatch):
    config.mail.imap.port = _free_port()
    with pytest.raises(bounces.BounceError, match=rf"mail.imap: 127.0.0.1:{config.mail.imap.port}: cannot connect"):
        bounces.process_mailbox(config, open_store(config.store_url), resolve_secrets(config, os.environ))


@pytest.mark.parametrize(("imap", "expected"), [
    ({"host": "mail.example.org", "username": "u", "security": "none"},
     "mail.imap: security = \"none\" would send the password to mail.example.org in clear"),
    ({"host": "h", "username": "u", "folders": {"inbox": "INBOX", "processed": "INBOX"}},
     "mail.imap: folders: inbox and processed are both 'INBOX'"),
    ({"host": "h", "username": "u", "port": 0}, "mail.imap.port: Input should be greater than or equal to 1"),
    ({"host": "h"}, "mail.imap.username: Field required"),
    ({"host": "h", "username": "u", "folders": {"processed": "a\nb"}}, "mail.imap.folders.processed: 'a\\nb' is not"),
])
def test_imap_settings_are_checked_when_the_config_is_read(tmp_path, imap, expected):
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"mail": {"imap": imap}}, base=tmp_path, path=Path("digest.toml"))
    assert str(caught.value).startswith(f"digest.toml: {expected}")


def test_imap_port_defaults_by_security(tmp_path):
    ports = [config_from_dict({"mail": {"imap": {"host": "h", "username": "u", "security": s}}},
                              base=tmp_path).mail.imap.port for s in ("tls", "starttls")]
    assert ports == [993, 143]


# --- the command ----------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "digest.cli", *args], capture_output=True, text=True,
                          check=False, env=env, cwd=ROOT, timeout=120)


def test_digest_bounces_prints_what_it_did_as_a_table_and_as_json(config, dovecot, mailbox):
    engine = open_store(config.store_url)
    _sent(engine)
    _deliver(dovecot, mailbox, _sample("postfix-unknown-user.eml"), _sample("tagged-reply.eml"))

    table = _cli("bounces", "--config", str(config.path))
    assert table.returncode == 0, table.stderr
    assert "gone@example.net: marked bounced" in table.stdout
    assert "left in the inbox" in table.stdout
    assert "[External] [/b] Re: World Digest" in table.stdout  # a subject is text, not markup
    assert "2 mails read, 1 processed and moved, 1 left in the inbox" in table.stderr

    _deliver(dovecot, mailbox, _sample("gmail-over-quota.eml"))
    as_json = _cli("bounces", "--config", str(config.path), "--json")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["counts"] == {"unrecognised": 1, "soft": 1}
    assert result["moved"] == 1
    assert result["mails"][1]["address"] == "quota.reader@example.net"


def test_digest_bounces_without_an_imap_section_says_what_to_add(tmp_path):
    (tmp_path / "digest.toml").write_text('store_url = "sqlite:///var/digest.db"\n', encoding="utf-8")
    result = _cli("bounces", "--config", str(tmp_path / "digest.toml"))
    assert result.returncode == 2
    assert "no [mail.imap] section" in result.stderr
