"""Background jobs: exports, imports, maintenance and their schedule. Job functions are
idempotent functions of ids; enqueue() runs them on RQ (production: REDIS_URL set, `flask
worker` executes them) or in the embedded default's background thread; progress() records
progress in the job's meta, and status() reads it back for the self-polling UI fragments."""
import threading
from dataclasses import dataclass, field

from flask import current_app

_LOCK = threading.Lock()


@dataclass
class JobState:
    """What the UI shows of a job: RQ's status name and the meta the job reported."""
    status: str                      # queued, started, finished, failed, (unknown)
    meta: dict = field(default_factory=dict)


def runtime(app=None):
    """The app's job runtime (created on first use; starting it spawns nothing)."""
    app = app or current_app._get_current_object()
    jobs = app.extensions.get("ibex_jobs")
    if jobs is None:
        with _LOCK:
            jobs = app.extensions.get("ibex_jobs")
            if jobs is None:
                from app.jobs.runner import EmbeddedJobs, RqJobs
                jobs = RqJobs(app) if app.config.get("REDIS_URL") else EmbeddedJobs(app)
                app.extensions["ibex_jobs"] = jobs
    return jobs


def enqueue(function, *args, job_id, description=None):
    """Run ``function(*args)`` in the background under the deterministic ``job_id`` (e.g.
    ``export-12``). Enqueueing an id that is still queued or running does nothing, so a
    double-clicked button or a retried request never runs a job twice at once."""
    return runtime().enqueue(function, *args, job_id=job_id, description=description)


def status(job_id):
    """The JobState of ``job_id``, or None when no job of that id is known (any more)."""
    return runtime().status(job_id)


def progress(**values):
    """Record progress of the running job in its meta (e.g. ``done=5000, total=10**6``);
    a no-op outside a job."""
    from app.jobs.runner import current_job
    job = current_job()
    if job is not None:
        job.meta.update(values)
        job.save_meta()
