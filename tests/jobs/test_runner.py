"""Where jobs run: a real RQ worker on the real Redis (in this process, and as `flask worker`
in a process of its own), the embedded default's background thread, deterministic job ids,
progress in job.meta, and the schedule enqueueing each period once across workers."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import accounts
from app.extensions import db
from app.ingest.hit_in import HitIn
from app.jobs import enqueue, exports, imports, runtime, schedule, status
from app.models import Export, Hit, Import
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
SECRET_KEY = "ibex-job-tests-secret-key-0123456789abcdef"


def wait_for(condition, timeout=30, what="the job"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def fresh(model, ident):
    db.session.rollback()
    return db.session.get(model, ident)


@pytest.fixture
def rq_app(redis_app):
    """An app that queues jobs on the real Redis (tests/conftest.py's redis_app)."""
    return redis_app


def seed(site_id, n=30):
    from app.ingest import ingest
    ingest().push(*(HitIn(site_id=site_id, path=f"/p{i % 4}", family="gc-api", no_session=True,
                          created_at=1_700_000_000 + i) for i in range(n)))
    ingest().flush()


def test_a_real_rq_worker_runs_exports_and_imports(rq_app, site):
    jobs = runtime()
    assert not jobs.embedded
    seed(site.id)
    export = exports.start_export(site)
    job_id = exports.job_id(export.id)
    assert status(job_id).status == "queued"
    enqueue(exports.export_site, export.id, job_id=job_id)  # still queued: a no-op
    assert jobs.queue.count == 1

    assert jobs.worker().work(burst=True) is True
    state = status(job_id)
    assert state.status == "finished" and state.meta == {"done": 30, "total": 30}
    done = fresh(Export, export.id)
    assert (done.num_rows, done.last_hit_id, done.error) == (30, 30, None)

    copy = accounts.create_site("copy.example")
    record = imports.local_file(copy, exports.file_path(done))
    imports.start_import(record)
    jobs.worker().work(burst=True)
    assert fresh(Import, record.id).num_imported == 30
    assert status(imports.job_id(record.id)).meta == {"phase": "importing", "done": 30,
                                                      "total": 30}
    assert db.session.scalar(select(func.count()).select_from(Hit)
                             .where(Hit.site_id == copy.id)) == 30


def test_a_failing_job_is_recorded_by_rq(rq_app, site):
    export = exports.start_export(site)
    os.makedirs(exports.file_path(export))  # the file cannot be put in place
    runtime().worker().work(burst=True)
    assert status(exports.job_id(export.id)).status == "failed"
    assert fresh(Export, export.id).error.startswith("export failed (")


HOURLY = ["delete-expired-exports", "delete-expired-sessions"]
DAILY = ["purge-expired-hits", "purge-bot-log"]


def test_the_schedule_enqueues_each_period_once_across_workers(rq_app):
    jobs = runtime()
    now = 1_800_000_000.0  # 08:00 UTC
    assert schedule.enqueue_due(jobs, now) == HOURLY + DAILY
    assert schedule.enqueue_due(jobs, now + 60) == []  # same hour: another worker's turn
    assert jobs.queue.count == 4
    assert schedule.enqueue_due(jobs, now + 3600) == HOURLY  # same day
    assert schedule.enqueue_due(jobs, now + 16 * 3600) == HOURLY + DAILY  # the next day
    jobs.worker().work(burst=True)
    for name, every in [(name, 3600) for name in HOURLY] + [(name, 86400) for name in DAILY]:
        assert status(f"{name}-{int(now // every)}").status == "finished", name


def test_the_embedded_thread_runs_jobs_without_redis(database_url, tmp_path, app, site):
    embedded = make_app(database_url, tmp_path, EMBEDDED_PERSISTER="1")
    with embedded.app_context():
        jobs = runtime()
        assert jobs.embedded and jobs.autostart
        seed(site.id, 5)
        export = exports.start_export(site)
        wait_for(lambda: fresh(Export, export.id).finished_at is not None)
        assert fresh(Export, export.id).num_rows == 5
        assert status(exports.job_id(export.id)).status == "finished"
        assert status(exports.job_id(export.id)).meta == {"done": 5, "total": 5}
        jobs.stop()
        db.session.remove()


def test_flask_worker_runs_jobs_and_stops_on_sigterm(rq_app, site, redis_url, database_url,
                                                     tmp_path):
    url, prefix = redis_url
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "PYTHONUNBUFFERED": "1", "FLASK_APP": "wsgi", "IBEX_CONFIG": "production",
           "SECRET_KEY": SECRET_KEY, "DATABASE_URL": database_url, "REDIS_URL": url,
           "REDIS_PREFIX": prefix, "PERSIST_INTERVAL": "0.05", "SESSION_COOKIE_SECURE": "false",
           "IBEX_INSTANCE_DIR": rq_app.instance_path}
    out, err = tmp_path / "worker.out", tmp_path / "worker.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        worker = subprocess.Popen([str(FLASK), "worker"], cwd=ROOT, env=env, stdout=stdout,
                                  stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "running jobs from queue" in out.read_text()
                 or worker.poll() is not None, what="the worker to start")
        assert worker.poll() is None, err.read_text()
        assert "ibex worker: persisting every" in out.read_text()
        from app.ingest import ingest
        ingest().push(*(HitIn(site_id=site.id, path="/w", family="gc-api", no_session=True)
                        for _ in range(3)))  # persisted by the worker's persister thread
        wait_for(lambda: db.session.scalar(select(func.count()).select_from(Hit)) == 3
                 or db.session.rollback(), what="the persister")
        export = exports.start_export(site)
        wait_for(lambda: fresh(Export, export.id).finished_at is not None, what="the export")
        assert fresh(Export, export.id).num_rows == 3
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0, err.read_text()
        assert out.read_text().rstrip().endswith("ibex worker: stopped")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_the_embedded_thread_runs_each_periodic_job_once_per_period(app):
    folder = exports.exports_dir()
    slots, now = {}, 1_800_000_000.0

    def stale_file(name):
        path = os.path.join(folder, name)
        open(path, "w").close()
        os.utime(path, (0, 0))
        return path
    first = stale_file("1-old.csv.gz")
    schedule.run_due_here(app, slots, now)
    assert not os.path.exists(first)
    assert slots == {**{name: int(now // 3600) for name in HOURLY},
                     **{name: int(now // 86400) for name in DAILY}}
    second = stale_file("2-old.csv.gz")
    schedule.run_due_here(app, slots, now + 600)  # same hour: not again
    assert os.path.exists(second)
    schedule.run_due_here(app, slots, now + 3600)
    assert not os.path.exists(second)
    assert slots == {**{name: int(now // 3600) + 1 for name in HOURLY},
                     **{name: int(now // 86400) for name in DAILY}}
