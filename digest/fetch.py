"""The HTTP client: a polite, bounded fetcher for feeds and pages.

Everything a third-party server can do wrong is bounded here: redirects (a limit, and
each hop re-checked), size (counted while streaming, after decompression, so neither a
2 GB page nor a gzip bomb is ever held in memory), time (connect/read timeouts plus a
total deadline against servers that trickle bytes), and load on the server (per-host
concurrency, retries with backoff that honour Retry-After). Local files are read with
the same size limit.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0


class FetchError(Exception):
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
    # Whole request, retries excluded: a server sending one byte a second never gets further.
    total_timeout: float = 60.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    retries: int = 2
    backoff: float = 0.5
    per_host: int = 4


def is_local_location(location: str) -> bool:
    """A file:// URL or a filesystem path (not http(s))."""
    scheme = urlsplit(location).scheme.lower()
    return scheme == "file" or scheme == "" or (len(scheme) == 1 and Path(location).is_absolute())


def local_path(location: str) -> Path:
    if urlsplit(location).scheme.lower() == "file":
        return Path(unquote(urlsplit(location).path))
    return Path(location)


def is_public_host(host: str) -> bool:
    """True when every address `host` resolves to is a public one."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return True  # it will fail to connect anyway, with its own clear error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            return False
    return True


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


class Fetcher:
    """A thread-safe client: one per run, shared by all sources."""

    def __init__(self, policy: FetchPolicy | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.policy = policy or FetchPolicy()
        timeout = httpx.Timeout(self.policy.read_timeout, connect=self.policy.connect_timeout)
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,  # done by hand so every hop is checked and counted
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self._hosts: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
            allow_private: bool = True, accept: str | None = None) -> FetchResult:
        """Fetch `url` (http(s), file:// or a local path), retrying transient failures."""
        if is_local_location(url):
            if not allow_private:
                raise FetchError(url, "refused: a local file linked from a third-party source")
            return self._read_file(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(url, f"unsupported URL scheme {scheme!r} (only http, https and local files)")
        headers = {"Accept": accept} if accept else {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        while True:
            try:
                return self._get_following(url, headers, allow_private)
            except _Retryable as exc:
                attempt += 1
                if attempt > self.policy.retries:
                    raise FetchError(exc.url, exc.reason, exc.status) from None
                wait = exc.retry_after if exc.retry_after is not None else self.policy.backoff * 2 ** (attempt - 1)
                time.sleep(min(wait, MAX_RETRY_WAIT))

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

    def _host_slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._hosts:
                self._hosts[host] = threading.BoundedSemaphore(self.policy.per_host)
            return self._hosts[host]

    def _get_following(self, url: str, headers: dict[str, str], allow_private: bool) -> FetchResult:
        seen: list[str] = []
        current = url
        for _ in range(self.policy.max_redirects + 1):
            host = urlsplit(current).hostname or ""
            if not allow_private and not is_public_host(host):
                raise FetchError(current, "refused: link points at a loopback or private address")
            with self._host_slot(host.lower()):
                result, location = self._get_once(current, headers)
            if location is None:
                return result
            seen.append(current)
            current = urljoin(current, location)
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise FetchError(current, "redirect to a non-http(s) URL refused")
            if current in seen:
                raise FetchError(url, f"redirect loop ({' -> '.join(seen + [current])})")
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _get_once(self, url: str, headers: dict[str, str]) -> tuple[FetchResult, str | None]:
        deadline = time.monotonic() + self.policy.total_timeout
        try:
            with self._client.stream("GET", url, headers=headers) as response:
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
                body = b"".join(self._stream(response.iter_raw(), decoder, deadline, url))
                return FetchResult(str(response.url), status, body, dict(response.headers)), None
        except httpx.TimeoutException as exc:
            raise _Retryable(url, f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(url, f"connection failed: {exc or type(exc).__name__}") from exc

    def _stream(self, chunks: Iterator[bytes], decoder: _Decoder, deadline: float, url: str) -> Iterator[bytes]:
        for chunk in chunks:
            if time.monotonic() > deadline:
                raise FetchError(url, f"took longer than {self.policy.total_timeout:g} s in total; gave up")
            yield decoder.feed(chunk)


class _Retryable(Exception):
    def __init__(self, url: str, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.status, self.retry_after = url, reason, status, retry_after
