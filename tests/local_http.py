"""A real HTTP server on 127.0.0.1 for collection tests, with routes that misbehave on purpose."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class LocalServer:
    base: str
    routes: dict[str, Route]
    hits: dict[str, int] = field(default_factory=dict)
    headers_seen: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def authority(self) -> str:
        """host:port, as `Fetcher(treat_as_public=...)` takes it."""
        return self.base.removeprefix("http://")

    def loopback_url(self, path: str) -> str:
        """The same route by the name localhost: a host name that resolves to loopback."""
        return self.base.replace("127.0.0.1", "localhost") + path

    def add(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)


def respond(status: int, body: bytes = b"", content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)
    return route


def serve_file(path: Path, content_type: str = "application/xml") -> Route:
    return lambda h: respond(200, path.read_bytes(), content_type)(h)


def redirect(to: str) -> Route:
    return lambda h: respond(302, headers={"Location": to})(h)


def trickle(interval: float = 0.2) -> Route:
    """Sends a byte every `interval` seconds, forever (until the client hangs up)."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.end_headers()
        try:
            h.wfile.write(b"<?xml version='1.0'?><rss><channel>")
            while True:
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(interval)
        except OSError:
            return
    return route


def header_trickle(interval: float = 0.2) -> Route:
    """Sends the status line and headers a byte every `interval` seconds and never ends them:
    every byte arrives well inside a read timeout, so only a deadline stops the client."""
    def route(h: BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nX-Padding: " + b"a" * 100_000
        try:
            for byte in head:
                if h.server.stopping.wait(interval):
                    return
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
        except OSError:
            return
    return route


def silent() -> Route:
    """Takes the request and never answers (until the server stops)."""
    return lambda h: h.server.stopping.wait()


def endless(chunk: bytes = b"x" * 65536, content_type: str = "text/html") -> Route:
    """An unbounded body with no Content-Length (a "2 GB page")."""
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.end_headers()
        try:
            while True:
                h.wfile.write(chunk)
        except OSError:
            return
    return route


def fail_then(first_status: int, times: int, then: Route, retry_after: str = "0") -> Route:
    count = {"n": 0}

    def route(h: BaseHTTPRequestHandler) -> None:
        count["n"] += 1
        if count["n"] <= times:
            respond(first_status, b"try later", "text/plain", {"Retry-After": retry_after})(h)
        else:
            then(h)
    return route


@contextmanager
def local_server() -> Iterator[LocalServer]:
    routes: dict[str, Route] = {}
    server_ref: dict[str, LocalServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            path = self.path.split("?")[0]
            srv = server_ref["s"]
            srv.hits[path] = srv.hits.get(path, 0) + 1
            srv.headers_seen[path] = {k.lower(): v for k, v in self.headers.items()}
            route = routes.get(path)
            if route is None:
                respond(404, b"not found", "text/plain")(self)
            else:
                route(self)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        stopping = threading.Event()  # set on shutdown, so routes that hold a connection let go

        def handle_error(self, request, client_address) -> None:  # noqa: ANN001
            pass  # clients hanging up on endless bodies is the point of several routes

    httpd = Server(("127.0.0.1", 0), Handler)
    server_ref["s"] = LocalServer(f"http://127.0.0.1:{httpd.server_address[1]}", routes)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_ref["s"]
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def hung_resolver() -> Iterator[tuple[Callable[..., list], list[str]]]:
    """A stand-in for socket.getaddrinfo that hangs as the system resolver does while its DNS
    server stays silent (until the block ends, then fails as it would: EAI_AGAIN), and the
    host names it was asked for. For `Fetcher(getaddrinfo=...)`."""
    release = threading.Event()
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        asked.append(host)
        release.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    try:
        yield getaddrinfo, asked
    finally:
        release.set()
