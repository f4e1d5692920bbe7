"""Two confirmations of one subscription at the same time (a double click, two tabs): the
subscriber becomes active once and is welcomed once, on SQLite and PostgreSQL.

The two requests go through the real app, each on its own client, against the real store.
To make them overlap every time, each request's UPDATE of the subscriber row is held (by an
engine event, up to two seconds) until the other request has reached its own: both have
read the subscriber as pending by then, as two truly simultaneous requests would have.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import event

from test_web import app_for, config, csrf_of, emails, link_in, row, subscribe  # noqa: F401 - config is a fixture


def test_two_confirmations_at_once_make_one_welcome(config, engine):  # noqa: F811 - the fixture
    subscribe(TestClient(app_for(config, engine)), "ana@example.org", ["Europe"], name="Ana")
    confirm = link_in(emails(config, "Confirm")[-1], "confirm")
    clients = [TestClient(app_for(config, engine)) for _ in range(2)]
    forms = [{"csrf": csrf_of(client.get(confirm).text)} for client in clients]

    both_there = threading.Barrier(2)

    def hold_until_both_update(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if statement.lstrip().upper().startswith("UPDATE SUBSCRIBERS"):
            try:
                both_there.wait(timeout=2)
            except threading.BrokenBarrierError:
                pass  # the other request wrote nothing: nothing to overlap with

    event.listen(engine, "before_cursor_execute", hold_until_both_update)
    try:
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(lambda pair: pair[0].post(confirm, data=pair[1], follow_redirects=False),
                                      zip(clients, forms, strict=True)))
    finally:
        event.remove(engine, "before_cursor_execute", hold_until_both_update)

    assert [r.status_code for r in responses] == [303, 303]
    assert row(engine, "ana@example.org").status == "active"
    assert len(emails(config, "Welcome")) == 1
