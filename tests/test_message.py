"""Per-subscriber messages: headers, segments, escaping, quiet days, DKIM."""

from __future__ import annotations

import base64
import email
import email.policy
import html
import re
from datetime import UTC, datetime

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from edition_builders import edition, item, synthetic
from link_checks import assert_link_for
from lxml import html as lxml_html

from digest import message
from digest.config import Config, MailConfig
from digest.credentials import Secrets
from digest.models import Subscriber
from digest.transport import DotSafe

NOW = datetime(2019, 1, 4, 6, 0, tzinfo=UTC)
KEY = "message-test-secret"
SECRETS = Secrets(signing_key=KEY)
BASE = "https://news.example.org"


@pytest.fixture
def config() -> Config:
    return Config(mail=MailConfig(sender="World Digest <digest@news.example.org>",
                                  list_id="World Digest <digest.news.example.org>",
                                  base_url=BASE))


def build(ed, subscribers, config, secrets=SECRETS, **kwargs) -> list[tuple[Subscriber, email.message.EmailMessage]]:
    return list(message.build_messages(ed, "2019-01-04", subscribers, config, secrets, now=NOW, **kwargs))


def parts(msg) -> tuple[str, str]:
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_a_message_is_multipart_alternative_utf8_with_list_headers(config):
    ana = Subscriber("ana@example.org", name="Ana", id=7)
    [(who, msg)] = build(synthetic(7), [ana], config)
    assert who is ana
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in msg.iter_parts())
    assert msg["From"] == "World Digest <digest@news.example.org>"
    assert msg["To"] == "Ana <ana@example.org>"
    assert msg["Subject"] == "World Digest — 4 Jan: 7 regions, 7 stories"
    assert msg["Date"] == "Fri, 04 Jan 2019 06:00:00 +0000"
    assert msg["Message-ID"].endswith("@news.example.org>")
    assert msg["List-Id"] == "World Digest <digest.news.example.org>"
    web, mailto = re.fullmatch(r"<([^>]+)>, <([^>]+)>", msg["List-Unsubscribe"]).groups()
    assert_link_for(web, f"{BASE}/unsubscribe/", "unsubscribe", KEY, ana.id, ana.email)
    assert_link_for(mailto, "mailto:digest@news.example.org?subject=unsubscribe ", "unsubscribe",
                    KEY, ana.id, ana.email)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_html_part_carries_inline_styles_and_the_subscribers_own_links(config):
    ana = Subscriber("ana@example.org", name="Ana", id=7)
    [(_, msg)] = build(synthetic(3), [ana], config)
    text, document = parts(msg)
    tree = lxml_html.document_fromstring(document)
    assert tree.find_class("card")[0].get("style")
    footer_links = {a.text_content(): a.get("href") for a in tree.find_class("footer-link")}
    assert_link_for(footer_links["Unsubscribe"], f"{BASE}/unsubscribe/", "unsubscribe", KEY, ana.id, ana.email)
    assert_link_for(footer_links["Choose your regions"], f"{BASE}/preferences/", "preferences",
                    KEY, ana.id, ana.email)
    assert footer_links["Web edition"] == f"{BASE}/editions/2019-01-04"
    assert "Hello Ana." in text and f"Unsubscribe: {footer_links['Unsubscribe']}" in text
    assert "ana@example.org subscribed" in tree.find_class("footer")[0].text_content()


def test_names_with_markup_are_escaped_in_html_and_kept_in_text(config):
    [(_, msg)] = build(synthetic(2), [Subscriber("x@example.org", name="<b>Bo</b> & Co", id=1)], config)
    text, document = parts(msg)
    assert "Hello &lt;b&gt;Bo&lt;/b&gt; &amp; Co." in document
    assert lxml_html.document_fromstring(document).findall(".//b") == []
    assert "Hello <b>Bo</b> & Co." in text


def test_a_line_break_in_a_name_or_title_cannot_add_a_header(config):
    ed = edition([item("Talks\r\nBcc: victim@example.org", "Europe")])
    sneaky = Subscriber("x@example.org", name="Eve\r\nBcc: victim@example.org", id=1)
    [(_, msg)] = build(ed, [sneaky], config)
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].addr_spec == "x@example.org"
    assert "\n" not in msg["Subject"]
    assert "Talks Bcc: victim@example.org" in parts(msg)[0]


def test_non_ascii_names_and_subjects_are_encoded_and_decode_back(config):
    [(_, msg)] = build(synthetic(1), [Subscriber("zoe@example.org", name="Zoë Ünal", id=1)], config)
    raw = bytes(msg)
    assert raw.isascii()
    assert msg["To"].addresses[0].display_name == "Zoë Ünal"
    assert "—" in msg["Subject"]


def test_each_region_set_is_rendered_once_and_shared_by_its_subscribers(config):
    europe = frozenset({"Europe"})
    people = [Subscriber(f"p{i}@example.org", regions=europe if i % 2 else None, id=i) for i in range(6)]
    built = build(synthetic(14), people, config)
    boundaries = {who.regions: set() for who, _ in built}
    for who, msg in built:
        boundaries[who.regions].add(msg.get_boundary())
    assert [len(b) for b in boundaries.values()] == [1, 1]  # one encoded segment per region set
    assert boundaries[europe] != boundaries[None]
    europe_html = parts(dict(built)[people[1]])[1]
    assert [h.text_content() for h in lxml_html.document_fromstring(europe_html).iter("h2")] == ["Europe"]


def test_message_ids_are_stable_across_runs_and_differ_between_subscribers(config):
    people = [Subscriber("a@example.org", id=1), Subscriber("b@example.org", id=2)]
    first = [m["Message-ID"] for _, m in build(synthetic(2), people, config)]
    again = [m["Message-ID"] for _, m in build(synthetic(2), people, config)]
    assert first == again and first[0] != first[1]


def test_a_subscriber_whose_regions_are_quiet_gets_a_short_note(config):
    [(_, msg)] = build(synthetic(7), [Subscriber("q@example.org", regions=frozenset({"Antarctica"}), id=1)], config)
    assert msg["Subject"] == "World Digest — 4 Jan: nothing new from Antarctica"
    assert "There is nothing new from Antarctica today." in parts(msg)[0]


def test_quiet_day_skip_sends_nothing_to_those_subscribers(config):
    config.mail.quiet_day = "skip"
    people = [Subscriber("q@example.org", regions=frozenset({"Antarctica"}), id=1), Subscriber("a@example.org", id=2)]
    assert [who.email for who, _ in build(synthetic(7), people, config)] == ["a@example.org"]


def test_an_unusable_address_is_reported_and_the_others_still_get_theirs(config):
    failures = []
    people = [Subscriber("not an address", id=1), Subscriber("ok@example.org", id=2),
              Subscriber("bad@exa mple.org", id=3)]
    built = build(synthetic(2), people, config, on_error=lambda who, exc: failures.append((who.email, str(exc))))
    assert [who.email for who, _ in built] == ["ok@example.org"]
    assert [email_ for email_, _ in failures] == ["not an address", "bad@exa mple.org"]
    assert "'not an address'" in failures[0][1]


def test_bodies_are_quoted_printable_with_short_lines(config):
    raw = next(message.build_mime(synthetic(40), "2019-01-04", [Subscriber("a@example.org", name="Ana", id=1)],
                                  config, SECRETS, now=NOW))[1]
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_no_line_starts_with_a_dot_so_smtp_has_nothing_to_stuff_and_the_text_is_unchanged(config):
    # Dots wherever the quoted-printable lines may break: in stories, names and links alike.
    dotty = "." * 7 + " ...dots. " * 40
    stories = edition([item(f"Story {i} {dotty[:i * 9]}", region, summary=(dotty[i:], "Ends here."))
                       for i, region in enumerate(("Europe", "Asia", "Africa"))])
    people = [Subscriber(f"{'.' * n}x{n}@example.org", name="." * n + "Ana" + " Ana" * n, id=n + 1)
              for n in range(0, 80, 7)]
    built = list(message.build_mime(stories, "2019-01-04", people, config, SECRETS, now=NOW))
    assert len(built) == len(people)
    for who, raw in built:
        assert isinstance(raw, DotSafe) and b"\r\n." not in raw and not raw.startswith(b".")
        assert max(len(line) for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")) <= 76
        text, document = parts(email.message_from_bytes(raw, policy=email.policy.default))
        assert f"Hello {who.name}." in text and text.count("...dots.") > 20
        assert who.email in text and html.escape(who.email) in document


# --- DKIM ----------------------------------------------------------------------------


@pytest.fixture
def dkim_key() -> tuple[Secrets, bytes]:
    """Secrets holding a new DKIM private key, and the DNS record of its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Secrets(signing_key=KEY, dkim_key=pem.decode("ascii")), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def dns_for(record: bytes):
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"d2019._domainkey.news.example.org." else None
    return lookup


def test_dkim_signature_covers_the_list_headers_and_verifies(config, dkim_key):
    config.mail.dkim_selector, config.mail.dkim_domain = "d2019", "news.example.org"
    secrets, record = dkim_key
    [(_, msg)] = build(synthetic(3), [Subscriber("ana@example.org", name="Zoë", id=1)], config, secrets)
    signed = {h.strip().lower() for h in msg["DKIM-Signature"].split("h=")[1].split(";")[0].split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
            "list-unsubscribe-post"} <= signed
    # What the delivery stage sends is bytes(msg), the message as parsed and serialised again.
    assert dkim.verify(bytes(msg), dnsfunc=dns_for(record))
    assert dkim.verify(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")), dnsfunc=dns_for(record))


def test_a_dkim_signed_message_that_is_altered_no_longer_verifies(config, dkim_key):
    config.mail.dkim_selector, config.mail.dkim_domain = "d2019", "news.example.org"
    secrets, record = dkim_key
    raw = next(message.build_mime(synthetic(3), "2019-01-04", [Subscriber("a@example.org", id=1)], config, secrets))[1]
    assert dkim.verify(raw, dnsfunc=dns_for(record))
    tampered = raw.replace(b"List-Unsubscribe: <https://news.example.org/", b"List-Unsubscribe: <https://evil.example/")
    assert not dkim.verify(tampered, dnsfunc=dns_for(record))


def test_dkim_configured_without_a_key_is_a_clear_error(config):
    config.mail.dkim_selector, config.mail.dkim_domain = "d2019", "news.example.org"
    with pytest.raises(message.MessageError, match="DIGEST_DKIM_PRIVATE_KEY"):
        build(synthetic(1), [Subscriber("a@example.org", id=1)], config)
