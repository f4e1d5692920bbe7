"""Per-source state: conditional-GET validators and the last outcome of each feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from digest.store.schema import SourceState, as_utc


def get_source_state(engine: Engine, name: str, url: str) -> SourceState | None:
    """The conditional-GET state of a source, unless its URL has changed since."""
    with Session(engine, expire_on_commit=False) as session:
        state = session.get(SourceState, name)
    return state if state is not None and state.url == url else None


def save_source_state(engine: Engine, name: str, url: str, *, now: datetime, **fields: str | None) -> None:
    """Update a source's state: any of etag, last_modified, status, error."""
    columns = {"etag": "etag", "last_modified": "last_modified", "status": "last_status", "error": "last_error"}
    with Session(engine) as session, session.begin():
        state = session.get(SourceState, name)
        if state is None:
            state = SourceState(name=name, url=url)
            session.add(state)
        elif state.url != url:
            state.url, state.etag, state.last_modified = url, None, None
        for key, value in fields.items():
            setattr(state, columns[key], value)
        state.last_fetched = as_utc(now)
