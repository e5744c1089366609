"""gunicorn settings: gthread workers. The embedded default runs one process (its hit buffer and
jobs live in that process); with REDIS_URL set, web processes are stateless and scale out."""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8080")
worker_class = "gthread"
_embedded = not os.environ.get("REDIS_URL")
workers = int(os.environ.get("WEB_CONCURRENCY", 1 if _embedded else multiprocessing.cpu_count() * 2))
# Dashboard widgets load in parallel; threads keep them from queueing behind each other.
threads = int(os.environ.get("GUNICORN_THREADS", 8))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"


def worker_exit(server, worker):
    """Embedded mode: persist what this process still buffers before it exits."""
    app = getattr(worker, "wsgi", None)
    ingest = getattr(app, "extensions", {}).get("ingest")
    if ingest is not None and ingest.embedded:
        ingest.shutdown()
