"""Test sends (proofs): one subscriber's message for an edition, sent to one address.

The edition is rebuilt from the store (the articles the run selected, or, before the run,
those collected so far, e.g. by `digest preview`) with the same summaries, regions and
templates, and the subscriber's message is built by `message.build_mime` exactly as the run
would build it: same headers, same links, same DKIM signature. Only the envelope differs: it
goes to the test address (or to `outbox/test/`). Nothing is written to the delivery ledger,
so the real run still sends the subscriber their copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from digest.config import Config
from digest.credentials import Secrets
from digest.deliver import DeliveryError, send_one, transport_for
from digest.errors import DigestError
from digest.store.ledger import OUTBOX
from digest.gazetteer import Gazetteer
from digest.message import build_mime
from digest.models import Edition, Subscriber
from digest.pipeline import build_from_store, plan_edition
from digest.regions import load_region_table
from digest.store import find_subscriber
from digest.store.history import edition_created
from digest.subscribers import normalize_email, sync_from_config


class ProofError(DigestError):
    """The test message cannot be built or sent (the message says why and for whom)."""


@dataclass(frozen=True)
class Proof:
    subscriber: Subscriber
    to: str
    edition_id: str
    stories: int
    where: str  # the outbox file, or "host:port"


def rebuild_edition(engine: Engine, config: Config, edition_date: date, gazetteer: Gazetteer) -> Edition:
    """The edition of `edition_date` as the run builds it, from the articles in the store.

    Records nothing: an edition not yet run keeps its window open for the real run.
    """
    created = edition_created(engine, edition_date.isoformat()) or datetime.now(UTC)
    table = load_region_table(config.edition.region_table)
    plan = plan_edition(config, table, edition_date, now=created)
    edition, _, _ = build_from_store(engine, plan, config, table, gazetteer, record=False)
    return edition


def _subscriber(engine: Engine, address: str) -> Subscriber:
    row = find_subscriber(engine, address)
    if row is None:
        raise ProofError(f"{address} is not a subscriber; pass --as SUBSCRIBER to send "
                         "that subscriber's message to this address")
    return row.as_subscriber()


def send_proof(engine: Engine, config: Config, secrets: Secrets, to: str, *, as_subscriber: str | None = None,
               edition_date: date, gazetteer: Gazetteer) -> Proof:
    """Build `as_subscriber`'s message (default: the address's own) and send it to `to`,
    with `secrets` resolved at the edge."""
    sync_from_config(engine, config)  # as the run does first: the config's subscribers count too
    try:
        to = normalize_email(to)
        subscriber = _subscriber(engine, normalize_email(as_subscriber or to))
    except ValueError as exc:  # SubscriberError: not an address
        raise ProofError(str(exc)) from exc
    edition = rebuild_edition(engine, config, edition_date, gazetteer)
    edition_id = edition.id
    problems: list[str] = []
    try:
        built = list(build_mime(edition, edition_id, [subscriber], config, secrets,
                                on_error=lambda _s, exc: problems.append(str(exc))))
    except (RuntimeError, ValueError) as exc:  # no signing secret, bad DKIM key, bad subject pattern
        raise ProofError(f"no message for {subscriber.email}: {exc}") from exc
    if not built:
        why = "; ".join(problems) or "none of their regions has a story and mail.quiet_day = \"skip\""
        raise ProofError(f"{subscriber.email} gets no message for {edition_id}: {why}")
    _, raw = built[0]
    stories = len(edition.for_regions(subscriber.regions).items)
    transport = transport_for(config, secrets, config.outbox_dir / "test")
    try:
        where = send_one(transport, raw, to=Subscriber(to), edition_id=edition_id)
    except DeliveryError as exc:
        raise ProofError(f"the test message: {exc}") from exc
    return Proof(subscriber, to, edition_id, stories, where if transport.taken == OUTBOX else transport.name)
