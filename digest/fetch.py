"""The HTTP client: a polite, bounded fetcher for feeds and pages.

Everything a third-party server can do wrong is bounded here: redirects (a limit, and
each hop re-checked), size (counted while streaming, after decompression, so neither a
2 GB page nor a gzip bomb is ever held in memory), time (one wall-clock deadline per fetch
that every connect, socket read and write, wait for a host slot and retry is cut to, so a
server trickling header or body bytes gains nothing; a caller's deadline, such as a
source's budget, can end it sooner), and load on the server (per-host concurrency, retries
with backoff that honour Retry-After). Local files are read with the same size limit.

What a fetch may reach is an `Access`, and it starts at the safe end: public addresses
only. Only the operator widens it, per source (`access_for`); nothing a third-party server
sends (a link, a redirect, an announced feed) ever does. Public-only requests are checked
against the address actually connected to, not an earlier DNS answer (`digest.connect`,
which also cuts every socket operation to the deadline).
"""

from __future__ import annotations

import enum
import socket
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpcore
import httpx

from digest.connect import (
    DEADLINE,
    AddressRefused,
    DeadlineBackend,
    DeadlinePassed,
    GetAddrInfo,
    PublicOnlyBackend,
    time_left,
)
from digest.errors import DigestError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0


class FetchError(DigestError):
    """A fetch that failed; the message names the URL and says what went wrong."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL, after redirects
    status: int  # 200, or 304 when the conditional GET says nothing changed
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str = "regional-digest/0.1"
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    # The whole fetch: connecting, headers, body, redirects and retries. A server sending one
    # byte a second never gets further.
    total_timeout: float = 60.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    retries: int = 2
    backoff: float = 0.5
    per_host: int = 4

    def __post_init__(self) -> None:
        # A zero semaphore waits forever and a zero or negative timeout never waits: refuse both here.
        for name in ("connect_timeout", "read_timeout", "total_timeout", "max_bytes", "per_host"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be greater than 0, not {getattr(self, name)!r}")
        for name in ("max_redirects", "retries", "backoff"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must not be negative, not {getattr(self, name)!r}")


class Access(enum.Enum):
    """How far a fetch may reach."""

    PUBLIC = "public"  # public internet addresses only
    NETWORK = "network"  # also loopback, private and link-local addresses
    FILES = "files"  # also local files


def access_for(source_location: str, local: bool) -> Access:
    """What a source, and every URL its content names, may reach.

    A source that is itself a local file or folder may read files and private hosts; an
    http(s) source configured `local = true` may reach private hosts but never files; any
    other source reaches public addresses only.
    """
    if is_local_location(source_location):
        return Access.FILES
    return Access.NETWORK if local else Access.PUBLIC


def is_local_location(location: str) -> bool:
    """A file:// URL or a filesystem path (not http(s))."""
    scheme = urlsplit(location).scheme.lower()
    return scheme == "file" or scheme == "" or (len(scheme) == 1 and Path(location).is_absolute())


def local_path(location: str) -> Path:
    if urlsplit(location).scheme.lower() == "file":
        return Path(unquote(urlsplit(location).path))
    return Path(location)



def host_slot(host: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide slot for requests to `host`. Every fetcher with the same limit shares
    it, so sources on one host stay within `limit` together, whichever fetcher each uses."""
    with _HOST_SLOTS_LOCK:
        return _HOST_SLOTS.setdefault((host.lower(), limit), threading.BoundedSemaphore(limit))


_HOST_SLOTS: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_HOST_SLOTS_LOCK = threading.Lock()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Decoder:
    """gzip/deflate decoding with a cap on output, fed chunk by chunk."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.url = url
        self.limit = limit
        self.size = 0
        self.encoding = encoding.strip().lower()
        self._z: zlib._Decompress | None = None
        if self.encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding not in ("", "identity", "deflate"):
            raise FetchError(url, f"unsupported Content-Encoding {self.encoding!r}")

    def feed(self, chunk: bytes) -> bytes:
        if self.encoding == "deflate" and self._z is None and chunk:
            # "deflate" comes both zlib-wrapped (RFC 1950) and raw; the header tells which.
            wrapped = len(chunk) > 1 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        if self._z is None:
            return self._count(chunk)
        # max_length bounds each step, so a bomb is stopped before it is inflated.
        try:
            parts = [self._count(self._z.decompress(chunk, self.limit - self.size + 1))]
            while self._z.unconsumed_tail:
                parts.append(self._count(self._z.decompress(self._z.unconsumed_tail, self.limit - self.size + 1)))
        except zlib.error as exc:
            raise FetchError(self.url, f"corrupt compressed body: {exc}") from exc
        return b"".join(parts)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.size > self.limit:
            raise FetchError(self.url, f"response larger than {self.limit:,} bytes (after decompression); stopped reading")
        return data



def _client(policy: FetchPolicy, backend: httpcore.NetworkBackend) -> httpx.Client:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no public way to choose the network backend, so its pool is replaced by one using ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(), max_connections=64, max_keepalive_connections=16,
        network_backend=backend)
    return httpx.Client(
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        follow_redirects=False,  # done by hand so every hop is checked and counted
        headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate"},
        transport=transport,
        trust_env=False,  # a proxy would hide the address connected to, which public-only requests check
    )


class Fetcher:
    """A thread-safe client: one per run, shared by all sources.

    `treat_as_public` lists "host:port" pairs that count as public whatever they resolve to:
    for test servers, which can only listen on loopback. `getaddrinfo` looks up host names
    (a stand-in for the system resolver, for tests). Configuration sets neither.
    """

    def __init__(self, policy: FetchPolicy | None = None, *, treat_as_public: Iterable[str] = (),
                 getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        self.policy = policy or FetchPolicy()
        # Separate pools, so a connection opened for a trusted source is never reused for a public-only request.
        self._public = _client(self.policy, PublicOnlyBackend(frozenset(treat_as_public), getaddrinfo))
        self._any = _client(self.policy, DeadlineBackend(getaddrinfo))

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._public.close()
        self._any.close()

    def get(self, url: str, *, access: Access = Access.PUBLIC, etag: str | None = None,
            last_modified: str | None = None, accept: str | None = None,
            deadline: float | None = None) -> FetchResult:
        """Fetch `url` (http(s), file:// or a local path) as far as `access` allows,
        retrying transient failures, within the policy's total_timeout or by `deadline`
        (a time.monotonic() value: the caller's budget), whichever comes first."""
        if is_local_location(url):
            if access is not Access.FILES:
                raise FetchError(url, "refused: a local file; only sources that are themselves "
                                      "local files or folders may read files")
            return self._read_file(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(url, f"unsupported URL scheme {scheme!r} (only http, https and local files)")
        headers = {"Accept": accept} if accept else {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        client = self._public if access is Access.PUBLIC else self._any
        start = time.monotonic()
        own = start + self.policy.total_timeout
        until = own if deadline is None else min(own, deadline)
        token = DEADLINE.set(until)
        try:
            attempt = 0
            while True:
                try:
                    return self._get_following(client, url, headers)
                except _Retryable as exc:
                    attempt += 1
                    if attempt > self.policy.retries:
                        raise FetchError(exc.url, exc.reason, exc.status) from None
                    wait = exc.retry_after if exc.retry_after is not None else self.policy.backoff * 2 ** (attempt - 1)
                    wait = min(wait, MAX_RETRY_WAIT)
                    if time.monotonic() + wait >= until:
                        limit = "the caller's time budget" if until < own else f"the {self.policy.total_timeout:g} s deadline"
                        raise FetchError(exc.url, f"{exc.reason}; not tried again: waiting {wait:g} s would pass {limit}",
                                         exc.status) from None
                    time.sleep(wait)
        except DeadlinePassed as exc:
            during = f" ({exc})" if str(exc) else ""  # the step under way, where it says
            if until < own:
                raise FetchError(url, f"the caller's time budget ran out after {time.monotonic() - start:.1f} s"
                                      f"{during}; gave up") from None
            raise FetchError(url, f"took longer than {self.policy.total_timeout:g} s in total{during}; "
                                  "gave up") from None
        finally:
            DEADLINE.reset(token)

    def _read_file(self, location: str) -> FetchResult:
        path = local_path(location)
        try:
            size = path.stat().st_size
            if size > self.policy.max_bytes:
                raise FetchError(str(path), f"file larger than {self.policy.max_bytes:,} bytes")
            content = path.read_bytes()
        except OSError as exc:
            raise FetchError(str(path), f"cannot read: {exc.strerror or exc}") from exc
        return FetchResult(url=path.resolve().as_uri(), status=200, content=content)

    def _get_following(self, client: httpx.Client, url: str, headers: dict[str, str]) -> FetchResult:
        seen: list[str] = []
        current = url
        for _ in range(self.policy.max_redirects + 1):
            slot = host_slot(urlsplit(current).hostname or "", self.policy.per_host)
            # Waiting for a slot counts against the deadline too: N slow pages on one host queue here.
            if not slot.acquire(timeout=time_left(None)[0]):
                raise DeadlinePassed
            try:
                result, location = self._get_once(client, current, headers)
            finally:
                slot.release()
            if location is None:
                return result
            seen.append(current)
            current = urljoin(current, location)
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise FetchError(current, "redirect to a non-http(s) URL refused")
            if current in seen:
                raise FetchError(url, f"redirect loop ({' -> '.join(seen + [current])})")
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _get_once(self, client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[FetchResult, str | None]:
        try:
            with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    return FetchResult(url, status, b""), response.headers["location"]
                if status in RETRY_STATUSES:
                    raise _Retryable(url, f"HTTP {status}", status, retry_after_seconds(response.headers.get("retry-after")))
                if status == 304:
                    return FetchResult(url, 304, b"", dict(response.headers)), None
                if status >= 400:
                    raise FetchError(url, f"HTTP {status} {response.reason_phrase}".rstrip(), status)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.policy.max_bytes:
                    raise FetchError(url, f"response of {int(declared):,} bytes is over the limit of {self.policy.max_bytes:,}")
                decoder = _Decoder(response.headers.get("content-encoding", ""), self.policy.max_bytes, url)
                body = b"".join(decoder.feed(chunk) for chunk in response.iter_raw())
                return FetchResult(str(response.url), status, body, dict(response.headers)), None
        except AddressRefused as exc:
            raise FetchError(url, str(exc)) from None
        except httpx.TimeoutException as exc:
            raise _Retryable(url, f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(url, f"connection failed: {exc or type(exc).__name__}") from exc


class _Retryable(Exception):
    def __init__(self, url: str, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.status, self.retry_after = url, reason, status, retry_after
