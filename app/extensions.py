"""Flask extensions, created once here and bound to the app in init_app(). Import them from here."""
import sqlite3

from flask import request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

from app.netaddr import client_ip

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_ip)
# Blueprints that use no login, no cookie session, no CSRF token and no rate limit: the tracking
# hot path. Their requests skip the request hooks of Flask-Login, CSRFProtect and Flask-Limiter
# (~100 µs per hit, mostly Flask-Limiter resolving that no limit applies). Not the API
# families: their routes may get limits of their own.
HOOKLESS_BLUEPRINTS = frozenset({"tracking"})


def init_app(app):
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    _init_skipping_hookless(app, login_manager.init_app)
    login_manager.login_view = "ui.login"
    login_manager.login_message = None
    # "basic": a changed IP/User-Agent marks the session non-fresh instead of ending it, so
    # users on mobile networks are not logged out; password changes end sessions (auth.py).
    login_manager.session_protection = "basic"
    _init_skipping_hookless(app, csrf.init_app)
    # Flask-Limiter keeps the first app's key prefix forever; Ibex may build several apps in
    # one process (tests, CLI tools), each with its own prefix.
    limiter._key_prefix = app.config["RATELIMIT_KEY_PREFIX"]
    _init_skipping_hookless(app, limiter.init_app)
    from app import ingest  # imported here: it depends on the models, which import db
    ingest.init_app(app)


def _init_skipping_hookless(app, init_app):
    """init_app(app), with the app-wide request hooks it adds skipped for HOOKLESS_BLUEPRINTS.
    (Limiter.request_filter, for one, would still run most of its hook to find no limit.)"""
    registries = {"before": app.before_request_funcs, "after": app.after_request_funcs,
                  "teardown": app.teardown_request_funcs}
    existing = {kind: list(hooks.get(None, ())) for kind, hooks in registries.items()}
    init_app(app)
    for kind, hooks in registries.items():
        if None in hooks:
            hooks[None] = [hook if hook in existing[kind] else _skip_hookless(kind, hook)
                           for hook in hooks[None]]


def _skip_hookless(kind, hook):
    if kind == "after":
        def guarded(response):
            return response if request.blueprint in HOOKLESS_BLUEPRINTS else hook(response)
    elif kind == "teardown":
        def guarded(exc=None):
            if request.blueprint not in HOOKLESS_BLUEPRINTS:
                hook(exc)
    else:
        def guarded():
            if request.blueprint not in HOOKLESS_BLUEPRINTS:
                return hook()
    guarded.skipped_for_hookless = hook
    return guarded


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """WAL for concurrent readers during writes; enforce foreign keys like PostgreSQL does."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
