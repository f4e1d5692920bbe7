"""Schema migrations (Alembic), runnable from the installed package: `upgrade(url)`, and
`open_store`, an engine on a database brought up to date.

A database made by `create_all` before migrations existed has every table but no version
stamp; it is stamped as the first revision and then upgraded.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, inspect

from digest.store.schema import Base, make_engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
FIRST_REVISION = "0001"
# Alembic binds its `context` and `op` module-wide while it runs: two upgrades in one process at
# once (two flow runs in threads) would run each other's migrations. One at a time.
_ALEMBIC = threading.Lock()


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: the newest)."""
    config = alembic_config(url)
    engine = make_engine(url, transactional_ddl=True)
    try:
        with _ALEMBIC, engine.begin() as conn:
            config.attributes["connection"] = conn
            tables = set(inspect(conn).get_table_names())
            if "alembic_version" not in tables and set(Base.metadata.tables) <= tables:
                command.stamp(config, FIRST_REVISION)
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def open_store(url: str) -> Engine:
    """An engine on a database brought up to date by the Alembic migrations."""
    upgrade(url)
    return make_engine(url)
