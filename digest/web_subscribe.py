"""The subscription pages: subscribe (double opt-in), confirm (then a welcome mail),
preferences and one-click unsubscribe, as routes on an APIRouter (`digest.web` mounts it).

Every link carries a signed token scoped to one subscriber and one purpose (see
`digest.subscribers`). Pages never say whether an address is subscribed: the subscribe form
answers the same for every address and the email tells the owner what applies. The one-click
unsubscribe POST carries no CSRF token, since mail clients send it without a page (RFC 8058)
and the URL's token is itself the authority. That authority is only to unsubscribe: the page
it leads to offers to subscribe again through a fresh confirmation email, never a preferences
link.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from digest import notices
from digest import subscribers as subs
from digest.links import links_for, make_token
from digest.models import SubscriberStatus
from digest.store import (
    Choices,
    SubscriberRecord,
    add_subscribers,
    confirm_subscriber,
    set_preferences,
    set_subscriber_status,
)
from digest.web_site import Site, SiteDep

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, site: SiteDep) -> HTMLResponse:
    return site.page(request, "subscribe.html", selected=site.region_names)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(request: Request, site: SiteDep, background: BackgroundTasks,
              email: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
              regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
              csrf: Annotated[str, Form()] = "") -> HTMLResponse:
    if not site.csrf_ok(request, csrf):
        return site.forbidden(request)
    if not site.per_ip.allow(request.client.host if request.client else "unknown"):
        return site.page(request, "message.html", 429, heading="Too many requests",
                         text="Please wait a while before subscribing again.")

    def again(error: str, selected: list[str]) -> HTMLResponse:
        return site.page(request, "subscribe.html", 422, error=error, email=email, name=name,
                         selected=selected)

    try:
        address = subs.normalize_email(email)
    except subs.SubscriberError:
        error = "Please enter a valid email address."
        if not email.partition("@")[0].isascii():
            # The sender cannot use SMTPUTF8: refused here, rather than by delivery later.
            error += " We can only send to addresses with plain (ASCII) letters before the @."
        return again(error, regions or site.region_names)
    if not [r for r in regions if r in site.region_names]:
        return again("Please choose at least one region.", site.region_names)
    if len(name.strip()) > subs.NAME_MAX:
        return again(f"Please shorten the name to at most {subs.NAME_MAX} characters.", regions)
    choices = Choices(name=name.strip() or None, regions=site.chosen(regions))
    # An existing row stays as it is: anyone can type an address here, so the choices
    # travel in the confirmation link and apply only once its owner follows it.
    [(row, _)] = add_subscribers(site.engine, [(address, choices.name, choices.regions)],
                                 status=SubscriberStatus.PENDING)
    # The owner learns what applies by email; the page is the same for every address.
    if site.per_address.allow(address):
        if row.status == SubscriberStatus.ACTIVE:
            background.add_task(notices.send, site.mailer, notices.already_subscribed(site.mailer, row), "already")
        else:
            background.add_task(notices.send, site.mailer, notices.confirmation(site.mailer, row, choices), "confirm")
    return site.page(request, "message.html", heading="Check your inbox",
                     text=f"We have sent an email to {address}. Follow the link in it to "
                          "confirm your subscription.")


def _ask(site: Site, request: Request, token: str, purpose: str, template: str) -> HTMLResponse:
    """The page a confirm or unsubscribe link opens: a button, not the action itself, since
    mail scanners open links too."""
    found = site.subscriber_from(token, purpose)
    if found is None:
        return site.invalid_link(request)
    return site.page(request, template, email=found[0].email, token=token)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, site: SiteDep, token: str) -> HTMLResponse:
    return _ask(site, request, token, "confirm", "confirm.html")


@router.post("/confirm/{token}")
def confirm(request: Request, site: SiteDep, background: BackgroundTasks, token: str,
            csrf: Annotated[str, Form()] = "") -> Response:
    if not site.csrf_ok(request, csrf):
        return site.forbidden(request)
    found = site.subscriber_from(token, "confirm")
    if found is None:
        return site.invalid_link(request)
    row, claim = found
    confirmation = confirm_subscriber(site.engine, row.id, claim.choices)
    if confirmation is None:  # forgotten since the link was read
        return site.invalid_link(request)
    row = confirmation.record
    preferences = make_token(site.link_key, row.id, "preferences", row.email)
    # Only the request that made them active welcomes them: not a second click, nor the link again.
    if confirmation.newly:
        background.add_task(notices.send_welcome, site.mailer, row)
    return RedirectResponse(site.url(f"/preferences/{preferences}?welcome=1"), status_code=303)


def _preferences_page(site: Site, request: Request, row: SubscriberRecord, token: str,
                      **extra) -> HTMLResponse:  # noqa: ANN003
    unsubscribe = links_for(site.config, row.as_subscriber(), site.link_key).unsubscribe
    return site.page(request, "preferences.html", email=row.email, status=row.status,
                     paused=row.paused_at is not None, selected=row.regions or site.region_names,
                     token=token, unsubscribe_url=unsubscribe, **extra)


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences(request: Request, site: SiteDep, token: str, welcome: bool = False) -> HTMLResponse:
    found = site.subscriber_from(token, "preferences")
    if found is None:
        return site.invalid_link(request)
    return _preferences_page(site, request, found[0], token, welcome=welcome)


@router.post("/preferences/{token}", response_class=HTMLResponse)
def save_preferences(request: Request, site: SiteDep, token: str,
                     regions: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI form default
                     paused: Annotated[bool, Form()] = False,
                     resubscribe: Annotated[bool, Form()] = False,
                     csrf: Annotated[str, Form()] = "") -> HTMLResponse:
    if not site.csrf_ok(request, csrf):
        return site.forbidden(request)
    found = site.subscriber_from(token, "preferences")
    if found is None:
        return site.invalid_link(request)
    row = found[0]
    if not [r for r in regions if r in site.region_names]:
        return _preferences_page(site, request, row, token,
                                 error="Choose at least one region, or pause the digest instead.")
    # The preferences link came by email to this address, which proves its owner asked.
    row = set_preferences(site.engine, row.id, site.chosen(regions), paused, resubscribe=resubscribe)
    if row is None:  # forgotten since the link was read
        return site.invalid_link(request)
    return _preferences_page(site, request, row, token, saved=True)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, site: SiteDep, token: str) -> HTMLResponse:
    return _ask(site, request, token, "unsubscribe", "unsubscribe.html")


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, site: SiteDep, token: str) -> HTMLResponse:
    found = site.subscriber_from(token, "unsubscribe")
    row = set_subscriber_status(site.engine, found[0].id, SubscriberStatus.UNSUBSCRIBED) if found else None
    if row is None:  # not a valid link, or forgotten since it was read
        return site.invalid_link(request)
    # Subscribing again goes through the form and its confirmation email, like anyone's:
    # the unsubscribe token (also in List-Unsubscribe, valid for good) grants nothing more.
    return site.page(request, "unsubscribed.html", email=row.email,
                     selected=row.regions or site.region_names)
