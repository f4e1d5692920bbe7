"""The Atom feed of sent editions (RFC 4287), for readers who follow the digest in a feed reader.

Entry ids are the editions' page URLs: stable, since an edition's id never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from digest.store import ArchivedEdition

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
NO_EDITIONS = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` is required even of an empty feed


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def editions_feed(editions: Sequence[ArchivedEdition], *, title: str, feed_url: str, archive_url: str,
                  page_url: Callable[[ArchivedEdition], str], dated: Callable[[ArchivedEdition], str]) -> bytes:
    """The feed document: one entry per edition (newest first, as given), each with its story
    count and top headlines as the summary."""
    feed = ET.Element("feed", xmlns=ATOM)
    _text(feed, "title", title)
    _text(feed, "id", feed_url)
    _text(feed, "updated", _stamp(max((e.until for e in editions), default=NO_EDITIONS)))
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=archive_url)
    author = ET.SubElement(feed, "author")
    _text(author, "name", title)
    for edition in editions:
        entry = ET.SubElement(feed, "entry")
        url = page_url(edition)
        _text(entry, "title", f"{edition.title}: {dated(edition)}")
        _text(entry, "id", url)
        _text(entry, "updated", _stamp(edition.until))
        ET.SubElement(entry, "link", rel="alternate", type="text/html", href=url)
        stories = f"{edition.stories} {'story' if edition.stories == 1 else 'stories'}"
        leads = "; ".join(story.title for story in edition.leads)
        _text(entry, "summary", f"{stories}. {leads}" if leads else f"{stories}.")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
