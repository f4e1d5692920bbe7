"""Persistence: the one owner of the database. Every other module reads and writes through it.

`schema` has the table rows and the engine; `articles`, `sources`, `editions` and `archive`
the queries of collection, conditional GET, edition windows and the public archive;
`subscribers` the subscriber rows and every change to them; `history` past editions with
their ledger counts, `ledger` the delivery ledger and `returns` returned mail in it (these three
imported as `digest.store.history`, `.ledger`, `.returns`); `migrate` the Alembic migrations
and `open_store`. `Engine` is the store's handle, what `open_store` returns and the store's
functions take: other modules name it from here, so that only the store knows SQLAlchemy.
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
    Engine,
    SubscriberRow,
    make_engine,
)
from digest.store.migrate import open_store
from digest.store.sources import get_source_state, save_source_state
from digest.store.subscribers import (
    Choices,
    Confirmation,
    SubscriberRecord,
    add_subscribers,
    confirm_subscriber,
    find_subscriber,
    forget_subscriber,
    get_subscriber,
    list_subscribers,
    reactivate_subscriber,
    set_preferences,
    set_subscriber_status,
)

__all__ = [
    "ArchivedEdition", "ArchivedStory", "ArticleRow", "Base", "Choices", "Confirmation", "DeliveryRow",
    "EditionArticle", "EditionRow", "Engine", "SourceState", "SubscriberRecord", "SubscriberRow",
    "add_subscribers", "confirm_subscriber", "find_subscriber", "forget_subscriber", "get_source_state",
    "get_subscriber", "known_articles", "list_subscribers", "make_engine", "open_store", "raw_page",
    "reactivate_subscriber", "record_articles", "save_edition", "save_source_state", "select_edition",
    "sent_articles", "sent_edition", "sent_editions", "set_preferences", "set_subscriber_status",
]
