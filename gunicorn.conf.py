"""gunicorn settings (`gunicorn -c gunicorn.conf.py wsgi:app`): gthread workers. The embedded
default runs one process (its hit buffer and jobs live in that process); with REDIS_URL set, web
processes are stateless and scale out. Every number can be set from the environment (the
systemd unit reads /etc/ibex/ibex.env); docs/deploy.md explains the sizing."""
import multiprocessing
import os


def _env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _env_bool(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


bind = os.environ.get("BIND", "127.0.0.1:8080")
worker_class = "gthread"
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
# Idle keep-alive connections are kept longer than nginx keeps its idle upstream connections
# (keepalive_timeout 60s in deploy/nginx/ibex.conf), so gunicorn never closes one while nginx
# sends a request on it.
keepalive = _env_int("GUNICORN_KEEPALIVE", 75)
# The worker heartbeat file goes to memory, not to a disk that may stall.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "ibex-web"
# Ibex writes one log line per request itself; gunicorn's own access log is off unless asked
# for (GUNICORN_ACCESS_LOG=1).
accesslog = "-" if _env_bool("GUNICORN_ACCESS_LOG") else None
errorlog = "-"


def worker_exit(server, worker):
    """Embedded mode: persist what this process still buffers before it exits."""
    app = getattr(worker, "wsgi", None)
    ingest = getattr(app, "extensions", {}).get("ingest")
    if ingest is not None and ingest.embedded:
        ingest.shutdown()
