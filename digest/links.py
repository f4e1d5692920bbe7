"""Signed links: the unsubscribe, preferences and confirmation URLs in every email, and the key that signs them.

Invariants:
- A token is signed (itsdangerous, keyed by `secret_key`) for one purpose ("confirm",
  "preferences", "unsubscribe"; the purpose is the salt), so a token made for one purpose is
  refused for any other.
- A token is bound to an address as well as a subscriber id: it carries a keyed tag of the
  address it was made for, and `subscriber_for_token` refuses it unless the row with that id
  still has that address (ids can come back for another person).
- Each purpose has a maximum age (`TOKEN_MAX_AGE`): confirmations 7 days, preferences links a
  year, unsubscribe links for good (they must keep working in old emails).
- The signing key is DIGEST_SECRET_KEY (as resolved by `digest.credentials`), or without SMTP
  a random key kept beside the SQLite store (mode 0600, never replaced) so that the job and
  the web app on that store agree.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from sqlalchemy.engine import Engine, make_url

from digest.config import Config
from digest.credentials import SIGNING_KEY_ENV, Secrets
from digest.errors import DigestError
from digest.models import Subscriber
from digest.store import Choices, SubscriberRecord, get_subscriber
from digest.subscribers import SubscriberError

log = logging.getLogger(__name__)

# Without DIGEST_SECRET_KEY (and without SMTP) links are signed with a random key kept in
# this file beside the SQLite store, so the job and the web app on that store agree on it.
SECRET_FILE = "secret-key"

# How long each kind of link works (seconds; None: for good). Unsubscribe links in old emails
# must keep working, so they never expire; a confirmation is meant to be acted on soon.
TOKEN_MAX_AGE: dict[str, int | None] = {
    "confirm": 7 * 24 * 3600,
    "preferences": 365 * 24 * 3600,
    "unsubscribe": None,
}


class TokenError(DigestError):
    """A link token that is forged, for another purpose, expired, or for someone no longer here."""


def secret_key(config: Config, secrets: Secrets) -> str:
    """The key that signs every link: the resolved one (DIGEST_SECRET_KEY or its fallback), or
    else (without SMTP) a random key created once in the store's folder. RuntimeError when
    neither can be had."""
    if secrets.signing_key is not None:
        return secrets.signing_key.get_secret_value()
    if config.mail.smtp is not None:
        raise RuntimeError(f"mail.smtp: an SMTP server is configured, so {SIGNING_KEY_ENV} must be set")
    return _stored_key(_key_path(config.store_url))


@functools.lru_cache(maxsize=32)
def _key_path(store_url: str) -> str:
    url = make_url(store_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        # A server database has no folder here, and the web app may run on another host:
        # a key made up on each side would make every link of the other side invalid.
        raise RuntimeError(f"store_url: {SIGNING_KEY_ENV} is not set and the store {url.render_as_string()} "
                           f"has no folder to keep a generated key in: set {SIGNING_KEY_ENV}")
    return str(Path(url.database).resolve().parent / SECRET_FILE)


@functools.lru_cache(maxsize=32)
def _stored_key(path: str) -> str:
    """The key in `path`, created (mode 0600, never replaced) when there is none yet."""
    key_file = Path(path)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = key_file.read_text(encoding="ascii").strip()
        if not key:
            raise RuntimeError(f"{key_file}: the signing key file is empty; delete it (links "
                               f"sent so far stop working) or set {SIGNING_KEY_ENV}") from None
        log.info("%s is not set: signing links with the key in %s", SIGNING_KEY_ENV, key_file)
        return key
    except OSError as exc:
        raise RuntimeError(f"{SIGNING_KEY_ENV} is not set and no signing key can be kept in {key_file}: "
                           f"{exc.strerror or exc}") from exc
    key = token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.warning("%s is not set: created a random signing key in %s (mode 0600); links stay valid "
                "as long as that file is kept", SIGNING_KEY_ENV, key_file)
    return key


@dataclass(frozen=True)
class TokenClaim:
    """What a valid token says: whose it is (id and address) and, for a confirmation, the choices."""

    subscriber_id: int
    address: str
    choices: Choices | None = None

    def is_for(self, secret: str, email: str) -> bool:
        return hmac.compare_digest(self.address, _address_tag(secret, email))


def _address_tag(secret: str, email: str) -> str:
    # Ids alone are not enough: a row id can come back for another person (a store rebuilt
    # from a backup, or SQLite before revision 0002), and an old link must not reach them.
    # Keyed, so the token does not carry a guessable hash of the address.
    digest = _tag_mac(secret).copy()
    digest.update(email.strip().lower().encode())
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _tag_mac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


# A payload this short deflates to the same length in a 512-byte window as in zlib's default
# one (every match lies within it), and setting that window up costs 3 µs, not zlib.compress's 50.
_SMALL_PAYLOAD = 128


def _url_safe_payload(payload: bytes) -> bytes:
    """itsdangerous' URL-safe payload: the zlib-compressed form ("." first) when that is at
    least two bytes shorter, else the JSON itself, base64 without padding."""
    if len(payload) < _SMALL_PAYLOAD:
        small = zlib.compressobj(6, zlib.DEFLATED, 9, 2)
        worth = len(small.compress(payload) + small.flush()) < len(payload) - 1
    else:
        worth = True
    if worth:
        compressed = zlib.compress(payload)
        if len(compressed) < len(payload) - 1:
            return b"." + base64_encode(compressed)
    return base64_encode(payload)


# json.dumps with these arguments builds an encoder per call; its output is this one's.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _signed_value(payload: object, timestamp: int) -> bytes:
    """What a token signs: the payload as itsdangerous encodes it, then the timestamp. It does
    not depend on the purpose, so tokens for several purposes share it."""
    return _url_safe_payload(_COMPACT_JSON.encode(payload).encode("utf-8")) + b"." + base64_encode(
        int_to_bytes(timestamp))


class _Tokens:
    """`URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").dumps`, byte for byte, with the
    signing key derived once: itsdangerous builds a serializer and a signer, derives the key
    and sets zlib up on every call (about 60 µs a token; two in every message)."""

    def __init__(self, secret: str, purpose: str) -> None:
        signer = URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").make_signer()
        if want_bytes(signer.sep) != b".":
            raise ValueError(f"itsdangerous separates with {signer.sep!r}, not '.'")
        self.mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)

    def dumps(self, payload: object, timestamp: int) -> str:
        return self.sign(_signed_value(payload, timestamp))

    def sign(self, value: bytes) -> str:
        mac = self.mac.copy()
        mac.update(value)
        return (value + b"." + base64_encode(mac.digest())).decode("ascii")


@functools.lru_cache(maxsize=32)
def _tokens(secret: str, purpose: str) -> _Tokens:
    return _Tokens(secret, purpose)


def make_token(secret: str, subscriber_id: int, purpose: str, email: str,
               choices: Choices | None = None) -> str:
    payload: list = [subscriber_id, _address_tag(secret, email)]
    if choices is not None:
        payload.append({"name": choices.name, "regions": choices.regions})
    return _tokens(secret, purpose).dumps(payload, int(time.time()))


def read_token(secret: str, token: str, purpose: str, max_age: int | None = None) -> TokenClaim:
    """The claim in a token made for `purpose`; TokenError if it is forged, misused or expired.

    The caller still has to check the claim against the subscriber it names (`is_for`):
    `subscriber_for_token` does both."""
    try:
        payload = URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenError(f"{purpose} link has expired") from exc
    except BadSignature as exc:
        raise TokenError(f"{purpose} link is not valid") from exc
    match payload:
        case [int() as sid, str() as address]:
            return TokenClaim(sid, address)
        case [int() as sid, str() as address, {"name": name, "regions": regions}]:
            return TokenClaim(sid, address, Choices(name, regions))
    raise TokenError(f"{purpose} link is not valid: it predates address-bound links")


def subscriber_for_token(engine: Engine, secret: str, token: str,
                         purpose: str) -> tuple[SubscriberRecord, TokenClaim]:
    """The subscriber a link is for, with its claim; TokenError unless the link is valid and
    that subscriber still has the address the link was made for."""
    claim = read_token(secret, token, purpose, TOKEN_MAX_AGE[purpose])
    row = get_subscriber(engine, claim.subscriber_id)
    if row is None or not claim.is_for(secret, row.email):
        raise TokenError(f"{purpose} link is for a subscriber who is no longer here")
    return row, claim


_UNSUBSCRIBE = quote("unsubscribe ")


@dataclass(frozen=True)
class SubscriberLinks:
    unsubscribe: str
    unsubscribe_mailto: str
    preferences: str


def links_for(config: Config, subscriber: Subscriber, secret: str) -> SubscriberLinks:
    """The per-subscriber URLs every message carries (List-Unsubscribe, footer links), signed
    with `secret` (`secret_key`)."""
    if subscriber.id is None:
        raise SubscriberError(f"{subscriber.email}: cannot make links for a subscriber that is "
                              "not stored yet (it has no id)")
    base = config.mail.base_url.rstrip("/")
    # Both tokens carry the same claim: the address tag (an HMAC) and its encoding made once.
    claim, now = [subscriber.id, _address_tag(secret, subscriber.email)], int(time.time())
    value = _signed_value(claim, now)  # the same for both: only the signatures differ
    unsub = _tokens(secret, "unsubscribe").sign(value)
    prefs = _tokens(secret, "preferences").sign(value)
    sender_address = config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return SubscriberLinks(
        unsubscribe=f"{base}/unsubscribe/{unsub}",
        # A token is URL-safe as it is: only the subject's space needs quoting.
        unsubscribe_mailto=f"mailto:{sender_address}?subject={_UNSUBSCRIBE}{unsub}",
        preferences=f"{base}/preferences/{prefs}",
    )


def confirm_link(config: Config, row: SubscriberRecord, choices: Choices, secret: str) -> str:
    token = make_token(secret, row.id, "confirm", row.email, choices)
    return f"{config.mail.base_url.rstrip('/')}/confirm/{token}"
