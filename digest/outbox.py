"""The outbox as a delivery transport: one .eml file per message in a folder, no SMTP.

Files are named by edition and recipient and replaced atomically, so a rerun rewrites rather
than duplicates. The ledger records such a message as `outbox`, not `sent`: a later SMTP run
of the edition still mails it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from digest.store.ledger import OUTBOX
from digest.models import Subscriber
from digest.transport import FATAL, TAKEN, Envelope, Policy, Verdict


def outbox_name(subscriber: Subscriber, edition_id: str | None = None) -> str:
    """File name of a subscriber's message: the same for a rerun of the same edition."""
    slug = re.sub(r"[^a-z0-9]+", "-", subscriber.email.lower()).strip("-")
    key = f"{subscriber.id:06d}-{slug}" if subscriber.id is not None else slug
    return f"{edition_id}-{key}.eml" if edition_id else f"{key}.eml"


class OutboxChannel:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self) -> Verdict | None:
        return None

    def send(self, envelope: Envelope) -> Verdict:
        path = self.folder / outbox_name(envelope.to, envelope.edition_id)
        tmp = path.with_name(path.name + ".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(envelope.raw)
            os.replace(tmp, path)
        except OSError as exc:
            return Verdict(FATAL, f"writing {path}: {exc.strerror or exc}")  # a full disk stays full
        return Verdict(TAKEN, where=str(path))

    def send_batch(self, envelopes: Sequence[Envelope], following: Envelope | None = None) -> Iterator[Verdict]:
        return (self.send(envelope) for envelope in envelopes)

    def close(self) -> None:
        pass


class OutboxTransport:
    """A folder of .eml files (the embedded default when no SMTP server is configured)."""

    taken = OUTBOX
    connections = 1
    policy = Policy()

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = str(folder)

    def channel(self) -> OutboxChannel:
        return OutboxChannel(self.folder)
