"""The subscription web app: subscribe (double opt-in), confirm (then a welcome mail),
preferences, one-click unsubscribe, and the public archive of past editions (a list with
headlines, a page per edition, an Atom feed). Run it with `digest web`.

`create_app` assembles it: the routes live on APIRouters (`digest.web_subscribe`,
`digest.web_archive`), what they share in a `digest.web_site.Site`, and the mails it sends are
built and sent by `digest.notices`. X-Forwarded-For (which the per-client limit counts by) is
believed only from the proxies named in `web.trusted_proxies`.
"""

from __future__ import annotations

import copy

from fastapi import FastAPI, Request
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn import Config as ServerConfig
from uvicorn.config import LOGGING_CONFIG
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from digest import notices, web_archive, web_subscribe
from digest.config import Config
from digest.credentials import Secrets
from digest.regions import load_region_table
from digest.store import open_store
from digest.web_site import RateLimit, Site


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
    site = Site(config, engine or open_store(config.store_url), notices.Mailer.of(config, secrets),
                list(load_region_table(config.edition.region_table).regions),
                RateLimit(*subscribes_per_ip), RateLimit(*emails_per_address))
    app = FastAPI(title=config.edition.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site = site
    if site.base_path:
        app.add_middleware(BelowPath, root_path=site.base_path)
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

    app.include_router(web_subscribe.router)
    app.include_router(web_archive.router)
    return app


def server_config(app: ASGIApp, host: str, port: int, **options) -> ServerConfig:  # noqa: ANN003
    """How `digest web` serves the app with uvicorn. Uvicorn's own proxy handling believes
    X-Forwarded-For from loopback, whatever is in front; the app does that itself, only for
    `web.trusted_proxies`. The app's own log (e.g. where a mail went without SMTP) goes out
    beside uvicorn's, at INFO."""
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["digest"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return ServerConfig(app, host=host, port=port, proxy_headers=False, log_config=log_config, **options)
