"""Fault tolerance of the persister (DESIGN.md "Exactly once"): real `flask worker` processes
on PostgreSQL and Redis, SIGKILLed mid-flush, draining one buffer side by side, or cut off
from the database for a while; the embedded thread's flush at shutdown; a worker started
without Redis. Every hit must land exactly once: raw rows, first visits, rollups and the
batch ledger agree."""
import atexit
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
from sqlalchemy import case, func, select

import config
from app import accounts, create_app
from app.extensions import db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from app.ingest.persist import persist_batch
from app.models import Hit, HitCount, IngestBatch
from tests.conftest import make_app, new_pg_database

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
# At least 40 characters; the workers and the test's own app share it, so session keys match.
SECRET_KEY = "ibex-fault-tests-secret-key-0123456789abcdef"
BATCH_SIZE = 200
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/106.0.0.0 Safari/537.36",
]


def wait_for(condition, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- traffic with exactly known totals -------------------------------------------------------

class Traffic:
    """Seeded hits from a fixed set of visitors over a fixed set of paths. It remembers what it
    produced: ``count`` pageviews, ``first_visits`` = distinct (visitor, path) pairs (one visitor
    is one session: all hits fall well inside the 8-hour session window)."""

    def __init__(self, site_id, seed, visitors=24, paths=30):
        self.site_id = site_id
        self.rng = random.Random(seed)
        self.paths = [f"/docs/page-{n}" for n in range(paths)]
        # Half send a session string (count API), half are a User-Agent and IP pair (/count).
        self.visitors = [dict(family="gc-api", session=f"visitor-{seed}-{n}")
                         for n in range(visitors // 2)]
        self.visitors += [dict(family="gc", user_agent=UAS[n % 2], ip=f"198.51.100.{n + 1}")
                          for n in range(visitors - visitors // 2)]
        self.count = 0
        self.pairs = set()
        self.now = time.time()

    def hits(self, n):
        out = []
        for _ in range(n):
            visitor = self.rng.randrange(len(self.visitors))
            path = self.rng.choice(self.paths)
            created = self.now - self.rng.uniform(0, 5 * 3600)  # several rollup hours
            out.append(HitIn(site_id=self.site_id, path=path, created_at=created,
                             **self.visitors[visitor]))
            self.pairs.add((visitor, path))
        self.count += n
        return out

    @property
    def first_visits(self):
        return len(self.pairs)

    @property
    def sessions(self):
        return len({visitor for visitor, _ in self.pairs})


def push(traffic, n, chunk=2000):
    for start in range(0, n, chunk):
        ingest().push(*traffic.hits(min(chunk, n - start)))


def assert_exactly_once(traffic, redis_buffer=None):
    db.session.rollback()  # the workers committed in their own connections
    scalar = db.session.scalar
    assert scalar(select(func.count()).select_from(Hit)) == traffic.count
    assert scalar(select(func.sum(HitCount.pageviews))) == traffic.count
    assert scalar(select(func.sum(HitCount.visitors))) == traffic.first_visits
    assert scalar(select(func.count()).select_from(Hit).where(Hit.first_visit)) \
        == traffic.first_visits
    assert scalar(select(func.sum(IngestBatch.num_hits))) == traffic.count
    # Per session and path exactly one first visit, and one session per visitor.
    firsts = func.sum(case((Hit.first_visit, 1), else_=0))
    wrong = db.session.execute(select(Hit.session_id, Hit.path_id, firsts)
                               .group_by(Hit.session_id, Hit.path_id)
                               .having(firsts != 1)).all()
    assert wrong == []
    assert scalar(select(func.count(func.distinct(Hit.session_id)))) == traffic.sessions
    if redis_buffer is not None:
        client = redis_buffer.redis
        assert client.llen(redis_buffer.queue) == 0
        assert client.hlen(redis_buffer.batches) == 0
        assert list(client.scan_iter(redis_buffer.batch_prefix + "*")) == []


# --- real workers ----------------------------------------------------------------------------

class Worker:
    """One `flask worker` process; its stdout and stderr go to files under ``log_dir``."""

    def __init__(self, env, log_dir, name):
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen([str(FLASK), "worker"], cwd=ROOT, env=env,
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    @property
    def stdout(self):
        return self.stdout_path.read_text()

    @property
    def stderr(self):
        return self.stderr_path.read_text()

    def wait_ready(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n"
                                     f"{self.stdout}\n{self.stderr}")
            return "ibex worker: persisting every" in self.stdout
        wait_for(ready, timeout, "the worker to start")
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout=20):
        """SIGTERM: the worker finishes its batch and exits; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


class Pipeline:
    """A PostgreSQL database with the schema and one site, a Redis buffer with a prefix of its
    own, the test's app (pushing to that buffer) and any number of workers."""

    def __init__(self, pg_url, redis_url, prefix, tmp_path):
        self.pg_url, self.tmp_path = pg_url, tmp_path
        self.app = make_app(pg_url, tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=prefix,
                            SECRET_KEY=SECRET_KEY, PERSIST_BATCH_SIZE=str(BATCH_SIZE))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1", "FLASK_APP": "wsgi", "IBEX_CONFIG": "production",
            "SECRET_KEY": SECRET_KEY, "DATABASE_URL": pg_url, "REDIS_URL": redis_url,
            "REDIS_PREFIX": prefix, "PERSIST_INTERVAL": "0.05",
            "PERSIST_BATCH_SIZE": str(BATCH_SIZE), "BATCH_STALE_SECONDS": "1",
            "IBEX_INSTANCE_DIR": str(tmp_path / "worker-instance"),
            "SESSION_COOKIE_SECURE": "false",
        }
        self.workers = []

    def worker(self, **env):
        worker = Worker({**self.env, **env}, self.tmp_path, f"worker-{len(self.workers)}")
        self.workers.append(worker)
        return worker

    @property
    def buffer(self):
        return ingest().buffer

    def wait_drained(self, timeout=45):
        def drained():
            dead = [w for w in self.workers if w.proc.poll() not in (None, -signal.SIGKILL)]
            assert not dead, [(w.proc.returncode, w.stderr) for w in dead]
            return self.buffer.backlog() == 0
        wait_for(drained, timeout, "the workers to drain the buffer", interval=0.1)

    def close(self):
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=10)


@pytest.fixture
def pipeline(redis_url, tmp_path):
    pg_url, drop = new_pg_database()
    url, prefix = redis_url
    pipe = None
    try:
        pipe = Pipeline(pg_url, url, prefix, tmp_path)
        with pipe.app.app_context():
            db.create_all()
            pipe.site_id = accounts.create_site("example.com").id
            yield pipe
            db.session.remove()
            db.engine.dispose()
    finally:
        if pipe is not None:
            pipe.close()
        drop()


# --- a. SIGKILL mid-flush --------------------------------------------------------------------

def leave_orphans():
    """Two batches as a worker dies with them, deterministically: one killed after its sessions
    were assigned but before the commit, one killed after the commit but before the ack."""
    runtime = ingest()
    assigned = runtime.buffer.claim(BATCH_SIZE)
    with mock.patch.object(db.session, "commit", side_effect=RuntimeError("killed")):
        with pytest.raises(RuntimeError):
            persist_batch(runtime, assigned)
    db.session.rollback()
    committed = runtime.buffer.claim(BATCH_SIZE)
    assert persist_batch(runtime, committed)["stored"] == BATCH_SIZE
    return assigned, committed


def test_workers_killed_mid_flush_lose_and_double_count_nothing(pipeline):
    assert not ingest().embedded  # the test's app pushes to the workers' Redis buffer
    traffic = Traffic(pipeline.site_id, seed=1)
    push(traffic, 6000)
    orphans = leave_orphans()
    buffer, rng = pipeline.buffer, random.Random(20261120)
    busy_kills = 0
    for round_ in range(6):
        if buffer.backlog() < 3000:  # always work in flight when the kill comes
            push(traffic, 3000)
        started = time.time()
        worker = pipeline.worker().wait_ready()
        if round_ % 2:  # the other half land amid steady flushing, not in the first batch
            at_start = buffer.backlog()
            wait_for(lambda: buffer.backlog() < at_start, 30, "the worker's first batch")
        time.sleep(rng.uniform(0.05, 0.5))
        worker.kill()
        # A batch this worker claimed (or took over) and never acknowledged: a kill mid-flush.
        stamps = buffer.redis.hgetall(buffer.batches).values()
        busy_kills += any(float(stamp) >= started for stamp in stamps)
    assert busy_kills >= 3
    last = pipeline.worker().wait_ready()
    pipeline.wait_drained()
    assert last.stop() == 0
    assert "ibex worker: stopped" in last.stdout
    assert_exactly_once(traffic, buffer)
    ledger = {batch.id: batch.num_hits for batch in db.session.scalars(select(IngestBatch))}
    assert [ledger.get(batch.id) for batch in orphans] == [BATCH_SIZE, BATCH_SIZE]


# --- b. several workers on one buffer --------------------------------------------------------

@pytest.mark.parametrize("workers", [2, 3])
def test_concurrent_workers_drain_one_buffer_exactly_once(pipeline, workers):
    """Side by side, the workers claim different batches and upsert the same rollup rows; they
    must neither double-count nor deadlock (three of them reliably did, before rows were
    written in key order)."""
    traffic = Traffic(pipeline.site_id, seed=2)
    running = [pipeline.worker() for _ in range(workers)]
    for worker in running:
        worker.wait_ready()
    for _ in range(8):  # pushed while they drain, so they claim batches side by side
        push(traffic, 1000)
        time.sleep(0.05)
    pipeline.wait_drained()
    assert [worker.stop() for worker in running] == [0] * workers
    assert_exactly_once(traffic, pipeline.buffer)
    for worker in running:
        assert "Traceback" not in worker.stderr, worker.stderr  # e.g. DeadlockDetected


# --- c. the database unreachable for a while -------------------------------------------------

class TcpProxy:
    """127.0.0.1:<port> forwarding to ``upstream``. down() closes the listener and every open
    connection, so connecting is refused, until up() listens on the same port again."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = 0
        self._sockets = set()
        self._lock = threading.Lock()
        self._stop = None
        self._acceptor = None
        self.up()

    def up(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, args=(listener, self._stop),
                                          daemon=True)
        self._acceptor.start()

    def down(self):
        self._stop.set()
        self._acceptor.join(timeout=5)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _accept(self, listener, stop):
        with listener:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                    server.settimeout(None)
                except OSError:
                    _close(client)
                    continue
                with self._lock:
                    self._sockets.update((client, server))
                for source, target in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.difference_update((source, target))
            _close(source)
            _close(target)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv()
    except OSError:
        pass
    sock.close()


def test_worker_survives_the_database_going_away(pipeline):
    database = urlsplit(pipeline.pg_url)
    proxy = TcpProxy((database.hostname, database.port or 5432))
    try:
        credentials = database.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
        proxied = database._replace(netloc=netloc).geturl()
        traffic = Traffic(pipeline.site_id, seed=3)
        worker = pipeline.worker(DATABASE_URL=proxied).wait_ready()
        push(traffic, 1000)
        pipeline.wait_drained()
        persisted = traffic.count
        push(traffic, 2000)
        time.sleep(0.1)  # the worker is mid-stream when the connections drop
        proxy.down()
        outage_end = time.monotonic() + 3
        while time.monotonic() < outage_end:
            push(traffic, 200)
            time.sleep(0.25)
        assert worker.proc.poll() is None, worker.stderr
        assert pipeline.buffer.backlog() > 0
        proxy.up()
        pipeline.wait_drained()
        assert worker.proc.poll() is None, worker.stderr
        assert "persisting a batch failed; it stays buffered and is retried" in worker.stderr
        assert worker.stop() == 0
        assert traffic.count > persisted + 2000
        assert_exactly_once(traffic, pipeline.buffer)
    finally:
        proxy.down()


# --- d. the embedded default: flush at shutdown ----------------------------------------------

def test_embedded_shutdown_persists_what_is_still_buffered(tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/ibex.db",
                "IBEX_INSTANCE_DIR": str(tmp_path / "instance"), "EMBEDDED_PERSISTER": "true"}
    cfg = config.TestingConfig(env=settings)
    cfg.PERSIST_INTERVAL = 60.0  # TestingConfig pins 0.05 whatever the environment says
    app = create_app(cfg)
    with app.app_context():
        db.create_all()
        runtime = ingest()
        try:
            assert runtime.embedded and runtime.interval == 60.0
            traffic = Traffic(accounts.create_site("example.com").id, seed=4)
            runtime.push(*traffic.hits(500))  # fewer than a batch: waits for the interval
            assert runtime._thread is not None and runtime._thread.is_alive()
            time.sleep(0.5)
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(Hit)) == 0
            assert runtime.buffer.backlog() == 500
            runtime.shutdown()
            assert not runtime._thread.is_alive()
            assert runtime.buffer.backlog() == 0
            assert_exactly_once(traffic)
            runtime.shutdown()  # again (atexit does): nothing twice
            assert_exactly_once(traffic)
        finally:
            atexit.unregister(runtime.shutdown)
            runtime.shutdown()
            db.session.remove()
            db.engine.dispose()


def test_embedded_thread_persists_a_full_batch_without_waiting(tmp_path):
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/ibex.db",
                "IBEX_INSTANCE_DIR": str(tmp_path / "instance"), "EMBEDDED_PERSISTER": "true",
                "PERSIST_BATCH_SIZE": "100"}
    cfg = config.TestingConfig(env=settings)
    cfg.PERSIST_INTERVAL = 60.0
    app = create_app(cfg)
    with app.app_context():
        db.create_all()
        runtime = ingest()
        try:
            traffic = Traffic(accounts.create_site("example.com").id, seed=5)
            runtime.push(*traffic.hits(250))
            wait_for(lambda: runtime.buffer.backlog() == 0, 20, "the background thread")
            assert_exactly_once(traffic)
        finally:
            atexit.unregister(runtime.shutdown)
            runtime.shutdown()
            db.session.remove()
            db.engine.dispose()


# --- e. no Redis, no worker ------------------------------------------------------------------

def test_worker_without_redis_exits_with_a_clear_message(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "FLASK_APP": "wsgi", "IBEX_CONFIG": "production", "SECRET_KEY": SECRET_KEY,
           "DATABASE_URL": f"sqlite:///{tmp_path}/ibex.db",
           "IBEX_INSTANCE_DIR": str(tmp_path / "instance"), "SESSION_COOKIE_SECURE": "false"}
    result = subprocess.run([str(FLASK), "worker"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "Error: REDIS_URL is not set" in result.stderr
    assert "flask worker` is for production" in result.stderr
    assert "Traceback" not in result.stderr
    assert "persisting every" not in result.stdout

