"""The store's edition bookkeeping: what a preview may and may not change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from digest.models import Article
from digest.store import make_engine, record_articles, save_edition, select_edition

EDITION_TIME = datetime(2017, 10, 18, 6, tzinfo=UTC)


def story(n: int, published: datetime) -> Article:
    return Article(url=f"https://news.example.org/{n}", title=f"Story {n}", text=f"Text of story {n}.",
                   source="Example News", published=published)


def test_a_preview_does_not_freeze_the_edition_it_previews(engine):
    record_articles(engine, [story(1, EDITION_TIME - timedelta(hours=5))], EDITION_TIME - timedelta(hours=4))
    early, _, _ = select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36, record=False)
    # A story published after the preview but before the edition time still makes the edition.
    record_articles(engine, [story(2, EDITION_TIME - timedelta(hours=1))], EDITION_TIME - timedelta(minutes=30))
    real, _, _ = select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)
    assert [a.title for a in early] == ["Story 1"]
    assert sorted(a.title for a in real) == ["Story 1", "Story 2"]


def test_a_preview_leaves_the_next_editions_window_alone(engine):
    select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36, record=False)
    _, since, _ = select_edition(engine, "2017-10-19", EDITION_TIME + timedelta(days=1), 24, 36)
    assert since == EDITION_TIME  # 24 hours back, as for a first edition: the preview left no trace


def test_saving_the_outcome_of_an_edition_never_selected_is_an_error(engine):
    with pytest.raises(LookupError, match="2017-10-18"):
        save_edition(engine, "2017-10-18", status="sent", html_path="x.html", stats={})


def test_a_migration_that_fails_halfway_leaves_nothing_behind(store_url):
    migrations = make_engine(store_url, transactional_ddl=True)
    with pytest.raises(RuntimeError), migrations.begin() as conn:
        conn.execute(text("CREATE TABLE _half_made (x INTEGER)"))
        raise RuntimeError("a migration step failed")
    assert "_half_made" not in inspect(migrations).get_table_names()
    migrations.dispose()


def test_stores_brought_up_to_date_from_several_threads_at_once_all_get_every_table(tmp_path):
    # Two flow runs in threads of one process (tests, a served deployment) migrate at the same time.
    import threading

    from digest.store import open_store

    urls = [f"sqlite:///{tmp_path / f'store-{n}.db'}" for n in range(6)]
    errors: list[Exception] = []

    def bring_up(url: str) -> None:
        try:
            open_store(url).dispose()
        except Exception as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=bring_up, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for url in urls:
        engine = make_engine(url)
        assert "deliveries" in inspect(engine).get_table_names()
        engine.dispose()


def test_an_edition_of_many_articles_is_recorded_whole_and_rebuilt_the_same(engine):
    seen = EDITION_TIME - timedelta(hours=2)
    record_articles(engine, [story(n, EDITION_TIME - timedelta(minutes=n)) for n in range(1, 1201)], seen)
    chosen, _, _ = select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)
    rebuilt, _, _ = select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)
    assert len(chosen) == 1200 and [a.url for a in rebuilt] == [a.url for a in chosen]
    assert chosen[0].title == "Story 1"  # newest first
    following, _, _ = select_edition(engine, "2017-10-19", EDITION_TIME + timedelta(days=1), 24, 36)
    assert following == []  # every one of them belongs to the first edition


def test_an_edition_with_no_articles_is_recorded_and_rebuilt_empty(engine):
    assert select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)[0] == []
    record_articles(engine, [story(1, EDITION_TIME - timedelta(hours=1))], EDITION_TIME - timedelta(minutes=30))
    assert select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)[0] == []  # the recorded edition holds


def test_selecting_an_edition_leaves_the_raw_pages_in_the_store(engine):
    from sqlalchemy import event

    from digest.store import raw_page

    article = story(1, EDITION_TIME - timedelta(hours=1))
    record_articles(engine, [article], EDITION_TIME - timedelta(minutes=30), raw_html={article.url: b"<p>page</p>" * 1000})
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))
    chosen, _, _ = select_edition(engine, "2017-10-18", EDITION_TIME, 24, 36)
    assert [a.url for a in chosen] == [article.url]
    assert statements and not any("raw_html" in sql for sql in statements)
    assert raw_page(engine, article.url) == b"<p>page</p>" * 1000
