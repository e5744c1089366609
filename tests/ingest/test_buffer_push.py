"""The Redis buffer's hot-path push: synchronous (the records are in Redis when it returns),
concurrent pushes of a process share one RPUSH (group commit) on one connection, a failed RPUSH
fails every push it carried, and it survives a dropped connection or a fork without losing or
doubling a push."""
import os
import threading
import time

import pytest
import redis as redis_lib

from app.ingest.buffer import RedisBuffer


def _buffer(redis_url):
    url, prefix = redis_url
    return RedisBuffer(redis_lib.Redis.from_url(url, client_name=prefix), prefix)


def _stored(buffer):
    return [item.decode() for item in buffer.redis.lrange(buffer.queue, 0, -1)]


def _wait_until(condition, what):
    """Wait for another thread to reach a state (a synchronisation point, not a timing check:
    the deadline only turns a hang into a failure)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


class HeldRpush:
    """Wraps the buffer's RPUSH: records what each one carried, and holds the first one (after
    it reached Redis, or before sending when ``fail`` says so) until released, so that other
    pushes queue up behind it meanwhile. ``fail(n)`` may raise for the n-th RPUSH."""

    def __init__(self, buffer, fail=None):
        self.buffer, self.fail = buffer, fail
        self.original = buffer._rpush
        self.sent = []
        self.entered, self.release = threading.Event(), threading.Event()
        buffer._rpush = self

    def __call__(self, connection, records):
        number = len(self.sent)
        self.sent.append(list(records))
        result = self.original(connection, records)
        if number == 0:
            self.entered.set()
            assert self.release.wait(30)
        if self.fail:
            self.fail(number)
        return result

    def queued(self):
        return len(self.buffer._state().pending.records)


def _start(target, *args):
    thread = threading.Thread(target=target, args=args)
    thread.start()
    return thread


def _pushing(buffer, records, errors):
    def push():
        try:
            buffer.push(records)
        except Exception as exc:
            errors.append((records, exc))
    return push


def test_each_push_is_in_redis_when_it_returns(redis_url):
    buffer = _buffer(redis_url)
    buffer.push(["a"])
    assert buffer.redis.lrange(buffer.queue, 0, -1) == [b"a"]
    buffer.push(["b", "c"])
    assert buffer.redis.lrange(buffer.queue, 0, -1) == [b"a", b"b", b"c"]


def test_a_dropped_connection_is_reopened_and_the_push_lands_once(redis_url):
    buffer = _buffer(redis_url)
    buffer.push(["before"])
    admin = redis_lib.Redis.from_url(redis_url[0])
    ours = [c["id"] for c in admin.client_list() if c["name"] == redis_url[1]]
    assert ours
    for client_id in ours:  # only this test's connections (other tests may share the server)
        admin.client_kill_filter(_id=client_id)
    buffer.push(["after"])
    assert buffer.redis.lrange(buffer.queue, 0, -1) == [b"before", b"after"]
    admin.close()


def test_a_lone_push_is_sent_at_once_in_a_group_of_its_own(redis_url):
    buffer = _buffer(redis_url)
    held = HeldRpush(buffer)
    held.release.set()  # nothing held: a lone push must not wait for company
    buffer.push(["lone"])
    assert held.sent == [["lone"]]
    assert _stored(buffer) == ["lone"]
    buffer.push([])  # nothing to send: no RPUSH (Redis refuses an RPUSH without values)
    assert held.sent == [["lone"]]


def test_pushes_that_arrive_during_an_rpush_share_the_next_one(redis_url):
    buffer = _buffer(redis_url)
    held = HeldRpush(buffer)
    errors = []
    leader = _start(_pushing(buffer, ["first"], errors))
    assert held.entered.wait(30)
    followers = [_start(_pushing(buffer, [f"f{n}a", f"f{n}b"], errors)) for n in range(6)]
    _wait_until(lambda: held.queued() == 12, "the followers to queue their records")
    assert all(thread.is_alive() for thread in followers)  # they wait for their RPUSH
    held.release.set()
    for thread in [leader, *followers]:
        thread.join(timeout=30)
    assert not errors
    assert len(held.sent) == 2  # the leader's own, then one RPUSH for all six followers
    assert held.sent[0] == ["first"]
    assert sorted(held.sent[1]) == sorted(f"f{n}{x}" for n in range(6) for x in "ab")
    for n in range(6):  # a push's records stay together and in order
        at = held.sent[1].index(f"f{n}a")
        assert held.sent[1][at + 1] == f"f{n}b"
    assert _stored(buffer) == held.sent[0] + held.sent[1]


def test_many_threads_land_every_record_once_in_each_threads_order(redis_url):
    buffer = _buffer(redis_url)
    held = HeldRpush(buffer)
    held.release.set()
    errors = []

    def push(thread):
        try:
            for n in range(100):
                buffer.push([f"{thread}:{n}"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [_start(push, t) for t in range(16)]
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    records = _stored(buffer)
    assert sorted(records) == sorted(f"{t}:{n}" for t in range(16) for n in range(100))
    assert records == [record for group in held.sent for record in group]  # as the RPUSHes sent
    for t in range(16):
        assert [r for r in records if r.startswith(f"{t}:")] == [f"{t}:{n}" for n in range(100)]
    assert buffer._state().pending.records == [] and not buffer._state().sending


@pytest.mark.parametrize("applied", [True, False], ids=["reply-lost", "not-sent"])
def test_a_failed_rpush_fails_every_push_it_carried_and_none_lands_twice(redis_url, applied):
    buffer = _buffer(redis_url)

    def fail(number):
        if number == 1:
            raise redis_lib.ConnectionError("connection lost")
    held = HeldRpush(buffer, fail=fail)
    if not applied:  # the failing RPUSH never reaches Redis
        original = held.original
        held.original = lambda connection, records: (
            None if len(held.sent) == 2 else original(connection, records))
    errors = []
    leader = _start(_pushing(buffer, ["first"], errors))
    assert held.entered.wait(30)
    followers = [_start(_pushing(buffer, [f"f{n}"], errors)) for n in range(5)]
    _wait_until(lambda: held.queued() == 5, "the followers to queue their records")
    held.release.set()
    for thread in [leader, *followers]:
        thread.join(timeout=30)
    assert len(held.sent) == 2 and sorted(held.sent[1]) == [f"f{n}" for n in range(5)]
    # The leader's group succeeded; every push of the failed group raised the RPUSH's error.
    assert sorted(records[0] for records, _ in errors) == [f"f{n}" for n in range(5)]
    assert all(isinstance(exc, redis_lib.ConnectionError) for _, exc in errors)
    stored = _stored(buffer)
    assert stored == (["first", *held.sent[1]] if applied else ["first"])
    # Nothing is retried; the next push reconnects and lands once.
    buffer.push(["next"])
    assert _stored(buffer) == stored + ["next"]
    assert held.sent[2:] == [["next"]]


def test_a_forked_child_pushes_on_a_connection_of_its_own(redis_url):
    buffer = _buffer(redis_url)
    buffer.push(["parent"])
    parent_state = buffer._state()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            buffer.push(["child"])
            state = buffer._state()
            fresh = state is not parent_state and state.connection is not parent_state.connection
            code = 0 if fresh else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    buffer.push(["parent again"])
    assert buffer._state() is parent_state
    assert _stored(buffer) == ["parent", "child", "parent again"]
