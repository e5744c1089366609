"""The ingest runtime of one app: its buffer, session store and site directory, and the flush
loop shared by the embedded background thread, ``flask worker`` and tests."""
import atexit
import hashlib
import logging
import threading
import time

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.extensions import db
from app.ingest.buffer import Batch, MemoryBuffer, RedisBuffer
from app.ingest.sessions import MemorySessions, RedisSessions
from app.ingest.sites import SiteDirectory

log = logging.getLogger("ibex.ingest")
# SQLSTATE classes worth retrying a whole batch for: connection problems, transaction rollbacks
# (deadlock, serialization), insufficient resources, operator intervention, system errors.
TRANSIENT_SQLSTATES = ("08", "40", "53", "57", "58")


def transient(exc):
    """True for database errors that say nothing about the data (retry the batch later)."""
    if not isinstance(exc, DBAPIError):
        return isinstance(exc, ConnectionError)  # e.g. Redis going away mid-batch
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if state:
        return state[:2] in TRANSIENT_SQLSTATES
    return isinstance(exc, (OperationalError, InterfaceError))  # no server answer; SQLite busy


class Ingest:
    def __init__(self, app):
        self.app = app
        config = app.config
        self.batch_size = config["PERSIST_BATCH_SIZE"]
        self.interval = config["PERSIST_INTERVAL"]
        self.stale_after = config["BATCH_STALE_SECONDS"]
        self.secret = hashlib.sha256(b"ibex-session\0" + config["SECRET_KEY"].encode()).digest()
        self.sites = SiteDirectory(ttl=config["SITE_CACHE_SECONDS"])
        if config.get("REDIS_URL"):
            import redis
            client = redis.Redis.from_url(config["REDIS_URL"])
            prefix = config["REDIS_PREFIX"]
            self.buffer = RedisBuffer(client, prefix)
            self.sessions = RedisSessions(client, prefix)
            self.embedded = False
        else:
            self.buffer = MemoryBuffer()
            self.sessions = MemorySessions()
            self.embedded = True
        self._thread = None
        self._thread_lock = threading.Lock()
        self._stopping = threading.Event()

    # --- hot path ----------------------------------------------------------------------------

    def push(self, *hits):
        """Queue hits for the persister. No database access."""
        self.buffer.push([hit.to_wire() for hit in hits])
        if self.embedded and self._thread is None and self.app.config["EMBEDDED_PERSISTER"]:
            self._start_flusher()

    # --- persisting --------------------------------------------------------------------------

    def flush_once(self):
        """Persist one batch (a stale one of a dead worker first). Returns hits handled, or 0
        when the buffer was empty. A failing batch is released for a retry and re-raised."""
        from app.ingest.persist import persist_batch
        batches = self.buffer.stale_batches(older_than=self.stale_after)
        batch = batches[0] if batches else self.buffer.claim(self.batch_size)
        for extra in batches[1:]:
            self.buffer.release(extra)
        if batch is None:
            return 0
        try:
            persist_batch(self, batch)
        except Exception as exc:
            db.session.rollback()
            if transient(exc):  # database unreachable or busy: retry it all later
                self.buffer.release(batch)
                raise
            # Something about the data: store what can be stored, drop the rest (never retry
            # a batch forever and block everything behind it).
            log.exception("batch %s failed; persisting its hits one by one", batch.id)
            try:
                self._persist_singly(batch)
            except Exception:
                self.buffer.release(batch)
                raise
        self.buffer.ack(batch)
        self.sessions.forget(batch.id)
        return len(batch.records)

    def _persist_singly(self, batch):
        """Each hit of a failed batch as its own batch (ids derived from the parent's, so a
        retry after a crash finds the ones already stored in the ledger)."""
        from app.ingest.persist import persist_batch
        for index, record in enumerate(batch.records):
            single = Batch(f"{batch.id}.{index}", [record])
            try:
                persist_batch(self, single)
            except Exception as exc:
                db.session.rollback()
                if transient(exc):
                    raise
                log.exception("dropping a hit that cannot be stored: %.300s", record)
            self.sessions.forget(single.id)

    def flush(self):
        """Persist everything buffered now (tests, shutdown). Returns the number of hits."""
        total = 0
        with self.app.app_context():
            while True:
                handled = self.flush_once()
                if not handled:
                    return total
                total += handled

    def run(self, stop=None, on_error_wait=2.0):
        """The persister loop: flush whenever a batch is full or PERSIST_INTERVAL has passed;
        on errors (database down) keep the batch and retry after a pause. Runs until ``stop``
        (a threading.Event) is set."""
        stop = stop or self._stopping
        last = time.monotonic()
        with self.app.app_context():
            while not stop.is_set():
                due = time.monotonic() - last >= self.interval
                if not due and self.buffer.backlog() < self.batch_size:
                    self._wait(stop, min(0.2, self.interval))
                    continue
                try:
                    while self.flush_once() and not stop.is_set():
                        pass
                    last = time.monotonic()
                except Exception:
                    log.exception("persisting a batch failed; it stays buffered and is retried")
                    db.session.rollback()
                    stop.wait(on_error_wait)

    def _wait(self, stop, seconds):
        if self.embedded:
            self.buffer.pushed.wait(seconds)
            self.buffer.pushed.clear()
        else:
            stop.wait(seconds)

    # --- the embedded default's background thread --------------------------------------------

    def _start_flusher(self):
        with self._thread_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self.run, name="ibex-persister", daemon=True)
            self._thread.start()
            atexit.register(self.shutdown)

    def shutdown(self):
        """Stop the background thread and persist whatever is still buffered."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            log.exception("could not persist the buffered hits at shutdown")
