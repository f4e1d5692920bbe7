"""An operator's folder as `digest init` writes it, with the sample corpus collected into its store.

No Prefect: the library's own collection fills the store, as the flow's collect tasks do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from digest.pipeline import collect_all
from digest.config import Config
from digest.config_file import load_config
from digest.starter import SAMPLE_DATE, write_starter
from digest.store import open_store

EDITION_DATE = date.fromisoformat(SAMPLE_DATE)


def sample_folder(directory: Path, **overrides: object) -> tuple[Config, Engine]:
    """`digest init DIRECTORY`, then the sample sources collected into its SQLite store."""
    starter = write_starter(directory)
    config = load_config(starter.config).model_copy(update=overrides)
    engine = open_store(config.store_url)
    results = collect_all(engine, config, now=datetime.now(UTC))
    assert not any(r.failed for r in results), [r.errors for r in results]
    return config, engine
