"""The periodic jobs, as one table. `flask worker` enqueues each entry once per period across
all workers (a Redis key per time slot decides which worker does); the embedded default runs
the entries in its job thread. Periods are wall-clock slots: "every 3600 s" runs once in each
UTC hour."""
import importlib
import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("ibex.jobs")


@dataclass(frozen=True)
class Periodic:
    name: str          # also the job id prefix: <name>-<slot>
    every: int         # seconds
    function: str      # dotted path of a job function that takes no arguments


HOUR, DAY = 3600, 86400
SCHEDULE = (
    Periodic("delete-expired-exports", HOUR, "app.jobs.maintenance.delete_expired_exports"),
    Periodic("delete-expired-sessions", HOUR, "app.jobs.maintenance.delete_expired_sessions"),
    Periodic("purge-expired-hits", DAY, "app.jobs.retention.purge_expired_hits"),
    Periodic("purge-bot-log", DAY, "app.jobs.maintenance.purge_bot_log"),
)


def resolve(path):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _slot(entry, now):
    return int(now // entry.every)


def enqueue_due(jobs, now=None):
    """Production: enqueue each entry whose current slot no worker has enqueued yet. Returns
    the names enqueued by this call."""
    now = time.time() if now is None else now
    enqueued = []
    for entry in SCHEDULE:
        slot = _slot(entry, now)
        claim = f"{jobs.prefix}:schedule:{entry.name}:{slot}"
        if jobs.redis.set(claim, "1", nx=True, ex=entry.every * 2):
            jobs.enqueue(resolve(entry.function), job_id=f"{entry.name}-{slot}",
                         description=entry.name)
            enqueued.append(entry.name)
    return enqueued


def run_due_here(app, slots, now=None):
    """Embedded default: run, in this thread, each entry whose slot differs from the one it
    last ran in (``slots``: name → slot, kept by the caller). Failures are logged."""
    from app.jobs.runner import LocalJob
    now = time.time() if now is None else now
    for entry in SCHEDULE:
        slot = _slot(entry, now)
        if slots.get(entry.name) == slot:
            continue
        slots[entry.name] = slot
        try:
            LocalJob(f"{entry.name}-{slot}", resolve(entry.function), ()).perform(app)
        except Exception:
            log.exception("periodic job %s failed", entry.name)


def run(jobs, stop, tick=30.0):
    """Production scheduler loop (a thread of `flask worker`) until ``stop`` is set."""
    while not stop.is_set():
        try:
            enqueue_due(jobs)
        except Exception:  # Redis away for a moment: try again next tick
            log.exception("could not enqueue the periodic jobs")
        stop.wait(tick)


def start(jobs, stop):
    thread = threading.Thread(target=run, args=(jobs, stop), name="ibex-schedule", daemon=True)
    thread.start()
    return thread
