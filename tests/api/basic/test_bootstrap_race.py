"""The bootstrap rule under real concurrency: two app instances (as two gunicorn nodes would
be) on one database receive the first credential-less POST /api/tokens/generate at the same
moment, from two threads. Exactly one may succeed."""
import sqlite3
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import delete, select

from app import accounts
from app.extensions import db as _db
from app.models import ApiToken, AppState
from tests.conftest import make_app


@pytest.fixture
def two_apps(app, database_url, tmp_path, superuser):
    apps = [make_app(database_url, tmp_path / f"node{n}") for n in range(2)]
    yield apps
    for other in apps:
        with other.app_context():
            _db.engine.dispose()


def race(apps):
    """Both apps answer one credential-less generate call each, started together."""
    barrier, results = threading.Barrier(len(apps)), [None] * len(apps)

    def call(index):
        client = apps[index].test_client()
        barrier.wait()
        response = client.post("/api/tokens/generate")
        results[index] = (response.status_code, response.json)
    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(apps))]
    for thread in threads:
        thread.start()
    return threads, results


@contextmanager
def writes_held(database_url):
    """Hold the database so both requests get past their "no active token" check and then
    wait at the one write that decides (the AppState claim); yields a function that waits
    until both are waiting there (on PostgreSQL: seen in pg_stat_activity)."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the write lock; readers go on (WAL)
        try:
            yield lambda count: time.sleep(0.5)
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    conn = psycopg.connect(database_url)
    conn.execute("LOCK TABLE app_state IN SHARE MODE")  # blocks inserts, not reads
    watcher = psycopg.connect(database_url, autocommit=True)

    def wait_for(count):
        deadline = time.monotonic() + 10
        while watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%%app_state%%'").fetchone()[0] \
                < count:
            assert time.monotonic() < deadline, "the requests never reached the claim"
            time.sleep(0.02)
    try:
        yield wait_for
    finally:
        conn.commit()
        conn.close()
        watcher.close()


def outcome(results):
    statuses = sorted(status for status, _body in results)
    assert statuses == [200, 401], results
    winner = next(body for status, body in results if status == 200)
    loser = next(body for status, body in results if status == 401)
    assert loser == {"error": "unauthorized"}
    return winner


def test_two_concurrent_first_calls_cannot_both_succeed(db, two_apps, database_url):
    with writes_held(database_url) as wait_for:
        threads, results = race(two_apps)
        wait_for(2)  # both requests passed the check and wait to claim
    for thread in threads:
        thread.join(timeout=30)
    winner = outcome(results)
    tokens = db.session.scalars(select(ApiToken)).all()
    assert [token.id for token in tokens] == [winner["id"]]
    assert tokens[0].secret_hash == ApiToken.hash_secret(winner["token"])
    assert db.session.get(AppState, accounts.BOOTSTRAP_TOKEN) is not None


def test_repeated_unsynchronised_races_never_issue_two(db, two_apps):
    for _round in range(5):
        threads, results = race(two_apps)
        for thread in threads:
            thread.join(timeout=30)
        outcome(results)
        assert len(db.session.scalars(select(ApiToken)).all()) == 1
        db.session.execute(delete(ApiToken))
        db.session.execute(delete(AppState))
        db.session.commit()
