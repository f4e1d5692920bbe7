"""How the fetcher connects: every step ends by the current fetch's deadline, and public-only
connections are checked against the address actually connected to.

`DEADLINE` is set by the fetch running in this thread (`digest.fetch.Fetcher.get`); a name
lookup, connect, read, write or TLS handshake that would outlast it raises `DeadlinePassed`.
The system resolver takes no timeout (a hung DNS server holds `getaddrinfo` for as long as
it likes), so each lookup runs in a thread of its own that the fetch stops waiting for.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar

import httpcore


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local (cloud metadata), shared, reserved and multicast."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_global and not ip.is_multicast


# When the fetch running in this thread must end (time.monotonic()); None outside a fetch.
DEADLINE: ContextVar[float | None] = ContextVar("fetch_deadline", default=None)


class DeadlinePassed(Exception):
    """The current fetch's deadline came while looking up, connecting, sending, waiting or
    reading; the message, if any, says which step was under way."""


def time_left(timeout: float | None) -> tuple[float | None, bool]:
    """`timeout` cut to what is left of the current fetch's deadline, and whether it was cut."""
    deadline = DEADLINE.get()
    if deadline is None:
        return timeout, False
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed
    if timeout is None or left < timeout:
        return left, True
    return timeout, False


def _bounded(operation, timeout: float | None):  # noqa: ANN001, ANN202 - any socket operation
    """Run `operation(timeout)` with the timeout cut to the deadline; a timeout that the cut
    caused is the deadline's, not the server's, and is not retried."""
    limit, cut = time_left(timeout)
    try:
        return operation(limit)
    except httpcore.TimeoutException:
        if cut:
            raise DeadlinePassed from None
        raise


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current fetch's deadline: httpcore
    gives each socket operation the full read timeout, so a byte every few seconds would
    otherwise keep a request alive for ever, in the headers as much as in the body."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return _bounded(lambda t: self._inner.read(max_bytes, t), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _bounded(lambda t: self._inner.write(buffer, t), timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,  # noqa: ANN001 - ssl.SSLContext
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(_bounded(lambda t: self._inner.start_tls(ssl_context, server_hostname, t), timeout))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


# What looks up a host: socket.getaddrinfo, or a stand-in with its signature (tests).
GetAddrInfo = Callable[..., list]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, timeout: float | None, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> list[str]:
    """The addresses of `host`, in the resolver's order, by `timeout` and the fetch's deadline.

    The lookup runs in a daemon thread, so one that hangs is left behind (it ends when the
    resolver gives up) and holds neither the fetch nor the process's exit. An address needs
    no lookup.
    """
    if _is_address(host):
        return [host]
    limit, cut = time_left(timeout)
    found: Future[list] = Future()

    def lookup() -> None:
        try:
            found.set_result(getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting fetch, which raises it
            found.set_exception(exc)

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    try:
        infos = found.result(limit)
    except FutureTimeout:
        if cut:
            raise DeadlinePassed(f"looking up {host} did not finish") from None
        raise httpcore.ConnectTimeout(f"looking up {host} took longer than {limit:g} s") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class DeadlineBackend(httpcore.SyncBackend):
    """Connections that keep to the current fetch's deadline, from the name lookup on."""

    def __init__(self, getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        self._getaddrinfo = getaddrinfo

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        addresses = resolve(host, port, timeout, self._getaddrinfo)
        self._check(host, port, addresses)
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:  # by address: the lookup is done, and was bounded
            try:
                return _DeadlineStream(_bounded(
                    lambda t, a=address: super(DeadlineBackend, self).connect_tcp(a, port, t, local_address,
                                                                                  socket_options),
                    timeout))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # the next address may answer
                failure = exc
        raise failure

    def _check(self, host: str, port: int, addresses: list[str]) -> None:
        """Whether `host` may be reached at `addresses`: here, at any."""


class AddressRefused(Exception):
    def __init__(self, host: str, address: str) -> None:
        where = address if host == address else f"{host} resolves to {address}, which"
        super().__init__(f"refused: {where} is a loopback, private or link-local address; "
                         "only sources configured with local = true may reach those")


class PublicOnlyBackend(DeadlineBackend):
    """Opens connections to public addresses only. It resolves the host once, checks every
    address and connects to a checked one, so a DNS answer that changes between check and
    connection (rebinding) cannot slip through; TLS still verifies and sends the host name."""

    def __init__(self, treat_as_public: frozenset[str], getaddrinfo: GetAddrInfo = socket.getaddrinfo) -> None:
        super().__init__(getaddrinfo)
        self._treat_as_public = treat_as_public

    def _check(self, host: str, port: int, addresses: list[str]) -> None:
        if f"{host}:{port}" in self._treat_as_public:
            return
        for address in addresses:
            if not is_public_address(address):
                raise AddressRefused(host, address)
