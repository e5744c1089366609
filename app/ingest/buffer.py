"""The hit buffer between the hot path and the persister: a Redis list in production, an
in-process queue in the embedded default. Batches are claimed, persisted, then acknowledged, so
a crash at any point leaves the batch to be retried (the persister's ledger makes that safe)."""
import copy
import os
import select
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass


@dataclass
class Batch:
    id: str
    records: list          # wire-encoded HitIn records


class MemoryBuffer:
    """The embedded default's queue. A released batch keeps its id and is claimed again first."""

    def __init__(self):
        self._queue = deque()
        self._retry = deque()
        self._claimed = {}
        self._lock = threading.Lock()
        self.pushed = threading.Event()

    def push(self, records):
        with self._lock:
            self._queue.extend(records)
        self.pushed.set()

    def claim(self, max_records):
        with self._lock:
            if self._retry:
                batch = self._retry.popleft()
            elif self._queue:
                count = min(max_records, len(self._queue))
                batch = Batch(uuid.uuid4().hex, [self._queue.popleft() for _ in range(count)])
            else:
                return None
            self._claimed[batch.id] = batch
            return batch

    def heartbeat(self, batch):
        pass

    def ack(self, batch):
        with self._lock:
            self._claimed.pop(batch.id, None)

    def release(self, batch):
        """Persisting failed: retry the same batch (same id) before anything newer."""
        with self._lock:
            self._claimed.pop(batch.id, None)
            self._retry.append(batch)

    def stale_batches(self, older_than):
        return []

    def backlog(self):
        with self._lock:
            return (len(self._queue) + sum(len(b.records) for b in self._retry)
                    + sum(len(b.records) for b in self._claimed.values()))


# Move up to N records from the queue into a batch list and register the batch, atomically.
_CLAIM = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return items end
redis.call('LTRIM', KEYS[1], #items, -1)
redis.call('RPUSH', KEYS[2], unpack(items))
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return items
"""
# Take over a batch whose worker stopped heart-beating (compare-and-set on its timestamp).
_TAKEOVER = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return redis.call('LRANGE', KEYS[2], 0, -1)
"""


class RedisBuffer:
    """Redis list ``<prefix>:queue``; a claimed batch moves to ``<prefix>:batch:<id>`` and is
    registered in the hash ``<prefix>:batches`` (id → last heartbeat) until acknowledged."""

    def __init__(self, redis, prefix="ibex"):
        self.redis = redis
        self.queue = f"{prefix}:queue"
        self.batches = f"{prefix}:batches"
        self.batch_prefix = f"{prefix}:batch:"
        self._claim = redis.register_script(_CLAIM)
        self._takeover = redis.register_script(_TAKEOVER)
        self._group_state = None

    def push(self, records):
        """Synchronous: when it returns, the records are in Redis (DESIGN.md "Exactly once").
        Group commit: concurrent pushes of one process share one RPUSH. A thread that finds no
        RPUSH in flight sends at once — its records plus any queued meanwhile — and is that
        group's leader; a thread that arrives while one is in flight queues its records in the
        next group and waits. When an RPUSH returns, every caller in its group returns, or
        raises its error (nothing is retried: a failed RPUSH may have been applied). Only the
        leader touches the process's one connection; the ``sending`` flag, set and cleared
        under the lock, makes sure there is never more than one."""
        if not records:
            return
        state = self._state()
        with state.lock:
            group = state.pending
            group.records.extend(records)
            while state.sending and not group.done:
                state.changed.wait()
            if not group.done:  # nothing in flight and our group unsent: we lead it
                state.sending = True
                state.pending = _Group()
        if group.done:
            if group.error is not None:
                raise _copy(group.error) from group.error
            return
        try:
            self._send(state, group.records)
        except BaseException as exc:
            group.error = exc
            raise
        finally:
            with state.lock:
                group.done = True
                state.sending = False
                state.changed.notify_all()  # the group's followers, and the next group's

    def _send(self, state, records):
        connection = self._connection(state)
        connection.retry.call_with_retry(lambda: self._rpush(connection, records),
                                         lambda _: connection.disconnect())

    def _rpush(self, connection, records):
        connection.send_command("RPUSH", self.queue, *records)
        return connection.read_response()

    def _state(self):
        """The process's group-commit state, made anew in a forked child (gunicorn pre-forks):
        a child must not share the parent's connection, nor wait on the parent's groups."""
        state = self._group_state
        if state is None or state.pid != os.getpid():
            # Two threads of a new child may both get here; each then leads on a state of its
            # own and the first one is dropped once its groups are done: correct, just briefly
            # a second connection.
            state = self._group_state = _PushState()
        return state

    def _connection(self, state):
        """The state's connection (the leader's alone while it sends): one connection, not the
        pool per command, which skips the pool's lock and its per-command readiness check (two
        timeout changes and a read attempt) for one poll of the socket."""
        connection = state.connection
        if connection is None:
            pool = self.redis.connection_pool
            connection = state.connection = pool.connection_class(**pool.connection_kwargs)
        sock = connection._sock
        # As the pool checks a connection it lends: a reply is never pending between two
        # RPUSHes (a failed command disconnects), so a readable socket was closed by the server
        # (restart, idle timeout, CLIENT KILL): reconnect before sending, never after.
        if sock is not None and select.select([sock], [], [], 0)[0]:
            connection.disconnect()
        return connection

    def claim(self, max_records):
        batch_id = uuid.uuid4().hex
        items = self._claim(keys=[self.queue, self.batch_prefix + batch_id, self.batches],
                            args=[max_records, batch_id, repr(time.time())])
        if not items:
            return None
        return Batch(batch_id, [_text(item) for item in items])

    def heartbeat(self, batch):
        self.redis.hset(self.batches, batch.id, repr(time.time()))

    def ack(self, batch):
        pipe = self.redis.pipeline()
        pipe.delete(self.batch_prefix + batch.id)
        pipe.hdel(self.batches, batch.id)
        pipe.execute()

    def release(self, batch):
        """Keep the batch claimed (same id) but mark it stale so any worker may retry it."""
        self.redis.hset(self.batches, batch.id, "0")

    def stale_batches(self, older_than):
        """Batches whose worker has been silent for ``older_than`` seconds, taken over by us."""
        limit = time.time() - older_than
        taken = []
        for batch_id, stamp in self.redis.hgetall(self.batches).items():
            batch_id, stamp = _text(batch_id), _text(stamp)
            if float(stamp) > limit:
                continue
            items = self._takeover(keys=[self.batches, self.batch_prefix + batch_id],
                                   args=[batch_id, stamp, repr(time.time())])
            if items is None:
                continue  # another worker took it first
            taken.append(Batch(batch_id, [_text(item) for item in items]))
        return taken

    def backlog(self):
        pipe = self.redis.pipeline()
        pipe.llen(self.queue)
        pipe.hkeys(self.batches)
        queued, batch_ids = pipe.execute()
        pipe = self.redis.pipeline()
        for batch_id in batch_ids:
            pipe.llen(self.batch_prefix + _text(batch_id))
        return queued + sum(pipe.execute())


class _Group:
    """The records of the pushes that share one RPUSH, and its outcome."""
    __slots__ = ("records", "done", "error")

    def __init__(self):
        self.records = []
        self.done = False
        self.error = None


class _PushState:
    """One process's group commit: the group collecting records, whether an RPUSH is in flight
    (``sending``), and the connection its leader sends on."""

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.pending = _Group()
        self.sending = False
        self.connection = None


def _copy(error):
    """A copy of a group's error for each follower to raise (the same exception object raised in
    several threads at once would collect all their tracebacks)."""
    try:
        return copy.copy(error)
    except Exception:
        return error


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value
