"""The subscription web app: subscribe (double opt-in), confirm (then a welcome mail),
preferences, one-click unsubscribe, and the public archive of past editions (a list with
headlines, a page per edition, an Atom feed). Run it with `digest web`. The mails it sends
are built and sent by `digest.notices`.

Every link carries a signed token scoped to one subscriber (its id and its address, so a
reused id is refused) and one purpose (see `digest.subscribers`). All URLs the app emits stay
below `mail.base_url`'s path, so it can be served at e.g. https://host/digest. Pages never say whether an address is subscribed: the subscribe form
answers the same for every address and the email tells the owner what applies. Forms carry a
CSRF token bound to a cookie (double submit); the one-click unsubscribe POST does not, since
mail clients send it without a page (RFC 8058) and the URL's token is itself the authority.
That authority is only to unsubscribe: the page it leads to offers to subscribe again through
a fresh confirmation email, never a preferences link. X-Forwarded-For (which the per-client
limit counts by) is believed only from the proxies named in `web.trusted_proxies`.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from secrets import token_urlsafe
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import BackgroundTasks, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, Signer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn import Config as ServerConfig
from uvicorn.config import LOGGING_CONFIG
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from digest import atom, notices
from digest import subscribers as subs
from digest.config import Config
from digest.credentials import Secrets
from digest.models import SubscriberStatus
from digest.regions import load_region_table
from digest.store import ArchivedEdition, SubscriberRow, open_store, sent_edition, sent_editions

log = logging.getLogger(__name__)

CSRF_COOKIE = "digest_csrf"
PUBLIC = "public, max-age=3600"  # Cache-Control of archive pages and the feed
ARCHIVE_HEADLINES = 3  # top headlines shown per edition in the archive list
FEED_ENTRIES = 30  # editions in the Atom feed, newest first


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


class BelowPath:
    """Serve the app below `mail.base_url`'s path (e.g. /digest) whether or not the reverse
    proxy in front strips it: Starlette routes on the path minus `root_path` when the path
    starts with it, and as it is otherwise."""

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app, self.root_path = app, root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            scope = {**scope, "root_path": self.root_path}
        await self.app(scope, receive, send)


def create_app(config: Config, engine: Engine | None = None, *, secrets: Secrets,
               subscribes_per_ip: tuple[int, float] = (10, 3600.0),
               emails_per_address: tuple[int, float] = (3, 3600.0)) -> FastAPI:
    """The web app for `config`, signing links and mailing with `secrets` (resolved where the
    app starts: `digest.credentials`). Limits are (count, seconds): subscribe requests per
    client address, and confirmation emails per subscriber address.

    RuntimeError when there is no key to sign links with."""
    engine = engine or open_store(config.store_url)
    mailer = notices.Mailer.of(config, secrets)
    secret = mailer.link_key
    csrf_signer = Signer(secret, salt="digest-csrf")
    templates = Jinja2Templates(directory=str(config.templates_dir / "web"))
    region_names = list(load_region_table(config.edition.region_table).regions)
    per_ip = RateLimit(*subscribes_per_ip)
    per_address = RateLimit(*emails_per_address)
    secure_cookie = config.mail.base_url.startswith("https://")
    base_path = urlsplit(config.mail.base_url).path.rstrip("/")

    def url(path: str) -> str:
        """The URL of one of the app's own pages, below base_url's path (pages and redirects)."""
        return base_path + path

    templates.env.globals.update(url=url, name_max=subs.NAME_MAX)
    app = FastAPI(title=config.edition.title, docs_url=None, redoc_url=None, openapi_url=None)
    if base_path:
        app.add_middleware(BelowPath, root_path=base_path)
    if config.web.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.web.trusted_proxies)

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        # Token URLs must not leak to other sites through Referer, nor be cached or framed.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:  # noqa: ANN003
        """A page with a form: it carries a CSRF token, and is never cached."""
        cookie = request.cookies.get(CSRF_COOKIE) or token_urlsafe(24)
        context = {"title": config.edition.title, "csrf": csrf_signer.sign(cookie).decode(),
                   "regions": region_names} | context
        response = templates.TemplateResponse(request, template, context, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                                secure=secure_cookie, path=base_path or "/")
        return response

    def public_page(request: Request, template: str, **context) -> HTMLResponse:  # noqa: ANN003
        """An archive page: nothing personal and no form, so browsers and readers may keep it."""
        return templates.TemplateResponse(request, template, {"title": config.edition.title} | context,
                                          headers={"Cache-Control": PUBLIC})

    def csrf_ok(request: Request, token: str) -> bool:
        try:
            return csrf_signer.unsign(token).decode() == request.cookies.get(CSRF_COOKIE)
        except BadSignature:
            return False

    def forbidden(request: Request) -> HTMLResponse:
        return page(request, "message.html", 403, heading="This form has expired",
                    text="Please go back, reload the page and try again.")

    def invalid_link(request: Request) -> HTMLResponse:
        return page(request, "message.html", 400, heading="This link is not valid",
                    text="It may have expired or been copied incompletely. "
                         "Use the newest email from us, or subscribe again.")

    def subscriber_from(session: Session, token: str, purpose: str) -> tuple[SubscriberRow, subs.TokenClaim] | None:
        try:
            return subs.subscriber_for_token(session, secret, token, purpose)
        except subs.TokenError as exc:
            log.info("refused a link: %s", exc)
            return None

    def chosen(regions: list[str]) -> list[str] | None:
        """The regions ticked, or None when all are (which also takes in regions added later)."""
        picked = [r for r in region_names if r in set(regions)]
        return None if len(picked) == len(region_names) else picked

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return page(request, "subscribe.html", selected=region_names)

    @app.post("/subscribe", response_class=HTMLResponse)
    def subscribe(request: Request, background: BackgroundTasks,
                  email: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                  regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
                  csrf: Annotated[str, Form()] = "") -> HTMLResponse:
        if not csrf_ok(request, csrf):
            return forbidden(request)
        if not per_ip.allow(request.client.host if request.client else "unknown"):
            return page(request, "message.html", 429, heading="Too many requests",
                        text="Please wait a while before subscribing again.")

        def again(error: str, selected: list[str]) -> HTMLResponse:
            return page(request, "subscribe.html", 422, error=error, email=email, name=name,
                        selected=selected)

        try:
            address = subs.normalize_email(email)
        except subs.SubscriberError:
            error = "Please enter a valid email address."
            if not email.partition("@")[0].isascii():
                # The sender cannot use SMTPUTF8: refused here, rather than by delivery later.
                error += " We can only send to addresses with plain (ASCII) letters before the @."
            return again(error, regions or region_names)
        if not [r for r in regions if r in region_names]:
            return again("Please choose at least one region.", region_names)
        if len(name.strip()) > subs.NAME_MAX:
            return again(f"Please shorten the name to at most {subs.NAME_MAX} characters.", regions)
        choices = subs.Choices(name=name.strip() or None, regions=chosen(regions))
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = subs.find(session, address)
            if row is None:
                row, _ = subs.upsert(session, address, name=choices.name, regions=choices.regions,
                                     status=SubscriberStatus.PENDING)
            # An existing row stays as it is: anyone can type an address here, so the choices
            # travel in the confirmation link and apply only once its owner follows it.
        # The owner learns what applies by email; the page is the same for every address.
        if per_address.allow(address):
            if row.status == SubscriberStatus.ACTIVE:
                background.add_task(notices.send, mailer, notices.already_subscribed(mailer, row), "already")
            else:
                background.add_task(notices.send, mailer, notices.confirmation(mailer, row, choices), "confirm")
        return page(request, "message.html", heading="Check your inbox",
                    text=f"We have sent an email to {address}. Follow the link in it to "
                         "confirm your subscription.")

    def ask(request: Request, token: str, purpose: str, template: str) -> HTMLResponse:
        """The page a confirm or unsubscribe link opens: a button, not the action itself, since
        mail scanners open links too."""
        with Session(engine) as session:
            found = subscriber_from(session, token, purpose)
            if found is None:
                return invalid_link(request)
            return page(request, template, email=found[0].email, token=token)

    @app.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str) -> HTMLResponse:
        return ask(request, token, "confirm", "confirm.html")

    @app.post("/confirm/{token}")
    def confirm(request: Request, background: BackgroundTasks, token: str,
                csrf: Annotated[str, Form()] = "") -> Response:
        if not csrf_ok(request, csrf):
            return forbidden(request)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            found = subscriber_from(session, token, "confirm")
            if found is None:
                return invalid_link(request)
            row, claim = found
            newly = row.status != SubscriberStatus.ACTIVE
            subs.confirm(session, row, claim.choices)
            preferences = subs.make_token(secret, row.id, "preferences", row.email)
        if newly:  # following the link again is no reason to welcome them again
            background.add_task(notices.send_welcome, mailer, row)
        return RedirectResponse(url(f"/preferences/{preferences}?welcome=1"), status_code=303)

    def preferences_page(request: Request, row: SubscriberRow, token: str, **extra) -> HTMLResponse:  # noqa: ANN003
        unsubscribe = subs.links_for(config, subs.to_subscriber(row), secret).unsubscribe
        return page(request, "preferences.html", email=row.email, status=row.status,
                    paused=row.paused_at is not None, selected=row.regions or region_names,
                    token=token, unsubscribe_url=unsubscribe, **extra)

    @app.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences(request: Request, token: str, welcome: bool = False) -> HTMLResponse:
        with Session(engine) as session:
            found = subscriber_from(session, token, "preferences")
            if found is None:
                return invalid_link(request)
            return preferences_page(request, found[0], token, welcome=welcome)

    @app.post("/preferences/{token}", response_class=HTMLResponse)
    def save_preferences(request: Request, token: str,
                         regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
                         paused: Annotated[bool, Form()] = False,
                         resubscribe: Annotated[bool, Form()] = False,
                         csrf: Annotated[str, Form()] = "") -> HTMLResponse:
        if not csrf_ok(request, csrf):
            return forbidden(request)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            found = subscriber_from(session, token, "preferences")
            if found is None:
                return invalid_link(request)
            row = found[0]
            if not [r for r in regions if r in region_names]:
                return preferences_page(request, row, token, error="Choose at least one region, "
                                        "or pause the digest instead.")
            subs.set_preferences(session, row, chosen(regions), paused)
            # The preferences link came by email to this address, which proves its owner asked.
            if resubscribe and row.status == SubscriberStatus.UNSUBSCRIBED:
                subs.set_status(session, row, SubscriberStatus.ACTIVE)
        return preferences_page(request, row, token, saved=True)

    @app.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
        return ask(request, token, "unsubscribe", "unsubscribe.html")

    @app.post("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe(request: Request, token: str) -> HTMLResponse:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            found = subscriber_from(session, token, "unsubscribe")
            if found is None:
                return invalid_link(request)
            row = found[0]
            subs.set_status(session, row, SubscriberStatus.UNSUBSCRIBED)
        # Subscribing again goes through the form and its confirmation email, like anyone's:
        # the unsubscribe token (also in List-Unsubscribe, valid for good) grants nothing more.
        return page(request, "unsubscribed.html", email=row.email,
                    selected=row.regions or region_names)

    def dated(edition: ArchivedEdition) -> str:
        """An edition's date as readers know it: the end of its window, in the edition's zone."""
        day = edition.until.astimezone(config.edition.zone)
        return f"{day.day} {day:%B %Y}"

    def absolute(path: str) -> str:
        return config.mail.base_url.rstrip("/") + path

    @app.get("/editions", response_class=HTMLResponse)
    def archive(request: Request) -> HTMLResponse:
        editions = [(e, dated(e)) for e in sent_editions(engine)]
        return public_page(request, "archive.html", editions=editions, headlines=ARCHIVE_HEADLINES)

    @app.get("/editions.atom")
    def feed() -> Response:
        editions = sent_editions(engine, limit=FEED_ENTRIES)
        body = atom.editions_feed(editions, title=config.edition.title, feed_url=absolute("/editions.atom"),
                                  archive_url=absolute("/editions"),
                                  page_url=lambda e: absolute(f"/editions/{e.id}"), dated=dated)
        return Response(body, media_type=atom.MEDIA_TYPE, headers={"Cache-Control": PUBLIC})

    @app.get("/editions/{edition_id}")
    def edition(request: Request, edition_id: str) -> Response:
        found = sent_edition(engine, edition_id)
        if found is None:
            return page(request, "message.html", 404, heading="No such edition",
                        text="See the archive for the editions we have.")
        if not found.sections:  # stored before editions kept their stories: only the email is left
            return FileResponse(found.html_path, media_type="text/html; charset=utf-8",
                                headers={"Cache-Control": PUBLIC})
        return public_page(request, "edition.html", edition=found, dated=dated(found))

    return app


def server_config(app: ASGIApp, host: str, port: int, **options) -> ServerConfig:  # noqa: ANN003
    """How `digest web` serves the app with uvicorn. Uvicorn's own proxy handling believes
    X-Forwarded-For from loopback, whatever is in front; the app does that itself, only for
    `web.trusted_proxies`. The app's own log (e.g. where a mail went without SMTP) goes out
    beside uvicorn's, at INFO."""
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["digest"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return ServerConfig(app, host=host, port=port, proxy_headers=False, log_config=log_config, **options)
