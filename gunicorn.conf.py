"""gunicorn settings (`gunicorn -c gunicorn.conf.py wsgi:app`): gthread workers. The embedded
default runs one process (its hit buffer and jobs live in that process); with REDIS_URL set, web
processes are stateless and scale out. Every number can be set from the environment (the
systemd unit reads /etc/ibex/ibex.env); docs/deploy.md explains the sizing."""
import errno
import gc
import multiprocessing
import os
import sys

from gunicorn.workers.gthread import TConn, ThreadWorker


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class ProxiedThreadWorker(ThreadWorker):
    """gthread, except that a connection goes to a thread as soon as it is accepted instead of
    waiting in the event loop until its request arrives. The stock worker, told to stop (a
    reload, a restart), exits its loop and drops the connections it accepted but had not read
    yet: nginx answers those requests 502 (gunicorn issues #3038, #3394). Behind nginx a
    request arrives whole right after its connection, so no thread waits on a slow client."""

    def accept(self, server, listener):
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return
            raise
        self.nr_conns += 1
        self.enqueue_req(TConn(self.cfg, sock, client, server))


bind = os.environ.get("BIND", "127.0.0.1:8080")
# Behind a proxy (PROXY_HOPS ≥ 1) the worker above; a server that browsers reach directly
# (make run) keeps the stock one, which does not give an idle connection a thread.
worker_class = ProxiedThreadWorker if _env_int("PROXY_HOPS", 0) > 0 else "gthread"
_embedded = not os.environ.get("REDIS_URL")
# Production: two processes per core (at least two, so one busy or restarting process never
# leaves the site unserved), each with GUNICORN_THREADS threads. A dashboard opens a dozen widget
# requests at once — over HTTP/2 all of them reach nginx together — and they wait on
# PostgreSQL, not on the CPU: threads let them run side by side. 2 cores → 4 × 8 = 32 requests
# in flight, two dashboards loading at the same moment without queueing.
workers = _env_int("WEB_CONCURRENCY", 1 if _embedded else max(2, multiprocessing.cpu_count() * 2))
threads = _env_int("GUNICORN_THREADS", 8)
# A worker process that shows no sign of life for this long is killed and replaced.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
# SIGHUP (systemctl reload) starts new worker processes with the new code, then stops the old
# ones; SIGTERM stops. Either way requests in flight get this long to finish.
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection stays open: for browsers talking to gunicorn directly
# (make run). nginx opens one connection per request (see deploy/nginx/ibex.conf).
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# The worker heartbeat file goes to memory, not to a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "ibex-web"
# The app writes one log line per request itself (app/logs.py, with the request id). gunicorn's
# error log comes out in the app's format (LOG_FORMAT) through its logger class, which writes no
# access log; GUNICORN_ACCESS_LOG=1 brings gunicorn's own access log (and plain logger) back.
errorlog = "-"
if _env_bool("GUNICORN_ACCESS_LOG"):
    accesslog = "-"
else:
    accesslog = None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run from any directory
    from app.logs import gunicorn_logger_class
    logger_class = gunicorn_logger_class()


def post_worker_init(worker):
    """With the app loaded, move every object it made so far (modules, models, SQLAlchemy's
    metadata: ~120,000 objects) out of the garbage collector's reach: a full collection then
    scans only what requests allocate. Without this, every few dashboard widgets a full
    collection paused a request by 40–80 ms (bench/README.md)."""
    gc.freeze()


def worker_exit(server, worker):
    """Embedded mode: persist what this process still buffers before it exits."""
    app = getattr(worker, "wsgi", None)
    ingest = getattr(app, "extensions", {}).get("ingest")
    if ingest is not None and ingest.embedded:
        ingest.shutdown()
