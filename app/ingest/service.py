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


class _Ahead(threading.Thread):
    """Runs ``function`` in a thread of its own (one per batch: ~0.1 ms against a batch's
    hundreds); ``result()`` waits for it and returns its value or raises its exception."""

    def __init__(self, function):
        super().__init__(name="ibex-prepare", daemon=True)
        self._function, self._value, self._error = function, None, None
        self.start()

    def run(self):
        try:
            self._value = self._function()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self):
        self.join()
        if self._error is not None:
            raise self._error
        return self._value


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

    def _claim(self):
        """The next batch to persist: a stale one of a dead worker first, else a new one."""
        batches = self.buffer.stale_batches(older_than=self.stale_after)
        batch = batches[0] if batches else self.buffer.claim(self.batch_size)
        for extra in batches[1:]:
            self.buffer.release(extra)
        return batch

    def _claim_and_prepare(self):
        """(batch, prepared) for the next batch, or (None, None); runs in the helper thread."""
        from app.ingest.persist import prepare_batch
        batch = self._claim()
        if batch is None:
            return None, None
        try:
            with self.app.app_context():
                return batch, prepare_batch(self, batch)
        except Exception:
            self.buffer.release(batch)
            raise

    def drain(self, stop=None):
        """Persist batches back to back until the buffer is empty or ``stop`` is set; returns
        the number of hits handled. While one batch is written, a helper thread claims the next
        and decodes, enriches and sessions it: that CPU work overlaps the database's. A failure
        releases both batches for a retry and is re-raised."""
        total, ahead = 0, _Ahead(self._claim_and_prepare)
        try:
            while True:
                batch, prepared = ahead.result()
                ahead = None
                if batch is None:
                    return total
                if stop is None or not stop.is_set():
                    ahead = _Ahead(self._claim_and_prepare)
                self._persist(batch, prepared)
                total += len(batch.records)
                if ahead is None or (stop is not None and stop.is_set()):
                    return total
        finally:
            if ahead is not None:  # stopped or failed: the batch prepared ahead waits for later
                try:
                    batch, _ = ahead.result()
                except Exception:  # already released by _claim_and_prepare
                    batch = None
                if batch is not None:
                    self.buffer.release(batch)

    def _persist(self, batch, prepared=None):
        """Persist a claimed batch, then acknowledge it. On failure the batch is released for a
        retry (database errors) or persisted hit by hit (anything about the data)."""
        from app.ingest.persist import persist_batch
        try:
            persist_batch(self, batch, prepared)
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
        with self.app.app_context():
            return self.drain()

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
                    self.drain(stop)
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

