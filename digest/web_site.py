"""What every page of the web app shares: the config and store, the templates, the CSRF double
submit, the rate limits and the link key. `digest.web.create_app` makes one `Site` and the
routers (`digest.web_subscribe`, `digest.web_archive`) reach it through `SiteDep`.

Forms carry a CSRF token bound to a cookie (double submit). All URLs the app emits stay below
`mail.base_url`'s path, so it can be served at e.g. https://host/digest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from secrets import token_urlsafe
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, Signer
from sqlalchemy.engine import Engine

from digest import notices
from digest import subscribers as subs
from digest.config import Config
from digest.links import TokenClaim, TokenError, subscriber_for_token
from digest.store import ArchivedEdition, SubscriberRecord

log = logging.getLogger(__name__)

CSRF_COOKIE = "digest_csrf"
PUBLIC = "public, max-age=3600"  # Cache-Control of archive pages and the feed


class RateLimit:
    """At most `limit` events per key in any `seconds`-long window (in memory, per process)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self.clock = limit, seconds, clock
        self.events: dict[str, deque[float]] = {}
        self.lock = threading.Lock()
        self.swept = clock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        horizon = now - self.seconds
        with self.lock:
            # Keys are client and email addresses, so anyone can make new ones: forget those
            # quiet for a whole window (once per window, so each call stays cheap).
            if now - self.swept >= self.seconds:
                for stale in [k for k, events in self.events.items() if not events or events[-1] <= horizon]:
                    del self.events[stale]
                self.swept = now
            events = self.events.setdefault(key, deque())
            while events and events[0] <= horizon:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


@dataclass
class Site:
    """One web app's shared state and the page helpers its routes use."""

    config: Config
    engine: Engine
    mailer: notices.Mailer  # the link key and where the subscription mails go
    region_names: list[str]
    per_ip: RateLimit  # subscribe requests per client address
    per_address: RateLimit  # confirmation emails per subscriber address
    templates: Jinja2Templates = field(init=False)
    csrf_signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(self.config.templates_dir / "web"))
        self.templates.env.globals.update(url=self.url, name_max=subs.NAME_MAX)
        self.csrf_signer = Signer(self.link_key, salt="digest-csrf")

    @property
    def link_key(self) -> str:
        return self.mailer.link_key

    @property
    def base_path(self) -> str:
        return urlsplit(self.config.mail.base_url).path.rstrip("/")

    def url(self, path: str) -> str:
        """The URL of one of the app's own pages, below base_url's path (pages and redirects)."""
        return self.base_path + path

    def absolute(self, path: str) -> str:
        return self.config.mail.base_url.rstrip("/") + path

    def page(self, request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:  # noqa: ANN003
        """A page with a form: it carries a CSRF token, and is never cached."""
        cookie = request.cookies.get(CSRF_COOKIE) or token_urlsafe(24)
        context = {"title": self.config.edition.title, "csrf": self.csrf_signer.sign(cookie).decode(),
                   "regions": self.region_names} | context
        response = self.templates.TemplateResponse(request, template, context, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                                secure=self.config.mail.base_url.startswith("https://"), path=self.base_path or "/")
        return response

    def public_page(self, request: Request, template: str, **context) -> HTMLResponse:  # noqa: ANN003
        """An archive page: nothing personal and no form, so browsers and readers may keep it."""
        return self.templates.TemplateResponse(request, template, {"title": self.config.edition.title} | context,
                                               headers={"Cache-Control": PUBLIC})

    def csrf_ok(self, request: Request, token: str) -> bool:
        try:
            return self.csrf_signer.unsign(token).decode() == request.cookies.get(CSRF_COOKIE)
        except BadSignature:
            return False

    def forbidden(self, request: Request) -> HTMLResponse:
        return self.page(request, "message.html", 403, heading="This form has expired",
                         text="Please go back, reload the page and try again.")

    def invalid_link(self, request: Request) -> HTMLResponse:
        return self.page(request, "message.html", 400, heading="This link is not valid",
                         text="It may have expired or been copied incompletely. "
                              "Use the newest email from us, or subscribe again.")

    def subscriber_from(self, token: str, purpose: str) -> tuple[SubscriberRecord, TokenClaim] | None:
        """The subscriber a link is for, with its claim; None (logged) for a link not to act on."""
        try:
            return subscriber_for_token(self.engine, self.link_key, token, purpose)
        except TokenError as exc:
            log.info("refused a link: %s", exc)
            return None

    def chosen(self, regions: list[str]) -> list[str] | None:
        """The regions ticked, or None when all are (which also takes in regions added later)."""
        picked = [r for r in self.region_names if r in set(regions)]
        return None if len(picked) == len(self.region_names) else picked

    def dated(self, edition: ArchivedEdition) -> str:
        """An edition's date as readers know it: the end of its window, in the edition's zone."""
        day = edition.until.astimezone(self.config.edition.zone)
        return f"{day.day} {day:%B %Y}"


def site(request: Request) -> Site:
    return request.app.state.site


SiteDep = Annotated[Site, Depends(site)]
