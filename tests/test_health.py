"""GET /healthz: 200 with every check's figures when the database (and Redis, when configured)
answer, on the embedded default and with a real Redis; 503 naming what failed, never how it
was reached, when the database or Redis is down or hangs; the buffer's backlog; no session."""
import socket
import time

import pytest

from app.extensions import db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from tests.conftest import IsolatedClient, make_app


def closed_port():
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(app, path="/healthz", **kwargs):
    app.test_client_class = IsolatedClient
    with app.app_context():  # the client's session cleanup after the request needs one
        return app.test_client().get(path, **kwargs)


def push(count, created_at=None):
    ingest().push(*(HitIn(site_id=1, path=f"/p{i}", created_at=created_at or time.time())
                    for i in range(count)))


def test_embedded_default_is_ok(client, database_url):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    report = response.get_json()
    assert list(report) == ["status", "database", "redis", "buffer", "jobs"]
    assert report["status"] == "ok"
    database = report["database"]
    assert database["status"] == "ok" and database["ms"] >= 0
    assert database["backend"] == database_url.partition(":")[0]
    # The test database is built by create_all, not by migrations: no revision recorded.
    assert (database["revision"], database["migrations"]) == (None, "none")
    assert database["head"]
    assert report["redis"] == {"status": "unused", "message": "embedded mode: REDIS_URL is not set"}
    assert report["buffer"] == {"status": "ok", "backlog": 0, "batches": None,
                                "stale_batches": None, "oldest_seconds": None}
    assert report["jobs"]["status"] == "unused"


def test_with_redis_is_ok_and_reports_queue_and_buffer(redis_app):
    response = get(redis_app)
    assert response.status_code == 200
    report = response.get_json()
    assert report["status"] == "ok" and report["database"]["status"] == "ok"
    assert report["redis"]["status"] == "ok" and report["redis"]["ms"] >= 0
    assert report["buffer"] == {"status": "ok", "backlog": 0, "batches": 0, "stale_batches": 0,
                                "oldest_seconds": None}
    assert report["jobs"] == {"status": "ok", "queued": 0, "workers": 0, "failed": 0}


def test_embedded_backlog_counts_hits_not_yet_persisted(client, site):
    push(3)
    assert client.get("/healthz").get_json()["buffer"]["backlog"] == 3
    push(2)
    assert client.get("/healthz").get_json()["buffer"]["backlog"] == 5
    ingest().flush()
    assert client.get("/healthz").get_json()["buffer"]["backlog"] == 0


def test_redis_backlog_counts_queued_and_claimed_hits_and_the_oldest_age(redis_app, site):
    push(2, created_at=time.time() - 120)
    push(3)
    buffer = get(redis_app).get_json()["buffer"]
    assert buffer["backlog"] == 5 and buffer["batches"] == 0
    assert 119 <= buffer["oldest_seconds"] <= 180
    batch = ingest().buffer.claim(2)  # a worker took the two old hits and is persisting them
    buffer = get(redis_app).get_json()["buffer"]
    assert (buffer["backlog"], buffer["batches"], buffer["stale_batches"]) == (5, 1, 0)
    assert 119 <= buffer["oldest_seconds"] <= 180
    ingest().buffer.release(batch)  # it failed: left for a retry, which counts as stale
    assert get(redis_app).get_json()["buffer"]["stale_batches"] == 1
    ingest().flush()
    buffer = get(redis_app).get_json()["buffer"]
    assert (buffer["backlog"], buffer["batches"], buffer["oldest_seconds"]) == (0, 0, None)


def test_redis_jobs_counts_queued_jobs(redis_app):
    from app.jobs import enqueue
    enqueue(print, "queued by the health test", job_id="health-test")
    assert get(redis_app).get_json()["jobs"]["queued"] == 1


@pytest.mark.parametrize("url", [
    "postgresql://ibex:db-password@127.0.0.1:{port}/ibex",
    "sqlite:///{tmp}/no/such/directory/ibex.db",
])
def test_unreachable_database_is_503(url, tmp_path):
    port = closed_port()
    broken = make_app(url.format(port=port, tmp=tmp_path), tmp_path)
    response = get(broken)
    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "fail"
    assert report["database"] == {"status": "fail", "error":
                                  "the database did not answer (OperationalError)"}
    assert report["buffer"]["status"] == "ok"  # the other checks still report
    body = response.get_data(as_text=True)
    for secret in ("db-password", "ibex:", str(port), "no/such", "Traceback", "127.0.0.1"):
        assert secret not in body
    dispose(broken)


def dispose(app):
    with app.app_context():
        db.engine.dispose()


def test_unreachable_redis_is_503_and_skips_what_needs_it(tmp_path):
    port = closed_port()
    broken = make_app(f"sqlite:///{tmp_path}/ibex.db", tmp_path,
                      REDIS_URL=f"redis://:redis-password@127.0.0.1:{port}/0")
    response = get(broken)
    assert response.status_code == 503
    report = response.get_json()
    assert report["status"] == "fail" and report["database"]["status"] == "ok"
    assert report["redis"] == {"status": "fail", "error": "Redis did not answer (ConnectionError)"}
    assert report["buffer"] == report["jobs"] == {"status": "fail",
                                                  "error": "skipped: Redis did not answer"}
    body = response.get_data(as_text=True)
    assert "redis-password" not in body and str(port) not in body
    dispose(broken)


def test_a_hanging_redis_fails_the_check_within_two_seconds(tmp_path):
    """A server that accepts connections and never answers (a wedged Redis, a black hole)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hung = make_app(f"sqlite:///{tmp_path}/ibex.db", tmp_path,
                        REDIS_URL=f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        response = get(hung)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.get_json()["redis"]["error"] == "Redis did not answer (TimeoutError)"
    assert elapsed < 2.0
    dispose(hung)


def test_no_session_cookie_is_read_or_written(client):
    client.set_cookie("session", "anything")
    response = client.get("/healthz")
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    # A path with the cookie session (no login needed) does vary on it.
    assert "Cookie" in client.get("/status").headers.get("Vary", "")


def test_failures_are_logged_for_the_operator(tmp_path, caplog):
    port = closed_port()
    broken = make_app(f"postgresql://ibex@127.0.0.1:{port}/ibex", tmp_path)
    get(broken)
    (record,) = [r for r in caplog.records if r.name == "ibex.health"]
    assert record.levelname == "WARNING" and "OperationalError" in record.getMessage()
    dispose(broken)
