"""Persistence: the one owner of the database. Every other module reads and writes through it.

`schema` has the table rows and the engine; `articles`, `sources`, `editions` and `archive`
the queries of collection, conditional GET, edition windows and the public archive;
`ledger` the delivery ledger (imported as `digest.store.ledger`); `migrate` the Alembic
migrations and `open_store`.
"""

from digest.store.archive import (
    ArchivedEdition,
    ArchivedStory,
    sent_edition,
    sent_editions,
)
from digest.store.articles import known_articles, raw_page, record_articles
from digest.store.editions import save_edition, select_edition, sent_articles
from digest.store.schema import (
    ArticleRow,
    Base,
    DeliveryRow,
    EditionArticle,
    EditionRow,
    SourceState,
    SubscriberRow,
    make_engine,
)
from digest.store.migrate import open_store
from digest.store.sources import get_source_state, save_source_state

__all__ = [
    "ArchivedEdition", "ArchivedStory", "ArticleRow", "Base", "DeliveryRow", "EditionArticle", "EditionRow",
    "SourceState", "SubscriberRow", "get_source_state", "known_articles", "make_engine", "open_store", "raw_page",
    "record_articles", "save_edition", "save_source_state", "select_edition", "sent_articles", "sent_edition",
    "sent_editions",
]
