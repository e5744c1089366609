"""GET /healthz for load balancers and monitoring: the database, Redis, the hit buffer's backlog
and the job queue, 200 when the database (and Redis, when configured) answer, else 503. No
authentication and no session; failures are named, never detailed (no URLs, no tracebacks)."""
import json
import logging
import os
import time

from flask import Blueprint, current_app
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("ibex.health")
REDIS_TIMEOUT = 1.0  # seconds, to connect and per command: a dead Redis fails the check fast
OK, FAIL, UNUSED = "ok", "fail", "unused"


@bp.get("/healthz")
def healthz():
    report = check(current_app._get_current_object())
    # json.dumps keeps the report's order (jsonify sorts keys): the overall status first.
    return current_app.response_class(
        json.dumps(report) + "\n", status=200 if report["status"] == OK else 503,
        mimetype="application/json", headers={"Cache-Control": "no-store"})


def check(app):
    """The health report of ``app`` as a dict: ``status`` ("ok" or "fail") and one entry per
    check (database, redis, buffer, jobs), each with its own ``status`` ("ok", "fail" with an
    ``error`` text, or "unused" in the embedded default) and its figures (times in ms)."""
    report = {"status": OK, "database": check_database(app)}
    if app.config.get("REDIS_URL"):
        client = redis_client(app)
        report["redis"] = check_redis(client)
        if report["redis"]["status"] == OK:
            report["buffer"] = check_redis_buffer(app, client)
            report["jobs"] = check_rq_jobs(app, client)
        else:  # each would wait for the same dead server again
            report["buffer"] = report["jobs"] = _failed("skipped: Redis did not answer")
    else:
        report["redis"] = {"status": UNUSED, "message": "embedded mode: REDIS_URL is not set"}
        report["buffer"] = check_memory_buffer(app)
        report["jobs"] = {"status": UNUSED,
                          "message": "embedded mode: jobs run in a thread of the web process"}
    if any(entry["status"] == FAIL for entry in report.values() if isinstance(entry, dict)):
        report["status"] = FAIL
    return report


def check_database(app):
    """A round trip (``SELECT 1``, ms) and the migration revision against the code's head:
    ``migrations`` is "current", "behind" (run `flask db upgrade`), "unknown" (the database
    carries a revision this code does not know: a newer release migrated it) or "none" (no
    revision recorded)."""
    started = time.perf_counter()
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            elapsed = _ms(started)
            current = database_revisions(conn)
    except (SQLAlchemyError, OSError) as exc:
        return _failure("database", exc)
    heads = head_revisions(app)
    return {"status": OK, "ms": elapsed, "backend": db.engine.dialect.name,
            "revision": ",".join(sorted(current)) or None, "head": ",".join(sorted(heads)),
            "migrations": migration_state(app, current)}


def database_revisions(conn):
    """The revision(s) recorded in the database's alembic_version table; () when none (alembic's
    MigrationContext would do the same, with two INFO log lines per call)."""
    if not inspect(conn).has_table("alembic_version"):
        return ()
    return tuple(row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version"))


def migration_state(app, current):
    """"current", "behind", "unknown" or "none" for the database's ``current`` revisions."""
    if not current:
        return "none"
    if set(current) == set(head_revisions(app)):
        return "current"
    from alembic.util import CommandError
    script = _scripts(app)
    for revision in current:
        try:
            if script.get_revision(revision) is None:
                return "unknown"
        except CommandError:  # "Can't locate revision": not in this code's history
            return "unknown"
    return "behind"


def head_revisions(app):
    """The head revision(s) of the migrations shipped with this code (read once per app)."""
    state = _state(app)
    if "heads" not in state:
        state["heads"] = tuple(_scripts(app).get_heads())
    return state["heads"]


def _scripts(app):
    state = _state(app)
    if "scripts" not in state:
        from alembic.script import ScriptDirectory
        directory = app.extensions["migrate"].directory
        if not os.path.isabs(directory):  # Flask-Migrate's is relative to the repository root
            directory = os.path.join(os.path.dirname(app.root_path), directory)
        state["scripts"] = ScriptDirectory(directory)
    return state["scripts"]


def check_redis(client):
    """A PING round trip (ms)."""
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:  # redis-py's errors, OSError, a protocol error from a non-Redis
        return _failure("redis", exc)
    return {"status": OK, "ms": _ms(started)}


def check_redis_buffer(app, client):
    """Hits waiting in the Redis buffer (queued or in claimed batches), the claimed batches and
    how many of them are stale (released for a retry, or their worker went silent for
    BATCH_STALE_SECONDS), and the age in seconds of the oldest waiting hit by its own
    timestamp (a count-API hit may carry an older one than its arrival)."""
    from app.ingest.hit_in import HitIn
    buffer = _redis_buffer(app, client)
    try:
        backlog = buffer.backlog()
        stamps = client.hgetall(buffer.batches)
        pipe = client.pipeline()
        pipe.lindex(buffer.queue, 0)
        for batch_id in stamps:
            pipe.lindex(buffer.batch_prefix + _text(batch_id), 0)
        heads = [item for item in pipe.execute() if item is not None]
    except Exception as exc:
        return _failure("buffer", exc)
    now = time.time()
    stale_before = now - app.config["BATCH_STALE_SECONDS"]
    oldest = None
    for item in heads:
        try:
            created = HitIn.from_wire(item).created_at
        except Exception:  # not ours to judge here; the persister drops what it cannot read
            continue
        oldest = created if oldest is None else min(oldest, created)
    return {"status": OK, "backlog": backlog, "batches": len(stamps),
            "stale_batches": sum(float(stamp) <= stale_before for stamp in stamps.values()),
            "oldest_seconds": None if oldest is None else round(max(0.0, now - oldest), 1)}


def check_memory_buffer(app):
    """Hits waiting in this process's buffer (the embedded default)."""
    backlog = app.extensions["ingest"].buffer.backlog()
    return {"status": OK, "backlog": backlog, "batches": None, "stale_batches": None,
            "oldest_seconds": None}


def check_rq_jobs(app, client):
    """Jobs waiting in the RQ queue, the workers listening on it and the failed jobs kept."""
    from rq import Queue, Worker

    from app.jobs import runtime
    try:
        queue = Queue(runtime(app).queue.name, connection=client)
        return {"status": OK, "queued": queue.count, "workers": Worker.count(queue=queue),
                "failed": queue.failed_job_registry.get_job_count(cleanup=False)}
    except Exception as exc:
        return _failure("jobs", exc)


def _state(app):
    return app.extensions.setdefault("ibex_health", {})


def redis_client(app):
    """A Redis client for checks: short timeouts and no retries (the app's clients wait
    longer); one per app."""
    state = _state(app)
    if "redis" not in state:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        state["redis"] = redis.Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT, retry=Retry(NoBackoff(), 0))
    return state["redis"]


def _redis_buffer(app, client):
    state = _state(app)
    if "buffer" not in state:
        from app.ingest.buffer import RedisBuffer
        state["buffer"] = RedisBuffer(client, app.config["REDIS_PREFIX"])
    return state["buffer"]


_WHAT = {"database": "the database", "redis": "Redis", "buffer": "the hit buffer in Redis",
         "jobs": "the job queue in Redis"}


def _failure(name, exc):
    """A failed check: the exception's class name only in the answer (its text may hold a host
    name, a user name or SQL); the log gets the first line of the text too."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    log.warning("health check %s failed: %s: %.300s", name, type(exc).__name__, first_line)
    return _failed(f"{_WHAT[name]} did not answer ({type(exc).__name__})")


def _failed(error):
    return {"status": FAIL, "error": error}


def _ms(started):
    return round((time.perf_counter() - started) * 1000, 2)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value
