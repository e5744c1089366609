"""SiteDirectory reloads: a stale snapshot is reloaded by one thread while the others keep
answering from it; a missing or invalidated one makes callers wait for a fresh load, and
invalidate() is never undone by a reload that began before it. No database: ``_load`` is
replaced by a counter whose loads can be held."""
import threading
import time

from app.ingest.sites import SiteDirectory, Snapshot


class Loads:
    """Stands in for SiteDirectory._load: numbered snapshots; ``hold`` makes the next load
    wait (after announcing itself) until ``release`` is set."""

    def __init__(self, directory):
        self.count = 0
        self.hold = False
        self.entered, self.release = threading.Event(), threading.Event()
        directory._load = self

    def __call__(self):
        self.count += 1
        number = self.count
        if self.hold:
            self.hold = False
            self.entered.set()
            assert self.release.wait(30)
        snapshot = Snapshot(by_id={}, by_cname={}, by_uuid={}, by_code={}, by_domain={},
                            global_networks=[], loaded_at=time.monotonic())
        snapshot.number = number
        return snapshot


def _in_thread(function):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", function()))
    thread.start()
    return thread, result


def _finish(thread, result):
    thread.join(timeout=30)
    assert not thread.is_alive()
    return result["value"]


def _stale(directory):
    directory._snapshot.loaded_at = float("-inf")


def test_the_first_load_is_shared_and_a_fresh_snapshot_is_reused():
    directory = SiteDirectory(ttl=3600)
    loads = Loads(directory)
    first = directory.snapshot()
    assert first.number == 1
    assert directory.snapshot() is first and loads.count == 1


def test_a_stale_snapshot_is_reloaded_by_one_thread_while_others_use_the_old_one():
    directory = SiteDirectory(ttl=3600)
    loads = Loads(directory)
    old = directory.snapshot()
    _stale(directory)
    loads.hold = True
    reloader = _in_thread(directory.snapshot)
    assert loads.entered.wait(30)
    # While the reload is under way, other calls answer at once from the old snapshot.
    others = [_in_thread(directory.snapshot) for _ in range(4)]
    assert all(_finish(*other) is old for other in others)
    assert directory.snapshot() is old
    loads.release.set()
    new = _finish(*reloader)
    assert new.number == 2 and loads.count == 2  # one reload, not one per caller
    assert directory.snapshot() is new


def test_invalidate_makes_the_next_call_wait_for_a_load_begun_after_it():
    directory = SiteDirectory(ttl=3600)
    loads = Loads(directory)
    directory.snapshot()
    _stale(directory)
    loads.hold = True
    reloader = _in_thread(directory.snapshot)  # a reload begun before the site edit …
    assert loads.entered.wait(30)
    directory.invalidate()                        # … then the edit's invalidate()
    waiting = _in_thread(directory.snapshot)
    loads.release.set()
    assert _finish(*reloader).number == 2         # the early reload's own caller gets its result
    assert _finish(*waiting).number == 3          # the next call does not: it loads afresh
    assert directory.snapshot().number == 3 and loads.count == 3


def test_invalidate_without_a_reload_under_way():
    directory = SiteDirectory(ttl=3600)
    loads = Loads(directory)
    assert directory.snapshot().number == 1
    directory.invalidate()
    assert directory.snapshot().number == 2
    assert directory.snapshot().number == 2 and loads.count == 2


def test_ttl_zero_loads_on_every_call():
    directory = SiteDirectory(ttl=0.0)
    loads = Loads(directory)
    assert [directory.snapshot().number for _ in range(3)] == [1, 2, 3]
    assert loads.count == 3
