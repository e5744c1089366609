"""The job side of `flask worker`: an RQ worker in the process's main thread (it owns the
SIGTERM/SIGINT handling) and the schedule in a thread, next to the persister thread that
cli.worker starts. One shared stop event ends them all."""
from app.jobs import runtime, schedule


def run(app, stop, before=None):
    """Run RQ jobs and the schedule until a signal arrives (or ``stop`` is set): the current
    job is finished first. ``before()`` is called once the worker is ready to take signals."""
    jobs = runtime(app)
    worker = jobs.worker(stop)
    scheduler = schedule.start(jobs, stop)
    if before is not None:
        before()
    try:
        # The ready message may have raced a signal: the loop checks ``stop`` before each job.
        worker.work(logging_level="WARNING")
    finally:
        stop.set()
        scheduler.join(timeout=5)
    return worker


def queue_name(app):
    return runtime(app).queue.name

