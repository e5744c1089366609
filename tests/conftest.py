"""Shared fixtures. Database-backed tests run once on SQLite and once on a fresh PostgreSQL
database (created for this run, dropped afterwards); Redis-backed tests use a real Redis with
their own key prefix, cleaned up. A missing service fails the run, it never skips."""
import contextvars
import os
import uuid

import psycopg
import pytest
import redis as redis_lib
from flask.testing import FlaskClient
from sqlalchemy import text

import config
from app import accounts, create_app
from app.extensions import db as _db

PG_ADMIN_URL = os.environ.get("IBEX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("IBEX_TEST_REDIS", "redis://127.0.0.1:6379/15")
BACKENDS = [b for b in os.environ.get("IBEX_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
PASSWORD = "correct horse battery"


def _pg_admin():
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); run `make test`, "
                    "which starts it, or start it yourself.", pytrace=False)


def new_pg_database():
    """Create an empty PostgreSQL database; returns (url, drop) where drop() removes it."""
    admin = _pg_admin()
    name = f"ibex_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    def drop():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return f"{base}/{name}", drop


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """A database with Ibex's schema, one per backend for the whole run."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "ibex-test.db")
        drop = None
    else:
        url, drop = new_pg_database()
    app = create_app(config.TestingConfig(env={"DATABASE_URL": url}))
    with app.app_context():
        _db.create_all()
        _db.engine.dispose()
    yield url
    if drop:
        drop()


def make_app(database_url, tmp_path, **env):
    """A fresh app on ``database_url`` with TestingConfig plus ``env`` overrides."""
    settings = {"DATABASE_URL": database_url, "IBEX_INSTANCE_DIR": str(tmp_path / "instance")}
    settings.update(env)
    return create_app(config.TestingConfig(env=settings))


def _empty_tables():
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None


def _has_sqlite_sequence(conn):
    return conn.execute(text(
        "SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first() is not None


@pytest.fixture
def app(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh contextvars context, so Flask pushes a new application
    context per request, as in production. Without it the test's long-lived app context is
    reused: ``g`` (Flask-Login's cached user) and the database session would leak from one
    request, or one client, to the next. Afterwards the test's own session ends its
    transaction, so objects the test holds reload what the request committed."""

    def open(self, *args, **kwargs):
        response = contextvars.Context().run(super().open, *args, **kwargs)
        _db.session.rollback()
        return response


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def new_client(app):
    """Factory for further, independent clients (another browser), optionally from another
    address: new_client(REMOTE_ADDR="192.0.2.1")."""
    def make(**environ_base):
        app.test_client_class = IsolatedClient
        client = app.test_client()
        client.environ_base.update(environ_base)
        return client
    return make


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def user(app):
    """An admin (role a)."""
    return accounts.create_user("alice", PASSWORD, email="alice@example.org", role="a")


@pytest.fixture
def superuser(app):
    return accounts.create_user("root", PASSWORD, role="*")


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def logged_in(client, user):
    response = login(client, user.username)
    assert response.status_code == 302, response.data
    return client


@pytest.fixture
def site(app):
    return accounts.create_site("example.com", name="Example")


@pytest.fixture
def api_token(user, site):
    """An all-permission token of ``user``; the one-time secret is on ``.secret``."""
    token, secret = accounts.create_token(user, "test token")
    token.secret = secret
    return token


@pytest.fixture
def store_hits(app):
    """Seed hits through the real pipeline: push HitIn records (or dicts of HitIn fields) to
    the buffer and run the persister. Returns the number of hits it handled."""
    from app.ingest import ingest
    from app.ingest.hit_in import HitIn

    def store(*hits):
        ingest().push(*(hit if isinstance(hit, HitIn) else HitIn(**hit) for hit in hits))
        handled = ingest().flush()
        _db.session.rollback()  # the persister committed in its own session: reload from it
        return handled
    return store


@pytest.fixture
def redis_url():
    """A real Redis (DB 15) and a key prefix of this test's own; its keys are deleted after."""
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis_lib.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); run `make test`, which "
                    "starts it.", pytrace=False)
    prefix = f"ibex-test-{uuid.uuid4().hex[:10]}"
    yield REDIS_URL, prefix
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def redis_app(app, redis_url, database_url, tmp_path):
    """An app on the test database whose hit buffer and jobs live in the real Redis (this
    test's own key prefix): production mode, with its app context pushed."""
    url, prefix = redis_url
    production = make_app(database_url, tmp_path, REDIS_URL=url, REDIS_PREFIX=prefix)
    with production.app_context():
        yield production
        _db.session.remove()


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    """The URL of an empty database (no schema), on each backend; dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
    else:
        url, drop = new_pg_database()
        yield url
        drop()
