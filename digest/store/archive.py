"""The public archive: the editions that went out, as the web app shows them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.models import EditionStatus
from digest.store.schema import EditionRow, as_utc


@dataclass(frozen=True)
class ArchivedStory:
    title: str
    url: str
    source: str
    summary: tuple[str, ...] = ()
    update: bool = False  # the story went out before and came back with news


@dataclass(frozen=True)
class ArchivedEdition:
    """An edition that went out, as the archive shows it. `sections` is empty for editions
    stored before their stories were kept with them: only their email's HTML file is left."""

    id: str
    title: str
    until: datetime
    html_path: str | None
    sections: tuple[tuple[str, tuple[ArchivedStory, ...]], ...]
    stories: int

    @property
    def leads(self) -> list[ArchivedStory]:
        """The first story of each section, in section order: the edition's top headlines."""
        return [stories[0] for _, stories in self.sections if stories]


def _archived(row: EditionRow) -> ArchivedEdition:
    stats = row.stats or {}
    sections = tuple(
        (section["region"], tuple(ArchivedStory(s["title"], s["url"], s["source"], tuple(s.get("summary") or ()),
                                                bool(s.get("update"))) for s in section["stories"]))
        for section in stats.get("sections") or [])
    stories = (sum(len(items) for _, items in sections) or sum((stats.get("regions") or {}).values())
               or stats.get("articles_in_window") or 0)
    return ArchivedEdition(row.id, row.title, as_utc(row.until), row.html_path, sections, stories)


def _readable(edition: ArchivedEdition) -> bool:
    return bool(edition.sections) or bool(edition.html_path and Path(edition.html_path).is_file())


def sent_editions(engine: Engine, limit: int | None = None, skip: int = 0) -> list[ArchivedEdition]:
    """Editions that went out and can still be shown, newest first, after the first `skip` of
    them. Only what was sent is public: built editions are dry runs and previews, held ones
    were stopped."""
    with Session(engine) as session:
        rows = session.scalars(select(EditionRow).where(EditionRow.status == EditionStatus.SENT)
                               .order_by(EditionRow.until.desc()).execution_options(yield_per=100))
        found = (e for e in map(_archived, rows) if _readable(e))
        return list(itertools.islice(found, skip, None if limit is None else skip + limit))


def sent_edition(engine: Engine, edition_id: str) -> ArchivedEdition | None:
    """One edition of the archive, or None when it was not sent or nothing of it is left."""
    with Session(engine) as session:
        row = session.get(EditionRow, edition_id)
        edition = _archived(row) if row is not None and row.status == EditionStatus.SENT else None
    return edition if edition is not None and _readable(edition) else None
