"""The plain data every stage passes along. No I/O here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

GLOBAL_REGION = "Global"


class SubscriberStatus(StrEnum):
    """A subscriber's standing; the values are what the store keeps.

    pending (asked on the web or imported with --pending, not yet confirmed) → active →
    unsubscribed | bounced. A delivery's own pending (`DeliveryStatus`) is another thing."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"


class EditionStatus(StrEnum):
    """How an edition ended, as the store keeps it: built (a dry run's or before delivery), held by
    the quality gate, or its delivery sent, partial (some still to send) or deferred (none sent)."""

    BUILT = "built"
    HELD = "held"
    SENT = "sent"
    PARTIAL = "partial"
    DEFERRED = "deferred"


class DeliveryStatus(StrEnum):
    """Where one subscriber's copy of an edition stands in the ledger; the values are what the store
    keeps. pending → outbox (written for a later send) | sending (claimed) → sent, or deferred (try
    again later), failed (given up) or bounced (returned by the recipient's server)."""

    PENDING = "pending"
    OUTBOX = "outbox"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"


def content_hash(text: str) -> str:
    """A stable fingerprint of an article body (whitespace-insensitive)."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Extracted:
    """What extraction gets out of one page or file."""

    title: str
    text: str
    published: datetime | None = None
    author: str | None = None
    sitename: str | None = None
    language: str | None = None
    canonical_url: str | None = None


@dataclass(frozen=True)
class Article:
    """One collected story. `url` is canonical; `id` is derived from it."""

    url: str
    title: str
    text: str
    source: str
    published: datetime | None = None
    first_seen: datetime | None = None
    author: str | None = None
    language: str | None = None
    also_reported_by: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return hashlib.sha1(self.url.encode("utf-8")).hexdigest()[:16]

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True)
class SourceError:
    """A source (feed, page, file) that failed; the edition goes on without it."""

    source: str
    location: str
    error: str


@dataclass(frozen=True)
class Location:
    """Where a story is about. `countries` is ranked, best first, with scores."""

    country: str | None
    region: str
    countries: tuple[tuple[str, float], ...] = ()
    regions: tuple[str, ...] = ()
    division: str | None = None  # ISO 3166-2 ("US-KY") when the story is local to one


@dataclass(frozen=True)
class DigestItem:
    """One story of the edition: its face `article`, with the story's other articles (best
    first) and, when the story went out in an earlier edition, that edition's id."""

    article: Article
    summary: tuple[str, ...]
    location: Location
    others: tuple[Article, ...] = ()
    update_of: str | None = None

    @property
    def outlets(self) -> tuple[tuple[str, str], ...]:
        """(outlet, link) for every other outlet of the story, once each, the face's left out.
        Outlets known only from near-copy folding have no link ("")."""
        found: dict[str, str] = {name: "" for name in self.article.also_reported_by}
        for other in self.others:
            if not found.get(other.source):
                found[other.source] = other.url
            for name in other.also_reported_by:
                found.setdefault(name, "")
        found.pop(self.article.source, None)
        return tuple(found.items())


@dataclass(frozen=True)
class Section:
    region: str
    items: tuple[DigestItem, ...]

    @property
    def anchor(self) -> str:
        return "region-" + "".join(c.lower() if c.isalnum() else "-" for c in self.region).strip("-")


@dataclass
class EditionStats:
    sources: int = 0
    sources_failed: int = 0
    articles_collected: int = 0
    articles_in_window: int = 0
    articles_without_text: int = 0
    errors: list[SourceError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Edition:
    """A built digest: sections in the configured region order, empty ones left out."""

    title: str
    date: date
    created: datetime
    sections: tuple[Section, ...]
    stats: EditionStats
    id: str = ""  # the edition's id in the store and ledger; empty means its date (YYYY-MM-DD)

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.date.isoformat())

    @property
    def items(self) -> list[DigestItem]:
        return [item for section in self.sections for item in section.items]

    def for_regions(self, regions: frozenset[str] | None) -> Edition:
        """The same edition narrowed to a subscriber's regions (None means all)."""
        if regions is None:
            return self
        kept = tuple(s for s in self.sections if s.region in regions)
        return Edition(self.title, self.date, self.created, kept, self.stats, self.id)


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str | None = None
    regions: frozenset[str] | None = None  # None: every region
    id: int | None = None  # the store's id, once stored

    @property
    def segment(self) -> frozenset[str] | None:
        return self.regions


@dataclass
class RunReport:
    """What one run of the daily job produced, for the CLI's closing table and artifacts."""

    edition_id: str
    html_path: str | None
    articles_per_region: dict[str, int]
    errors: list[SourceError]
    messages: list[str] = field(default_factory=list)  # .eml paths written or addresses sent to
    held: bool = False
    held_reasons: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # How delivery ended: sent | partial | deferred (see digest.store.ledger.edition_status), None if
    # nothing was delivered (a dry run, or held); with the line saying why it stopped short.
    delivery: str | None = None
    delivery_problem: str | None = None
    uncertain: int = 0  # messages a crashed run left mid-transaction, sent again (same Message-ID)
    unfinished: list[str] = field(default_factory=list)  # earlier editions still partial or deferred
