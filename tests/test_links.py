"""Signed links: tokens bound to a purpose and an address, and the key that signs them."""

from __future__ import annotations

import logging
import os
import random
import stat
import subprocess
import sys

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from digest import links
from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, Secrets, resolve_secrets
from digest.models import Subscriber
from digest.subscribers import SubscriberError


def test_tokens_name_the_subscriber_and_the_address_they_were_made_for():
    claim = links.read_token("secret", links.make_token("secret", 7, "unsubscribe", "ana@example.org"), "unsubscribe")
    assert claim.subscriber_id == 7 and claim.choices is None
    assert claim.is_for("secret", "ana@example.org") and not claim.is_for("secret", "bob@example.org")


def test_links_are_not_made_for_a_subscriber_that_is_not_stored():
    with pytest.raises(SubscriberError, match="ana@example.org.*no id"):
        links.links_for(Config(), Subscriber("ana@example.org"), "secret")


def test_tokens_are_scoped_to_a_purpose_and_unforgeable():
    token = links.make_token("secret", 7, "unsubscribe", "ana@example.org")
    with pytest.raises(links.TokenError):
        links.read_token("secret", token, "preferences")
    with pytest.raises(links.TokenError):
        links.read_token("other-secret", token, "unsubscribe")
    with pytest.raises(links.TokenError):
        links.read_token("secret", token[:-2] + "xx", "unsubscribe")


def test_an_smtp_server_needs_a_real_secret():
    with pytest.raises(RuntimeError, match=SIGNING_KEY_ENV):
        links.secret_key(Config(mail={"smtp": {"host": "mail.example.org"}}), Secrets())


# --- the signing key: never a public one --------------------------------------------------


def sqlite_config(folder) -> Config:  # noqa: ANN001
    return Config(store_url=f"sqlite:///{folder / 'store' / 'digest.db'}")


def test_without_a_secret_a_random_key_is_created_once_beside_the_store(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="digest.links")
    key = links.secret_key(sqlite_config(tmp_path), Secrets())
    key_file = tmp_path / "store" / links.SECRET_FILE
    assert key_file.read_text().strip() == key and len(key) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "created a random signing key in" in caplog.text and str(key_file) in caplog.text
    assert key != "insecure-development-secret"
    # Another process on the same store (the web app beside the job) reads the same key.
    reader = subprocess.run([sys.executable, "-c", "import sys; from digest import links as s; "
                             "from digest.config import Config; from digest.credentials import Secrets; "
                             "print(s.secret_key(Config(store_url=sys.argv[1]), Secrets()))",
                             sqlite_config(tmp_path).store_url],
                            capture_output=True, text=True, check=True,
                            env={k: v for k, v in os.environ.items() if k != SIGNING_KEY_ENV})
    assert reader.stdout.strip() == key


def test_two_stores_get_two_keys_and_the_environment_wins(tmp_path):
    first = links.secret_key(sqlite_config(tmp_path / "a"), Secrets())
    second = links.secret_key(sqlite_config(tmp_path / "b"), Secrets())
    assert first != second
    config = sqlite_config(tmp_path / "a")
    assert links.secret_key(config, resolve_secrets(config, {SIGNING_KEY_ENV: "operator-key"})) == "operator-key"


def test_a_server_database_without_a_secret_is_refused():
    config = Config(store_url="postgresql+psycopg://digest:hunter2@db.example.org/digest")
    with pytest.raises(RuntimeError, match=f"{SIGNING_KEY_ENV} is not set .* no folder") as caught:
        links.secret_key(config, Secrets())
    assert "hunter2" not in str(caught.value)


# --- tokens as itsdangerous makes them -------------------------------------------------------


class _At(TimestampSigner):
    def get_timestamp(self) -> int:
        return 1_764_000_000


@pytest.mark.parametrize("purpose", ["unsubscribe", "preferences", "confirm"])
def test_tokens_are_byte_for_byte_the_ones_itsdangerous_makes(purpose):
    # The key is derived once per run, and zlib is asked only when the payload can shrink: the
    # tokens must not change for that, compressed ones (repetitive payloads) included.
    reference = URLSafeTimedSerializer("secret", salt=f"digest-{purpose}", signer=_At)
    rng = random.Random(15)
    payloads = [[rng.randrange(1, 10**rng.randrange(1, 12)), "".join(rng.choices(alphabet, k=16))]
                for alphabet in ("0123456789abcdef", "01", "a") for _ in range(300)]
    payloads += [[7, "ab" * 8, {"name": "Ana Ñ" * n, "regions": ["fi-uusimaa"] * n}] for n in range(0, 40, 3)]
    compressed = 0
    for payload in payloads:
        expected = reference.dumps(payload)
        assert links._tokens("secret", purpose).dumps(payload, 1_764_000_000) == expected
        compressed += expected.startswith(".")
    assert compressed > 50  # both branches were compared


def test_tokens_made_before_the_faster_signer_still_verify():
    old = URLSafeTimedSerializer("secret", salt="digest-unsubscribe").dumps(
        [7, links._address_tag("secret", "ana@example.org")])
    claim = links.read_token("secret", old, "unsubscribe")
    assert claim.subscriber_id == 7 and claim.is_for("secret", "ana@example.org")


def test_the_two_links_of_a_message_carry_the_tokens_itsdangerous_makes():
    # links_for encodes the claim once for both purposes; each token must still be the one
    # itsdangerous would make for its purpose at the same second.
    made = links.links_for(Config(), Subscriber(email="ana@example.org", id=7), "secret")
    for purpose, url in (("unsubscribe", made.unsubscribe), ("preferences", made.preferences)):
        token = url.rsplit("/", 1)[1]
        payload, when = URLSafeTimedSerializer("secret", salt=f"digest-{purpose}").loads(token, return_timestamp=True)
        assert payload == [7, links._address_tag("secret", "ana@example.org")]

        class _Then(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(when.timestamp())

        assert URLSafeTimedSerializer("secret", salt=f"digest-{purpose}", signer=_Then).dumps(payload) == token
    assert made.unsubscribe_mailto.endswith(made.unsubscribe.rsplit("/", 1)[1])
