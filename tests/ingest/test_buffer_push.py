"""The Redis buffer's hot-path push: synchronous (the records are in Redis when it returns), one
connection per thread, and it survives a dropped connection without losing or doubling a push."""
import threading

import redis as redis_lib

from app.ingest.buffer import RedisBuffer


def _buffer(redis_url):
    url, prefix = redis_url
    return RedisBuffer(redis_lib.Redis.from_url(url, client_name=prefix), prefix)


def test_each_push_is_in_redis_when_it_returns(redis_url):
    buffer = _buffer(redis_url)
    buffer.push(["a"])
    assert buffer.redis.lrange(buffer.queue, 0, -1) == [b"a"]
    buffer.push(["b", "c"])
    assert buffer.redis.lrange(buffer.queue, 0, -1) == [b"a", b"b", b"c"]


def test_threads_push_concurrently_without_losing_records(redis_url):
    buffer = _buffer(redis_url)
    errors = []

    def push(thread):
        try:
            for n in range(50):
                buffer.push([f"{thread}:{n}"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=push, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    records = [item.decode() for item in buffer.redis.lrange(buffer.queue, 0, -1)]
    assert sorted(records) == sorted(f"{t}:{n}" for t in range(4) for n in range(50))
    for t in range(4):  # each thread's records in its own order
        assert [r for r in records if r.startswith(f"{t}:")] == [f"{t}:{n}" for n in range(50)]


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
