"""The HTTP client against a real local server that misbehaves in the ways real ones do.

The server listens on 127.0.0.1; the `fetcher` fixture counts it as a public site (as a
third-party server would be), while the same server by the name localhost stays loopback."""

from __future__ import annotations

import gzip
import socket
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from local_http import endless, fail_then, header_trickle, hung_resolver, redirect, respond, silent, trickle
from peak import Peak

from digest.connect import is_public_address
from digest.fetch import (
    Access,
    Fetcher,
    FetchError,
    FetchPolicy,
    access_for,
    retry_after_seconds,
)

pytestmark = pytest.mark.timeout(60)

POLICY = FetchPolicy(user_agent="digest-tests/1.0 (+https://example.org)", connect_timeout=2, read_timeout=2,
                     total_timeout=3, max_bytes=1_000_000, retries=2, backoff=0.05)


@pytest.fixture()
def fetcher(server):
    with Fetcher(POLICY, treat_as_public=[server.authority]) as f:
        yield f


def test_sends_an_honest_user_agent_and_asks_for_compression(server, fetcher):
    url = server.add("/page", respond(200, b"<p>hello</p>"))
    result = fetcher.get(url)
    assert result.content == b"<p>hello</p>"
    seen = server.headers_seen["/page"]
    assert seen["user-agent"] == POLICY.user_agent
    assert "gzip" in seen["accept-encoding"]


def test_gzip_and_deflate_bodies_are_decoded(server, fetcher):
    body = b"<p>" + b"news " * 1000 + b"</p>"
    gz = server.add("/gz", respond(200, gzip.compress(body), headers={"Content-Encoding": "gzip"}))
    deflated = server.add("/deflate", respond(200, zlib.compress(body), headers={"Content-Encoding": "deflate"}))
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = server.add("/raw-deflate", respond(200, raw.compress(body) + raw.flush(),
                                                     headers={"Content-Encoding": "deflate"}))
    assert fetcher.get(gz).content == body
    assert fetcher.get(deflated).content == body
    assert fetcher.get(raw_deflate).content == body


def test_a_gzip_bomb_is_stopped_at_the_size_limit_without_inflating_it(server, fetcher):
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)  # ~200 KB that inflates to 200 MB
    url = server.add("/bomb", respond(200, bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(FetchError, match="larger than 1,000,000 bytes"):
        fetcher.get(url)


def test_an_endless_body_is_cut_off_while_streaming(server, fetcher):
    url = server.add("/huge", endless())
    with pytest.raises(FetchError, match="larger than"):
        fetcher.get(url)


def test_a_declared_oversize_body_is_refused_before_reading(server, fetcher):
    url = server.add("/declared", respond(200, b"x" * 2_000_000))
    with pytest.raises(FetchError, match="over the limit"):
        fetcher.get(url)


def test_a_server_trickling_bytes_hits_the_total_deadline(server, fetcher):
    url = server.add("/trickle", trickle(0.1))
    start = time.monotonic()
    with pytest.raises(FetchError, match="longer than 3 s"):
        fetcher.get(url)
    assert time.monotonic() - start < POLICY.total_timeout + 2


def test_a_server_trickling_header_bytes_hits_the_total_deadline(server, fetcher):
    # Each byte comes well inside the 2 s read timeout, so only the one deadline can stop it.
    url = server.add("/slow-headers", header_trickle(0.2))
    start = time.monotonic()
    with pytest.raises(FetchError, match="longer than 3 s in total"):
        fetcher.get(url)
    assert time.monotonic() - start < POLICY.total_timeout + 1.5


def test_a_callers_deadline_ends_a_fetch_before_its_own(server, fetcher):
    url = server.add("/silent", silent())
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"/silent: the caller's time budget ran out after 1\.\d s"):
        fetcher.get(url, deadline=start + 1.0)
    assert time.monotonic() - start < 2.0
    assert server.hits["/silent"] == 1  # the read timeout (2 s) never came, so nothing was retried


def test_retries_stop_when_the_wait_would_pass_the_deadline(server, fetcher):
    url = server.add("/later", respond(503, b"down", headers={"Retry-After": "30"}))
    start = time.monotonic()
    with pytest.raises(FetchError, match="HTTP 503; not tried again: waiting 30 s would pass the 3 s deadline"):
        fetcher.get(url)
    assert time.monotonic() - start < 1.5
    assert server.hits["/later"] == 1


def test_waiting_for_a_busy_host_counts_against_the_deadline(server):
    url = server.add("/silent", silent())
    policy = FetchPolicy(per_host=1, retries=0, read_timeout=5, total_timeout=5)
    with Fetcher(policy) as fetcher, ThreadPoolExecutor(1) as pool:
        holder = pool.submit(fetcher.get, url, access=Access.NETWORK)  # takes the host's only slot
        while "/silent" not in server.hits:
            time.sleep(0.01)
        start = time.monotonic()
        with pytest.raises(FetchError, match="time budget ran out"):
            fetcher.get(url, access=Access.NETWORK, deadline=start + 0.5)
        assert time.monotonic() - start < 1.5
        assert server.hits["/silent"] == 1  # never reached the server
        with pytest.raises(FetchError):
            holder.result()


def test_a_host_whose_name_lookup_hangs_fails_by_the_callers_deadline_and_says_so():
    with hung_resolver() as (getaddrinfo, asked), Fetcher(POLICY, getaddrinfo=getaddrinfo) as fetcher:
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"^http://feeds\.example\.org/world\.rss: the caller's time budget "
                                             r"ran out after 1\.\d s \(looking up feeds\.example\.org did not "
                                             r"finish\); gave up$"):
            fetcher.get("http://feeds.example.org/world.rss", deadline=start + 1.0)
        assert time.monotonic() - start < 1.5
    assert asked == ["feeds.example.org"]


def test_a_name_lookup_slower_than_the_connect_timeout_is_retried_within_the_deadline():
    policy = FetchPolicy(connect_timeout=1, read_timeout=1, total_timeout=1.6, retries=2, backoff=0.05)
    with hung_resolver() as (getaddrinfo, asked), Fetcher(policy, getaddrinfo=getaddrinfo) as fetcher:
        start = time.monotonic()
        with pytest.raises(FetchError, match=r"longer than 1\.6 s in total \(looking up feeds\.example\.org "
                                             r"did not finish\)"):
            fetcher.get("https://feeds.example.org/world.rss")
        assert time.monotonic() - start < 2.1
    assert asked == ["feeds.example.org"] * 2  # a second try after the 1 s connect timeout, cut to the deadline


def test_a_host_name_is_connected_to_and_checked_at_the_addresses_its_lookup_gives(server):
    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        assert host == "feeds.example.org"
        return socket.getaddrinfo("127.0.0.1", port, *args, **kwargs)

    url = server.add("/feed", respond(200, b"ok")).replace("127.0.0.1", "feeds.example.org")
    with Fetcher(POLICY, getaddrinfo=getaddrinfo) as fetcher:
        assert fetcher.get(url, access=Access.NETWORK).content == b"ok"
        with pytest.raises(FetchError, match="refused: feeds.example.org resolves to 127.0.0.1"):
            fetcher.get(url)


@pytest.mark.parametrize(("setting", "value"), [
    ("per_host", 0), ("read_timeout", 0), ("connect_timeout", -1), ("total_timeout", -5.0), ("max_bytes", 0),
    ("retries", -1),
])
def test_a_policy_that_would_wait_forever_or_never_is_refused(setting, value):
    with pytest.raises(ValueError, match=f"FetchPolicy.{setting} must"):
        FetchPolicy(**{setting: value})


def test_redirects_are_followed_to_the_final_url(server, fetcher):
    final = server.add("/final", respond(200, b"arrived"))
    server.add("/moved", redirect("/final"))
    result = fetcher.get(server.url("/moved"))
    assert result.content == b"arrived"
    assert result.url == final


def test_a_redirect_loop_is_a_clear_error(server, fetcher):
    server.add("/a", redirect("/b"))
    server.add("/b", redirect("/a"))
    with pytest.raises(FetchError, match="redirect loop"):
        fetcher.get(server.url("/a"))


def test_too_many_redirects_is_a_clear_error(server, fetcher):
    for i in range(10):
        server.add(f"/hop{i}", redirect(f"/hop{i + 1}"))
    with pytest.raises(FetchError, match="more than 5 redirects"):
        fetcher.get(server.url("/hop0"))


def test_a_404_is_not_retried_and_names_the_url(server, fetcher):
    url = server.url("/missing")
    with pytest.raises(FetchError, match=r"/missing: HTTP 404"):
        fetcher.get(url)
    assert server.hits["/missing"] == 1


def test_a_500_then_200_succeeds_after_a_retry(server, fetcher):
    url = server.add("/flaky", fail_then(500, 1, respond(200, b"ok now")))
    assert fetcher.get(url).content == b"ok now"
    assert server.hits["/flaky"] == 2


def test_429_waits_as_long_as_retry_after_says(server, fetcher):
    url = server.add("/busy", fail_then(429, 1, respond(200, b"ok"), retry_after="1"))
    start = time.monotonic()
    assert fetcher.get(url).content == b"ok"
    assert time.monotonic() - start >= 0.9


def test_a_server_that_keeps_failing_gives_up_after_the_retries(server, fetcher):
    url = server.add("/down", respond(503, b"down"))
    with pytest.raises(FetchError, match="HTTP 503"):
        fetcher.get(url)
    assert server.hits["/down"] == POLICY.retries + 1


def test_conditional_get_sends_the_validators_and_reports_not_modified(server, fetcher):
    def route(h):
        if h.headers.get("If-None-Match") == '"v1"':
            respond(304)(h)
        else:
            respond(200, b"<rss/>", headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Jan 2017 10:00:00 GMT"})(h)
    url = server.add("/feed", route)
    first = fetcher.get(url)
    assert (first.etag, first.last_modified) == ('"v1"', "Mon, 02 Jan 2017 10:00:00 GMT")
    second = fetcher.get(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified
    assert server.headers_seen["/feed"]["if-modified-since"] == first.last_modified


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("fe80::1%eth0", False), ("fd00::1", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
])
def test_only_global_unicast_addresses_count_as_public(address, public):
    assert is_public_address(address) is public


def test_access_is_widened_only_by_the_operator():
    assert access_for("https://news.example.org/feed.rss", local=False) is Access.PUBLIC
    assert access_for("http://intranet:8080/feed.rss", local=True) is Access.NETWORK
    assert access_for("/srv/feeds/world.rss", local=False) is Access.FILES
    assert access_for("file:///srv/feeds/world.rss", local=False) is Access.FILES


def test_a_host_name_resolving_to_loopback_is_refused_when_connecting(server, fetcher):
    # No DNS pre-check exists: the address the connection would go to is the one refused.
    server.add("/internal", respond(200, b"secret"))
    with pytest.raises(FetchError, match=r"refused: localhost resolves to (127\.0\.0\.1|::1), which is a loopback"):
        fetcher.get(server.loopback_url("/internal"))
    assert "/internal" not in server.hits
    assert fetcher.get(server.loopback_url("/internal"), access=Access.NETWORK).content == b"secret"


def test_a_connection_opened_for_a_local_source_is_not_reused_for_a_public_only_request(server, fetcher):
    url = server.loopback_url("/internal")
    server.add("/internal", respond(200, b"secret"))
    assert fetcher.get(url, access=Access.NETWORK).content == b"secret"  # leaves a kept-alive connection
    with pytest.raises(FetchError, match="refused"):
        fetcher.get(url)
    assert server.hits["/internal"] == 1


def test_a_redirect_from_a_public_site_to_loopback_is_refused(server, fetcher):
    server.add("/internal", respond(200, b"secret"))
    server.add("/moved", redirect(server.loopback_url("/internal")))
    with pytest.raises(FetchError, match="refused: localhost resolves to"):
        fetcher.get(server.url("/moved"))
    assert server.hits == {"/moved": 1}


def test_local_files_are_read_only_with_file_access(tmp_path, fetcher):
    page = tmp_path / "a.html"
    page.write_text("<p>local</p>")
    assert fetcher.get(str(page), access=Access.FILES).content == b"<p>local</p>"
    assert fetcher.get(page.as_uri(), access=Access.FILES).url == page.as_uri()
    for access in (Access.PUBLIC, Access.NETWORK):
        with pytest.raises(FetchError, match="refused: a local file"):
            fetcher.get(page.as_uri(), access=access)


def test_other_schemes_are_refused(fetcher):
    with pytest.raises(FetchError, match="unsupported URL scheme 'ftp'"):
        fetcher.get("ftp://example.org/feed.xml")


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)
    assert retry_after_seconds("soon") is None


def test_per_host_concurrency_is_limited_across_fetchers(server):
    active = Peak()

    def slow(h):
        with active:
            time.sleep(0.2)
        respond(200, b"ok")(h)

    url = server.add("/slow", slow)
    policy = FetchPolicy(per_host=2, retries=0)
    # One fetcher per source, as when each source is collected on its own: the limit still holds per host.
    with Fetcher(policy) as one, Fetcher(policy) as two, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: (one if i % 2 else two).get(url, access=Access.NETWORK), range(8)))
    assert active.most == 2
