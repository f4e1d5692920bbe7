"""The subscription web app: subscribe (double opt-in), confirm, preferences, one-click
unsubscribe, and the public archive of past editions. Run it with `digest web`.

Every link carries a signed token scoped to one subscriber and one purpose (see
`digest.subscribers`). Pages never say whether an address is subscribed: the subscribe form
answers the same for every address and the email tells the owner what applies. Forms carry a
CSRF token bound to a cookie (double submit); the one-click unsubscribe POST does not, since
mail clients send it without a page (RFC 8058) and the URL's token is itself the authority.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import UTC
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated

from fastapi import BackgroundTasks, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest import subscribers as subs
from digest.config import Config
from digest.deliver import DeliveryError, send_one, write_outbox
from digest.models import Subscriber
from digest.regions import load_region_table
from digest.store import EditionRow, SubscriberRow, open_store

log = logging.getLogger(__name__)

CSRF_COOKIE = "digest_csrf"


class RateLimit:
    """At most `limit` events per key in any `seconds`-long window (in memory, per process)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.events: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self.lock:
            events = self.events[key]
            while events and events[0] <= now - self.seconds:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


def create_app(config: Config, engine: Engine | None = None, *,
               subscribes_per_ip: tuple[int, float] = (10, 3600.0),
               emails_per_address: tuple[int, float] = (3, 3600.0)) -> FastAPI:
    """The web app for `config`. Limits are (count, seconds): subscribe requests per client
    address, and confirmation emails per subscriber address."""
    engine = engine or open_store(config.store_url)
    secret = subs.secret_key(config)
    csrf_signer = Signer(secret, salt="digest-csrf")
    templates = Jinja2Templates(directory=str(config.templates_dir / "web"))
    region_names = list(load_region_table(config.edition.region_table).regions)
    per_ip = RateLimit(*subscribes_per_ip)
    per_address = RateLimit(*emails_per_address)
    secure_cookie = config.mail.base_url.startswith("https://")
    app = FastAPI(title=config.edition.title, docs_url=None, redoc_url=None, openapi_url=None)

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
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        context = {"title": config.edition.title, "csrf": csrf_signer.sign(cookie).decode(),
                   "regions": region_names} | context
        response = templates.TemplateResponse(request, template, context, status_code=status_code)
        if request.cookies.get(CSRF_COOKIE) != cookie:
            response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict",
                                secure=secure_cookie)
        return response

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

    def subscriber_from(session: Session, token: str, purpose: str) -> SubscriberRow | None:
        try:
            sid = subs.read_token(secret, token, purpose, subs.TOKEN_MAX_AGE[purpose])
        except subs.TokenError:
            return None
        return session.get(SubscriberRow, sid)

    def chosen(regions: list[str]) -> list[str] | None:
        """The regions ticked, or None when all are (which also takes in regions added later)."""
        picked = [r for r in region_names if r in set(regions)]
        return None if len(picked) == len(region_names) else picked

    def send_mail(message: EmailMessage, subscriber: Subscriber, kind: str) -> None:
        try:
            if config.mail.smtp is not None:
                send_one(config.mail.smtp, message)
            else:
                write_outbox([(subscriber, message)], config.outbox_dir / "web",
                             edition_id=f"{kind}-{time.time_ns()}")
        except (DeliveryError, OSError) as exc:
            log.error("%s email to %s could not be sent: %s", kind, subscriber.email, exc)

    def mail(row: SubscriberRow, kind: str, links: dict[str, str]) -> EmailMessage:
        context = {"title": config.edition.title, "name": row.name, "email": row.email, **links}
        message = EmailMessage()
        message["From"] = config.mail.sender
        message["To"] = row.email
        message["Subject"] = templates.env.get_template(f"email/{kind}.subject.txt").render(context).strip()
        message["Auto-Submitted"] = "auto-generated"
        if config.mail.reply_to:
            message["Reply-To"] = config.mail.reply_to
        message.set_content(templates.env.get_template(f"email/{kind}.txt").render(context))
        return message

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
        try:
            address = subs.normalize_email(email)
        except subs.SubscriberError:
            return page(request, "subscribe.html", 422, error="Please enter a valid email address.",
                        email=email, name=name, selected=regions or region_names)
        if not [r for r in regions if r in region_names]:
            return page(request, "subscribe.html", 422, error="Please choose at least one region.",
                        email=email, name=name, selected=region_names)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = subs.find(session, address)
            if row is None:
                row, _ = subs.upsert(session, address, name=name.strip() or None,
                                     regions=chosen(regions), status=subs.PENDING)
            elif row.status != subs.ACTIVE:
                # Nothing changes for the address until its owner follows the emailed link.
                subs.set_preferences(session, row, chosen(regions), paused=False)
                row.name = name.strip() or row.name
        # The owner learns what applies by email; the page is the same for every address.
        if per_address.allow(address):
            if row.status == subs.ACTIVE:
                links = subs.links_for(config, subs.to_subscriber(row))
                message = mail(row, "already", {"preferences": links.preferences})
            else:
                message = mail(row, "confirm", {"confirm": subs.confirm_link(config, row.id)})
            background.add_task(send_mail, message, subs.to_subscriber(row), "confirm")
        return page(request, "message.html", heading="Check your inbox",
                    text=f"We have sent an email to {address}. Follow the link in it to "
                         "confirm your subscription.")

    @app.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(request: Request, token: str) -> HTMLResponse:
        with Session(engine) as session:
            row = subscriber_from(session, token, "confirm")
            if row is None:
                return invalid_link(request)
            # A button, not an automatic confirmation: mail scanners that open links must not
            # subscribe anyone.
            return page(request, "confirm.html", email=row.email, token=token)

    @app.post("/confirm/{token}")
    def confirm(request: Request, token: str, csrf: Annotated[str, Form()] = "") -> Response:
        if not csrf_ok(request, csrf):
            return forbidden(request)
        with Session(engine) as session, session.begin():
            row = subscriber_from(session, token, "confirm")
            if row is None:
                return invalid_link(request)
            subs.set_status(session, row, subs.ACTIVE)
            row.paused_at = None
            preferences = subs.links_for(config, subs.to_subscriber(row)).preferences
        return RedirectResponse(preferences.removeprefix(config.mail.base_url.rstrip("/")) + "?welcome=1",
                                status_code=303)

    def preferences_page(request: Request, row: SubscriberRow, token: str, **extra) -> HTMLResponse:  # noqa: ANN003
        unsubscribe = subs.links_for(config, subs.to_subscriber(row)).unsubscribe
        return page(request, "preferences.html", email=row.email, status=row.status,
                    paused=row.paused_at is not None, selected=row.regions or region_names,
                    token=token, unsubscribe_url=unsubscribe, **extra)

    @app.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences(request: Request, token: str, welcome: bool = False) -> HTMLResponse:
        with Session(engine) as session:
            row = subscriber_from(session, token, "preferences")
            if row is None:
                return invalid_link(request)
            return preferences_page(request, row, token, welcome=welcome)

    @app.post("/preferences/{token}", response_class=HTMLResponse)
    def save_preferences(request: Request, token: str,
                         regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
                         paused: Annotated[bool, Form()] = False,
                         resubscribe: Annotated[bool, Form()] = False,
                         csrf: Annotated[str, Form()] = "") -> HTMLResponse:
        if not csrf_ok(request, csrf):
            return forbidden(request)
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = subscriber_from(session, token, "preferences")
            if row is None:
                return invalid_link(request)
            if not [r for r in regions if r in region_names]:
                return preferences_page(request, row, token, error="Choose at least one region, "
                                        "or pause the digest instead.")
            subs.set_preferences(session, row, chosen(regions), paused)
            # The preferences link came by email to this address, which proves its owner asked.
            if resubscribe and row.status == subs.UNSUBSCRIBED:
                subs.set_status(session, row, subs.ACTIVE)
        return preferences_page(request, row, token, saved=True)

    @app.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
        with Session(engine) as session:
            row = subscriber_from(session, token, "unsubscribe")
            if row is None:
                return invalid_link(request)
            return page(request, "unsubscribe.html", email=row.email, token=token)

    @app.post("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe(request: Request, token: str) -> HTMLResponse:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = subscriber_from(session, token, "unsubscribe")
            if row is None:
                return invalid_link(request)
            subs.set_status(session, row, subs.UNSUBSCRIBED)
        preferences = subs.links_for(config, subs.to_subscriber(row)).preferences
        return page(request, "unsubscribed.html", email=row.email, preferences_url=preferences)

    def public_editions(session: Session) -> list[tuple[EditionRow, str]]:
        """Editions that went out, newest first, each with its date as readers know it."""
        rows = session.scalars(select(EditionRow).where(EditionRow.status != "held",
                                                        EditionRow.html_path.is_not(None))
                               .order_by(EditionRow.until.desc()))
        zone = config.edition.zone
        # An edition is dated by the end of its window, in the edition's time zone.
        return [(row, row.until.replace(tzinfo=row.until.tzinfo or UTC).astimezone(zone).strftime("%-d %B %Y"))
                for row in rows if Path(row.html_path).is_file()]

    @app.get("/editions", response_class=HTMLResponse)
    def archive(request: Request) -> HTMLResponse:
        with Session(engine) as session:
            return page(request, "archive.html", editions=public_editions(session))

    @app.get("/editions/{edition_id}")
    def edition(request: Request, edition_id: str) -> Response:
        with Session(engine) as session:
            row = session.get(EditionRow, edition_id)
            if row is None or row.status == "held" or not row.html_path or not Path(row.html_path).is_file():
                return page(request, "message.html", 404, heading="No such edition",
                            text="See the archive for the editions we have.")
            return FileResponse(row.html_path, media_type="text/html; charset=utf-8",
                                headers={"Cache-Control": "public, max-age=3600"})

    return app
