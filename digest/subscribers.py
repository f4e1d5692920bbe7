"""Subscribers: who gets which regions, and the signed links in every email."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from digest.config import Config
from digest.models import Subscriber

SECRET_ENV = "DIGEST_SECRET_KEY"
# Only for the embedded sample (outbox, no SMTP); a configured SMTP server requires a real secret.
DEV_SECRET = "insecure-development-secret"


class TokenError(Exception):
    """A link token that is forged, for another purpose, or expired."""


def secret_key(config: Config) -> str:
    secret = os.environ.get(SECRET_ENV)
    if secret:
        return secret
    if config.mail.smtp is not None:
        raise RuntimeError(f"{SECRET_ENV} must be set when an SMTP server is configured")
    return DEV_SECRET


def make_token(secret: str, subscriber_id: int, purpose: str) -> str:
    return URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").dumps(subscriber_id)


def read_token(secret: str, token: str, purpose: str, max_age: int | None = None) -> int:
    try:
        return int(URLSafeTimedSerializer(secret, salt=f"digest-{purpose}").loads(token, max_age=max_age))
    except SignatureExpired as exc:
        raise TokenError(f"{purpose} link has expired") from exc
    except (BadSignature, ValueError) as exc:
        raise TokenError(f"{purpose} link is not valid") from exc


@dataclass(frozen=True)
class SubscriberLinks:
    unsubscribe: str
    unsubscribe_mailto: str
    preferences: str


def links_for(config: Config, subscriber: Subscriber) -> SubscriberLinks:
    """The per-subscriber URLs every message carries (List-Unsubscribe, footer links)."""
    secret = secret_key(config)
    sid = subscriber.id if subscriber.id is not None else 0
    base = config.mail.base_url.rstrip("/")
    unsub = make_token(secret, sid, "unsubscribe")
    prefs = make_token(secret, sid, "preferences")
    sender_address = config.mail.sender.rsplit("<", 1)[-1].rstrip(">").strip()
    return SubscriberLinks(
        unsubscribe=f"{base}/unsubscribe/{unsub}",
        unsubscribe_mailto=f"mailto:{sender_address}?subject={quote('unsubscribe ' + unsub)}",
        preferences=f"{base}/preferences/{prefs}",
    )
