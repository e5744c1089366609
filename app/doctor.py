"""`flask doctor`: checks of an installation's configuration and of the services it names. Each
check returns Results (OK, WARN or FAIL) whose message says what is wrong and how to fix it."""
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone

import config as config_module
from app import health

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GEOIP_MAX_AGE_DAYS = 60
NEW_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


@dataclass(frozen=True)
class Result:
    name: str
    level: str      # OK, WARN or FAIL
    message: str    # what was found and, unless OK, what to do about it


def run(app, production):
    """Every check on ``app`` (``production``: it runs as IBEX_CONFIG=production), in order."""
    results = []
    for check in CHECKS:
        results.extend(check(app, production))
    return results


def report(results):
    """The command's output: one line per result, then a summary line."""
    lines = [f"{r.level:<4}  {r.name}: {r.message}" for r in results]
    counts = {level: sum(r.level == level for r in results) for level in (OK, WARN, FAIL)}
    lines.append(f"{counts[OK]} OK, {counts[WARN]} WARN, {counts[FAIL]} FAIL"
                 + (": fix the FAIL lines first" if counts[FAIL] else ""))
    return lines


def failed(results):
    return any(result.level == FAIL for result in results)


def secret_key(app, production):
    key = app.config.get("SECRET_KEY") or ""
    if not key:
        return [Result("secret-key", FAIL, f"SECRET_KEY is not set: generate one with {NEW_SECRET} "
                                           "and set it in the environment")]
    if key == config_module.TestingConfig(env={}).SECRET_KEY:
        return [Result("secret-key", FAIL, "SECRET_KEY is the test suite's public default: "
                                           f"generate one with {NEW_SECRET}")]
    if len(key) < 32:
        return [Result("secret-key", FAIL, f"SECRET_KEY has {len(key)} characters, fewer than 32: "
                                           f"generate a longer one with {NEW_SECRET}")]
    path = app.config.get("SECRET_KEY_FILE")
    if not (app.config.get("GENERATE_SECRET_KEY") and path and os.path.isfile(path)
            and _read(path) == key):
        return [Result("secret-key", OK, f"set ({len(key)} characters)")]
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o007:
        return [Result("secret-key", FAIL, f"the generated key file {path} is readable by every "
                                           f"user (mode {mode:o}): chmod 600 {path}")]
    if mode & 0o070:
        return [Result("secret-key", WARN, f"the generated key file {path} is readable by its "
                                           f"group (mode {mode:o}): chmod 600 {path}")]
    return [Result("secret-key", OK, f"generated, in {path} (mode {mode:o})")]


def deployment(app, production):
    dialect = app.config["SQLALCHEMY_DATABASE_URI"].partition(":")[0].partition("+")[0]
    if not production:
        return [Result("mode", OK, "embedded default (IBEX_CONFIG is not production): "
                                   f"{dialect} database, "
                                   + ("Redis buffer and jobs" if app.config.get("REDIS_URL")
                                      else "in-process hit buffer and jobs"))]
    results = []
    if not app.config.get("REDIS_URL"):
        results.append(Result("mode", FAIL, "IBEX_CONFIG=production without REDIS_URL: each web "
                                            "process would buffer hits in its own memory and run "
                                            "jobs in a thread; set REDIS_URL=redis://… and run "
                                            "`flask worker`"))
    if dialect == "sqlite":
        results.append(Result("mode", WARN, "IBEX_CONFIG=production on SQLite: set "
                                            "DATABASE_URL=postgresql://… (see docs/deploy.md), then "
                                            "`flask db upgrade`"))
    return results or [Result("mode", OK, "production: PostgreSQL and Redis")]


def database(app, production):
    state = health.check_database(app)
    if state["status"] != health.OK:
        return [Result("database", FAIL, f"{state['error']}: check DATABASE_URL and that the "
                                         "database server runs and accepts this user")]
    backend = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(state["backend"],
                                                                    state["backend"])
    reached = Result("database", OK, f"{backend} answered in {state['ms']:g} ms")
    migrations = state["migrations"]
    head, revision = state["head"], state["revision"]
    if migrations == "current":
        return [reached, Result("migrations", OK, f"at head ({head})")]
    if migrations == "none":
        return [reached, Result("migrations", FAIL, "no migration recorded in the database: run "
                                                    "`flask db upgrade`")]
    if migrations == "behind":
        return [reached, Result("migrations", FAIL, f"the database is at {revision}, this code "
                                                    f"needs {head}: run `flask db upgrade`")]
    return [reached, Result("migrations", WARN, f"the database is at {revision}, which this "
                                                f"code (head {head}) does not know: a newer Ibex "
                                                "migrated it; run that release")]


def proxy_hops(app, production):
    hops = app.config.get("PROXY_HOPS", 0)
    if hops == 0 and production:
        return [Result("proxy-hops", WARN, "PROXY_HOPS is 0: behind nginx set PROXY_HOPS=1 or "
                                           "client IPs will all be the proxy's")]
    if hops > 2:
        return [Result("proxy-hops", WARN, f"PROXY_HOPS is {hops}: each hop's X-Forwarded-For "
                                           "entry is trusted, so unless there really are "
                                           f"{hops} proxies in front clients can forge their IP; "
                                           "set it to the number of proxies (nginx alone: 1)")]
    return [Result("proxy-hops", OK, f"{hops}" + (" (no proxy in front)" if hops == 0 else ""))]


def session_cookie(app, production):
    secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
    if production and not secure:
        return [Result("session-cookie", WARN, "SESSION_COOKIE_SECURE is off: login cookies may "
                                               "travel over plain HTTP; serve Ibex over HTTPS and "
                                               "remove SESSION_COOKIE_SECURE=false")]
    return [Result("session-cookie", OK, "secure (HTTPS only)" if secure
                   else "not HTTPS-only (fine for the embedded default on localhost)")]


def geoip(app, production):
    path = app.config.get("GEOIP_DB")
    advice = ("download GeoLite2-City.mmdb (a free MaxMind account; geoipupdate keeps it "
              "current) and set GEOIP_DB=/path/to/GeoLite2-City.mmdb")
    if not path:
        from app.ingest.geo import packaged_database_path
        try:
            bundled = packaged_database_path()
        except ImportError:
            return [Result("geoip", WARN, f"GEOIP_DB is not set: locations will be empty; {advice}")]
        built = _build_date(bundled)
        return [Result("geoip", WARN, "GEOIP_DB is not set: locations come from the GeoLite2 "
                                      "database bundled with maxminddb-geolite2"
                                      + (f", built {built:%Y-%m-%d}" if built else "")
                                      + f", and are out of date; {advice}")]
    if not os.path.isfile(path):
        return [Result("geoip", FAIL, f"GEOIP_DB={path}: no such file; {advice}")]
    if not os.access(path, os.R_OK):
        return [Result("geoip", FAIL, f"GEOIP_DB={path} is not readable by this user: fix its "
                                      "permissions (the web and worker users read it)")]
    try:
        built = _build_date(path)
    except (ValueError, OSError) as exc:
        return [Result("geoip", FAIL, f"GEOIP_DB={path} is not a MaxMind database "
                                      f"({type(exc).__name__}); {advice}")]
    age = (datetime.now(timezone.utc) - built).days
    if age > GEOIP_MAX_AGE_DAYS:
        return [Result("geoip", WARN, f"{path} was built {built:%Y-%m-%d}, {age} days ago: update "
                                      "it (geoipupdate, e.g. weekly from cron); locations drift "
                                      "as addresses change hands")]
    return [Result("geoip", OK, f"{path}, built {built:%Y-%m-%d} ({age} days ago)")]


def redis_persistence(app, production):
    if not app.config.get("REDIS_URL"):
        return [Result("redis", OK, "not used (no REDIS_URL)")]
    import redis
    client = health.redis_client(app)
    reached = health.check_redis(client)
    if reached["status"] != health.OK:
        return [Result("redis", FAIL, f"{reached['error']}: check REDIS_URL and that the server "
                                      "runs")]
    results = [Result("redis", OK, f"answered in {reached['ms']:g} ms")]
    try:
        settings = {}
        for name in ("appendonly", "appendfsync", "maxmemory-policy", "maxmemory"):
            settings.update(_text_dict(client.config_get(name)))
    except redis.ResponseError:  # CONFIG renamed away, or an ACL without it (managed Redis)
        return results + [Result("redis-persistence", WARN, "could not read Redis's configuration "
                                 "(CONFIG is disabled or not permitted): check on the server that "
                                 "appendonly is yes and maxmemory-policy is noeviction")]
    if settings.get("appendonly") != "yes":
        results.append(Result("redis-persistence", FAIL, "appendonly is "
                              f"{settings.get('appendonly', '?')}: hits waiting in the buffer are "
                              "lost when Redis restarts (the exactly-once promise relies on AOF); "
                              "set `appendonly yes` in redis.conf, or run `redis-cli CONFIG SET "
                              "appendonly yes` and `redis-cli CONFIG REWRITE`"))
    elif settings.get("appendfsync") == "no":
        results.append(Result("redis-persistence", WARN, "appendfsync is no: the OS decides when "
                              "the AOF reaches the disk; set `appendfsync everysec`"))
    else:
        results.append(Result("redis-persistence", OK, "appendonly yes, appendfsync "
                              f"{settings.get('appendfsync', '?')}"))
    policy = settings.get("maxmemory-policy", "?")
    if policy == "noeviction":
        results.append(Result("redis-eviction", OK, "maxmemory-policy noeviction"))
    else:
        # With no memory limit nothing is evicted yet; a limit set later would start evicting.
        level = WARN if settings.get("maxmemory") == "0" else FAIL
        results.append(Result("redis-eviction", level, f"maxmemory-policy is {policy}: Redis may "
                              "evict buffered hits, sessions and jobs when memory runs short; set "
                              "`maxmemory-policy noeviction`"))
    return results


def directories(app, production):
    """The instance directory and its exports/ must take new files (secret key, SQLite,
    exports); a directory that does not exist yet is fine if it can be created."""
    results = []
    for name, path in (("instance-dir", app.instance_path),
                       ("exports-dir", os.path.join(app.instance_path, "exports"))):
        problem = _unwritable(path)
        results.append(Result(name, FAIL, f"{path}: {problem}; make it a directory the web and "
                                          "worker users can write to") if problem
                       else Result(name, OK, f"{path} is writable"
                                   + ("" if os.path.isdir(path) else " (created on first use)")))
    return results


CHECKS = (secret_key, deployment, database, proxy_hops, session_cookie, geoip,
          redis_persistence, directories)


def _unwritable(path):
    """Why no file can be created in ``path`` (or in its nearest existing ancestor when it does
    not exist yet), or None. It tries for real: os.access says yes to root on read-only mounts."""
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        return f"{existing} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"cannot create files in {existing} ({exc.strerror or type(exc).__name__})"
    return None


def _build_date(path):
    """The build time of a MaxMind database (its metadata's build_epoch), as an aware UTC
    datetime. Raises ValueError (not a MaxMind database) or OSError."""
    import maxminddb
    try:
        reader = maxminddb.open_database(path)
    except maxminddb.InvalidDatabaseError as exc:
        raise ValueError(str(exc)) from None
    try:
        return datetime.fromtimestamp(reader.metadata().build_epoch, timezone.utc)
    finally:
        reader.close()


def _read(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeError):
        return None


def _text_dict(values):
    return {_text(key): _text(value) for key, value in values.items()}


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)

