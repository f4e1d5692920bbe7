"""Canonical URLs: the one URL an article is known by, whichever link, redirect or tag named it.

Tracking parameters (listed in `digest/data/tracking_params.txt`) and fragments go, scheme and
host are lowercased and default ports dropped, so the same article reached through a feed, a
newsletter link or a redirect is one row in the store.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from digest.data_files import data_lines
from digest.fetch import is_local_location


@lru_cache(maxsize=1)
def _tracking() -> tuple[frozenset[str], tuple[str, ...]]:
    names, prefixes = set(), []
    for name in map(str.lower, data_lines("tracking_params.txt")):
        (prefixes.append(name[:-1]) if name.endswith("*") else names.add(name))
    return frozenset(names), tuple(prefixes)


def _is_tracking(param: str) -> bool:
    names, prefixes = _tracking()
    name = unquote(param.split("=", 1)[0]).lower()
    return name in names or name.startswith(prefixes)


def canonical_url(url: str, base: str | None = None) -> str:
    """The URL an article is known by: tracking parameters and fragment gone, scheme/host lowercased."""
    url = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    if scheme not in ("http", "https"):
        return urlunsplit((scheme, parts.netloc, parts.path, query, ""))
    host = (parts.hostname or "").rstrip(".")
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def usable_canonical(found: str | None, page_url: str) -> str | None:
    """A page's <link rel=canonical>, unless it is the site's home page (a common CMS slip)
    or a local file named by a page that is not one."""
    if not found:
        return None
    url = canonical_url(found, base=page_url)
    allowed = ("http", "https", "file") if is_local_location(page_url) else ("http", "https")
    if urlsplit(url).scheme not in allowed:
        return None
    if urlsplit(url).path in ("", "/") and urlsplit(page_url).path not in ("", "/"):
        return None
    return url
