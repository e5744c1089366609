"""Where jobs run: RQ on Redis (production; `flask worker` executes them with an app context
per job) or one background thread of the web process (the embedded default). Both give a job
``meta`` and ``save_meta()``, so job functions report progress the same way everywhere."""
import logging
import queue
import threading
from collections import OrderedDict

from rq import SimpleWorker, get_current_job
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job, JobStatus

from app.extensions import db
from app.jobs import JobState

log = logging.getLogger("ibex.jobs")
JOB_TIMEOUT = 6 * 3600          # seconds a job may run (a very large export or import)
RESULT_TTL = 24 * 3600          # how long RQ keeps a finished job (its meta feeds the UI)
FAILURE_TTL = 7 * 24 * 3600
SCHEDULE_TICK = 30.0            # seconds between checks of the schedule
_ACTIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
_local = threading.local()


def current_job():
    """The job running in this thread: an embedded or CLI job, else RQ's current job."""
    job = getattr(_local, "job", None)
    return job if job is not None else get_current_job()


class LocalJob:
    """A job run in this process (embedded thread or CLI) with RQ's meta interface;
    ``listener`` (CLI) is called with the meta on every save_meta()."""

    def __init__(self, job_id, function, args, description=None, listener=None):
        self.id, self.function, self.args = job_id, function, args
        self.description = description or job_id
        self.meta, self.status, self.listener = {}, "queued", listener

    def save_meta(self):
        if self.listener is not None:
            self.listener(dict(self.meta))

    def perform(self, app):
        """Run the job in a fresh app context; an exception marks it failed and is re-raised."""
        with app.app_context():
            _local.job, self.status = self, "started"
            try:
                self.function(*self.args)
            except Exception:
                self.status = "failed"
                db.session.rollback()
                raise
            else:
                self.status = "finished"
            finally:
                _local.job = None
                db.session.remove()


def run_now(function, *args, listener=None):
    """Run a job function in this thread as a job (the CLI), reporting progress to
    ``listener``. Exceptions propagate."""
    from flask import current_app
    LocalJob("local", function, args, listener=listener).perform(current_app._get_current_object())


class EmbeddedJobs:
    """The embedded default: jobs queue in memory and run one at a time in a background thread
    of the web process, which also runs the schedule. Job states are kept for the UI (the most
    recent ``KEEP``)."""

    embedded = True
    KEEP = 500

    def __init__(self, app):
        self.app = app
        self.autostart = app.config.get("EMBEDDED_JOBS", app.config.get("EMBEDDED_PERSISTER", True))
        self._jobs = OrderedDict()
        self._pending = queue.Queue()
        self._lock = threading.Lock()
        self._thread = None
        self._stop = threading.Event()
        self.schedule_slots = {}

    def enqueue(self, function, *args, job_id, description=None):
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status in ("queued", "started"):
                return job
            job = self._jobs[job_id] = LocalJob(job_id, function, args, description)
            self._jobs.move_to_end(job_id)
            while len(self._jobs) > self.KEEP:
                self._jobs.popitem(last=False)
        self._pending.put(job)
        if self.autostart:
            self.start()
        return job

    def status(self, job_id):
        job = self._jobs.get(job_id)
        return None if job is None else JobState(job.status, dict(job.meta))

    def start(self):
        """Start the background thread (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ibex-jobs", daemon=True)
                self._thread.start()

    def _loop(self):
        from app.jobs import schedule
        while not self._stop.is_set():
            schedule.run_due_here(self.app, self.schedule_slots)
            try:
                job = self._pending.get(timeout=SCHEDULE_TICK)
            except queue.Empty:
                continue
            self._perform(job)

    def _perform(self, job):
        try:
            job.perform(self.app)
        except Exception:  # recorded on the job (and by the job on its record), as RQ would
            log.exception("job %s failed", job.id)

    def run_pending(self):
        """Run every queued job now in this thread (tests, shutdown); returns them."""
        done = []
        while True:
            try:
                job = self._pending.get_nowait()
            except queue.Empty:
                return done
            self._perform(job)
            done.append(job)

    def stop(self):
        self._stop.set()


class RqJobs:
    """Production: one RQ queue on Redis, named after REDIS_PREFIX; job ids carry the prefix
    too, so several Ibex installations (or test runs) can share one Redis."""

    embedded = False

    def __init__(self, app):
        import redis
        from rq import Queue
        self.app = app
        self.prefix = app.config["REDIS_PREFIX"]
        self.redis = redis.Redis.from_url(app.config["REDIS_URL"])
        self.queue = Queue(f"{self.prefix}-jobs", connection=self.redis)

    def job_key(self, job_id):
        return f"{self.prefix}-{job_id}"

    def _fetch(self, job_id):
        try:
            return Job.fetch(self.job_key(job_id), connection=self.redis)
        except NoSuchJobError:
            return None

    def enqueue(self, function, *args, job_id, description=None):
        existing = self._fetch(job_id)
        if existing is not None and existing.get_status(refresh=False) in _ACTIVE:
            return existing
        return self.queue.enqueue(function, *args, job_id=self.job_key(job_id),
                                  description=description or job_id, job_timeout=JOB_TIMEOUT,
                                  result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)

    def status(self, job_id):
        job = self._fetch(job_id)
        if job is None:
            return None
        state = job.get_status(refresh=False)
        return JobState(getattr(state, "value", state) or "unknown", dict(job.meta or {}))

    def worker(self, stop=None):
        return AppWorker([self.queue], connection=self.redis, app=self.app, stop=stop,
                         worker_ttl=WORKER_TTL)


# While idle, a worker wakes every WORKER_TTL - 15 seconds (RQ's dequeue timeout) to heartbeat
# and to notice a stop request it may have missed.
WORKER_TTL = 20


class AppWorker(SimpleWorker):
    """An RQ worker that runs each job in this process (no fork: the database pool and the
    persister threads of `flask worker` stay valid) inside a fresh Flask app context. ``stop``
    (a threading.Event) is shared with the process's other loops: a signal sets it, and a set
    event stops this worker after its current job."""

    def __init__(self, *args, app, stop=None, **kwargs):
        self.app = app
        self.stop_event = stop or threading.Event()
        super().__init__(*args, **kwargs)

    def perform_job(self, job, queue):
        with self.app.app_context():
            try:
                return super().perform_job(job, queue)
            finally:
                db.session.remove()

    def _install_signal_handlers(self):
        import signal

        def handler(signum, frame):
            self.stop_event.set()
            self.request_stop(signum, frame)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def check_for_suspension(self, burst):
        if self.stop_event.is_set():
            raise StopRequested()
        super().check_for_suspension(burst)

