"""Configuration classes, read from the environment when instantiated. No I/O happens here.

The embedded default (``make run``) is DevelopmentConfig: SQLite under instance/, no Redis.
Production is IBEX_CONFIG=production with DATABASE_URL, REDIS_URL and SECRET_KEY set.
"""
import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))


def database_url(url):
    """Normalise a database URL to the drivers Ibex ships with (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Settings shared by every configuration; ``env`` defaults to os.environ."""

    GENERATE_SECRET_KEY = False  # embedded mode generates and keeps one in instance/

    def __init__(self, env=None):
        env = os.environ if env is None else env
        get = lambda name, default=None: env.get(name) or default  # noqa: E731
        self.INSTANCE_DIR = get("IBEX_INSTANCE_DIR", os.path.join(BASE_DIR, "instance"))
        self.SECRET_KEY = get("SECRET_KEY")
        self.SECRET_KEY_FILE = os.path.join(self.INSTANCE_DIR, "secret_key")
        self.SQLALCHEMY_DATABASE_URI = database_url(
            get("DATABASE_URL", "sqlite:///" + os.path.join(self.INSTANCE_DIR, "ibex.db")))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = get("REDIS_URL")
        self.PERSIST_INTERVAL = float(get("PERSIST_INTERVAL", "10"))
        self.PERSIST_BATCH_SIZE = int(get("PERSIST_BATCH_SIZE", "1000"))
        self.SITE_CACHE_SECONDS = float(get("SITE_CACHE_SECONDS", "5"))
        self.REDIS_PREFIX = get("REDIS_PREFIX", "ibex")
        # A claimed batch whose worker has been silent this long is taken over by another.
        self.BATCH_STALE_SECONDS = float(get("BATCH_STALE_SECONDS", "60"))
        # Embedded mode persists from a background thread of the web process.
        self.EMBEDDED_PERSISTER = True
        self.PROXY_HOPS = int(get("PROXY_HOPS", "0"))
        self.GEOIP_DB = get("GEOIP_DB")
        self.RATELIMIT_ENABLED = _bool(get("RATELIMIT_ENABLED"), True)
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_KEY_PREFIX = get("RATELIMIT_KEY_PREFIX", "ibex-rl")
        self.RATELIMIT_HEADERS_ENABLED = False  # each family writes its own headers
        self.LOGIN_RATE_LIMIT = get("LOGIN_RATE_LIMIT", "20 per minute")
        # Basic API (/api/sites, /api/ignore, /api/tokens, /api/stats), per client IP.
        self.BASIC_API_RATE_LIMIT = get("BASIC_API_RATE_LIMIT", "20 per second")
        # GoatCounter's buckets (spec §3) as {name: (requests, seconds) or None (off)}.
        self.GOATCOUNTER_RATE_LIMITS = goatcounter_rate_limits(get("GOATCOUNTER_RATE_LIMITS", ""))
        # The Basic family's POST /collect, per client IP: generous enough for real browsing.
        self.COLLECT_RATE_LIMIT = rate_spec(get("COLLECT_RATE_LIMIT", "50/10"), "COLLECT_RATE_LIMIT")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # CSRF tokens live as long as the session
        self.PASSWORD_HASHING = "strong"  # argon2id; only the test suite uses "fast"
        # Umami API login tokens (revocable) expire after this many days.
        self.UMAMI_TOKEN_DAYS = float(get("UMAMI_TOKEN_DAYS", "365"))
        # Logs go to stderr: JSON lines (production's default) or text; app.logs reads these.
        self.LOG_FORMAT = log_format(get("LOG_FORMAT", "text"))
        self.LOG_LEVEL = log_level(get("LOG_LEVEL", "INFO"))
        self.LOG_REQUESTS = _bool(get("LOG_REQUESTS"), True)  # the app's access line
        # Also for successful tracking hits and health checks (off: only their errors).
        self.LOG_TRACKING_REQUESTS = _bool(get("LOG_TRACKING_REQUESTS"), False)

    def check(self):
        """Raise RuntimeError when the configuration is unsafe to run; embedded mode is lenient."""


class DevelopmentConfig(Config):
    """The embedded default: one process, SQLite, in-process buffer and jobs."""

    GENERATE_SECRET_KEY = True


class TestingConfig(Config):
    def __init__(self, env=None):
        super().__init__(env)
        self.TESTING = True
        self.SECRET_KEY = self.SECRET_KEY or "testing-secret-key-not-for-production"
        self.WTF_CSRF_ENABLED = False
        self.PERSIST_INTERVAL = float(env.get("PERSIST_INTERVAL") or 0.05)
        self.PASSWORD_HASHING = "fast"  # same argon2id, cheapest parameters
        self.SITE_CACHE_SECONDS = float(env.get("SITE_CACHE_SECONDS") or 0.0)  # 0: changes seen at once
        self.EMBEDDED_PERSISTER = _bool(env.get("EMBEDDED_PERSISTER"), False)  # tests flush
        # Loose enough that no other test is throttled, so the headers are still there; the
        # rate-limit tests set their own.
        self.GOATCOUNTER_RATE_LIMITS = goatcounter_rate_limits(
            env.get("GOATCOUNTER_RATE_LIMITS") or TESTING_RATE_LIMITS)
        self.BASIC_API_RATE_LIMIT = env.get("BASIC_API_RATE_LIMIT") or "100000 per second"
        self.COLLECT_RATE_LIMIT = rate_spec(env.get("COLLECT_RATE_LIMIT") or "100000/1",
                                            "COLLECT_RATE_LIMIT")


class ProductionConfig(Config):
    def __init__(self, env=None):
        super().__init__(env)
        env = os.environ if env is None else env
        secure = _bool(env.get("SESSION_COOKIE_SECURE"), True)
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_SECURE = secure
        self.LOG_FORMAT = log_format(env.get("LOG_FORMAT") or "json")

    def check(self):
        if not self.SECRET_KEY:
            raise RuntimeError(
                "IBEX_CONFIG=production needs SECRET_KEY in the environment; generate one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
        if len(self.SECRET_KEY) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters long")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


GOATCOUNTER_RATE_LIMITS = "api:4/1,api2:500/3600,api-count:60/120,export:1/3600,count:4/1"
TESTING_RATE_LIMITS = ("api:100000/1,api2:1000000/3600,api-count:100000/120,export:100000/3600,"
                       "count:100000/1")


def goatcounter_rate_limits(text):
    """Parse 'name:requests/seconds,…' ('name:none' turns a bucket off) over GoatCounter's
    defaults; buckets not named keep their default. Raises RuntimeError for bad input."""
    limits = {}
    for entry in f"{GOATCOUNTER_RATE_LIMITS},{text}".split(","):
        if not entry.strip():
            continue
        name, _, spec = (part.strip() for part in entry.partition(":"))
        if name not in ("api", "api2", "api-count", "export", "count"):
            raise RuntimeError(f"GOATCOUNTER_RATE_LIMITS: unknown bucket {name!r} in {entry!r} "
                               "(known: api, api2, api-count, export, count)")
        limits[name] = rate_spec(spec, f"GOATCOUNTER_RATE_LIMITS ({name})")
    return limits


def rate_spec(text, setting):
    """'requests/seconds' as (requests, seconds), or None for 'none'. RuntimeError if bad."""
    text = (text or "").strip()
    if text.lower() == "none":
        return None
    requests, _, seconds = text.partition("/")
    try:
        requests, seconds = int(requests), int(seconds)
    except ValueError:
        requests = seconds = 0
    if requests < 1 or seconds < 1:
        raise RuntimeError(f"{setting}: {text!r} is not requests/seconds with whole numbers "
                           "≥ 1, or none")
    return requests, seconds


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_format(text):
    """LOG_FORMAT: json or text. Raises RuntimeError for anything else."""
    value = text.strip().lower()
    if value not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be json or text, not {text!r}")
    return value


def log_level(text):
    """LOG_LEVEL: one of LOG_LEVELS, any case. Raises RuntimeError for anything else."""
    value = text.strip().upper()
    if value not in LOG_LEVELS:
        raise RuntimeError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {text!r}")
    return value


def _bool(value, default):
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def load(name=None, env=None):
    """The configuration object named by IBEX_CONFIG (default: development)."""
    env = os.environ if env is None else env
    name = name or env.get("IBEX_CONFIG") or "development"
    try:
        return CONFIGS[name](env)
    except KeyError:
        raise RuntimeError(f"IBEX_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}") from None
