"""Logging: one handler on the root logger writing JSON lines or text to stderr, request ids (a
contextvar every record picks up, library loggers included) and the app's access line."""
import contextvars
import json
import logging
import re
import os
import sys
import time

_request_id = contextvars.ContextVar("ibex_request_id", default=None)
# nginx's $request_id is 32 hex digits; anything else a proxy sends must still be a harmless token.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The attributes every LogRecord has; anything else on a record came in through ``extra``.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
access_log = logging.getLogger("ibex.access")


def request_id():
    """The id of the request being handled in this context, or None."""
    return _request_id.get()


def init_app(app):
    """Configure the process's logging from ``app.config`` (LOG_FORMAT, LOG_LEVEL) and wrap
    the app in the request-id middleware (with the access line unless LOG_REQUESTS is off)."""
    configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    app.wsgi_app = app.extensions["request_ids"] = RequestIds(
        app.wsgi_app, access=app.config["LOG_REQUESTS"])


def quiet(app, paths):
    """No access line for a successful (< 400) answer on one of ``paths``, unless
    LOG_TRACKING_REQUESTS is on: the tracking hits are most of the traffic, their cost counts on
    the hot path, and nginx leaves them out of its own log too; health checks come every few
    seconds. Their errors are still logged."""
    if not app.config["LOG_TRACKING_REQUESTS"]:
        app.extensions["request_ids"].quiet = frozenset(paths)


def configure(log_format="text", level="INFO"):
    """Put Ibex's handler on the root logger (once per process; later calls, e.g. each app a
    test builds, only change its format and the level) and keep werkzeug's development-server
    access lines out (they hold the client IP and the query string)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(formatter(log_format))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _WerkzeugAccessFilter) for f in werkzeug.filters):
        werkzeug.addFilter(_WerkzeugAccessFilter())


def formatter(log_format):
    """The formatter for LOG_FORMAT ``json`` or ``text``."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}")


class ContextFilter(logging.Filter):
    """Adds ``request_id`` (in a request) or ``job_id`` (in a background job) to every record
    that passes the handler, whichever logger emitted it."""

    def filter(self, record):
        rid = _request_id.get()
        if rid is not None:
            record.request_id = rid
            return True
        runner = sys.modules.get("app.jobs.runner")  # only once jobs were used in this process
        job = runner.current_job() if runner is not None else None
        if job is not None and not hasattr(record, "job_id"):
            record.job_id = job.id
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (gunicorn, pytest's capture)."""

    def __init__(self):
        super().__init__()
        self.addFilter(ContextFilter())

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass  # StreamHandler.__init__ assigns one; the current sys.stderr is always used


def _extras(record):
    return {key: value for key, value in record.__dict__.items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")}


_last_second = (None, "")  # (whole second, its formatted text): most lines share a second


def rfc3339_utc(seconds):
    """Unix seconds as RFC 3339 UTC with milliseconds: 2026-12-01T09:30:00.125Z."""
    global _last_second
    whole = int(seconds)
    cached, text = _last_second
    if cached != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _last_second = (whole, text)
    return f"{text}.{int((seconds - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then request_id / job_id and
    any ``extra`` fields, then ``exception`` (the traceback text) when there is one."""

    def format(self, record):
        entry = {"time": rfc3339_utc(record.created), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return _encode(entry)


class TextFormatter(logging.Formatter):
    """``2026-12-01T09:30:00.125Z INFO logger: message key=value …`` for people at a terminal."""

    def format(self, record):
        line = (f"{rfc3339_utc(record.created)} {record.levelname} {record.name}: "
                f"{record.getMessage()}")
        extras = _extras(record)
        if extras:
            line += "".join(f" {key}={value}" for key, value in extras.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _WerkzeugAccessFilter(logging.Filter):
    """Drops the development server's access lines ('<ip> - - [<date>] "GET /path?query …"');
    the app's own access line replaces them. Its startup messages pass."""

    def filter(self, record):
        return " - - [" not in str(record.msg)


class RequestIds:
    """WSGI middleware: gives each request an id (a sane incoming X-Request-Id, else a new
    one), returns it in the X-Request-Id response header, exposes it to log records while the
    app handles the request and, with ``access``, logs one access line when it answered."""

    def __init__(self, wsgi_app, access=True, quiet=frozenset()):
        self.wsgi_app = wsgi_app
        self.access = access
        self.quiet = quiet  # paths whose successful answers get no access line

    def __call__(self, environ, start_response):
        incoming = environ.get("HTTP_X_REQUEST_ID")
        if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
            rid = incoming
        else:
            rid = os.urandom(16).hex()  # 32 hex digits, like nginx's (a third of uuid4's cost)
        token = _request_id.set(rid)
        started = time.perf_counter()
        status = None

        def start_with_id(status_line, headers, exc_info=None):
            nonlocal status
            status = status_line
            headers.append(("X-Request-Id", rid))
            return start_response(status_line, headers, exc_info)
        try:
            return self.wsgi_app(environ, start_with_id)
        finally:
            if self.access and access_log.isEnabledFor(logging.INFO) and not (
                    environ.get("PATH_INFO") in self.quiet and status and status < "400"):
                _log_access(environ, status, started)
            _request_id.reset(token)


def _log_access(environ, status, started):
    """The access line: method, path (never the query string), status and duration. No client
    address, User-Agent, cookie or Authorization header is ever logged."""
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        path = path.encode("latin-1").decode("utf-8")  # WSGI carries the bytes as latin-1
    except UnicodeError:
        pass
    code = int(status[:3]) if status else 500
    # makeRecord + handle is logger.info minus its search of the stack for the caller's line
    # (a few µs on every request; the line number of this call says nothing anyway).
    access_log.handle(access_log.makeRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, code), None,
        extra={"method": method, "path": path, "status": code,
               "duration_ms": round((time.perf_counter() - started) * 1000, 2)}))


def gunicorn_logger_class():
    """A gunicorn ``logger_class`` whose error log comes out in Ibex's format (LOG_FORMAT from
    the environment, like the app's) and which writes no access log of its own (it would hold
    client IPs and query strings; the app writes its own access line). gunicorn.conf.py:
    ``logger_class = app.logs.gunicorn_logger_class()``."""
    from gunicorn.glogging import Logger

    import config as config_module

    class IbexGunicornLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)
            settings = config_module.load()
            for handler in self.error_log.handlers:
                handler.setFormatter(formatter(settings.LOG_FORMAT))
                if not any(isinstance(f, ContextFilter) for f in handler.filters):
                    handler.addFilter(ContextFilter())

        def access(self, resp, req, environ, request_time):
            pass

    return IbexGunicornLogger
