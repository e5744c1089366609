"""The stats benchmark's dataset: a year of realistic traffic (bench/stats/traffic.py, seeded)
loaded through the persister's bulk path (the embedded buffer drained by ``Ingest.drain``: the
same prepare_batch/persist_batch as ``flask worker``, in big batches) into a named database
that stays until dropped, so later benchmarks (the Umami stats API too) can reuse it.

    .venv/bin/python -m bench.stats.generate [--pageviews 1000000] [--backend postgresql|sqlite]
    .venv/bin/python -m bench.stats.generate --drop ibex_bench_stats_1m [--backend sqlite]
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import fields
from datetime import date

from app.ingest.hit_in import HitIn
from bench.ingest import common
from bench.stats.traffic import SITES, Traffic

SECRET_KEY = "ibex-stats-bench-dataset-secret-key-not-for-production"
OUT_DIR = os.environ.get("BENCH_OUT", os.path.join(common.ROOT, "instance", "bench"))
COMMENT = "ibex stats bench dataset: "


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pageviews", type=int, default=1_000_000,
                        help="human hits (pageviews + ~3 %% events) on the main site")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--name", help="database name (default ibex_bench_stats_<size>[_sqlite])")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--end", type=date.fromisoformat,
                        help="the day after the last one (default: today, UTC)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--slices", type=int, default=1,
                        help="load the year in this many parallel processes (time slices)")
    parser.add_argument("--load-slice", metavar="I/N", help=argparse.SUPPRESS)
    parser.add_argument("--force", action="store_true", help="rebuild even if it exists")
    parser.add_argument("--drop", metavar="NAME", help="drop this dataset and exit")
    opts = parser.parse_args(argv)
    if opts.drop:
        drop(opts.drop, opts.backend)
        return None
    name = opts.name or dataset_name(opts.pageviews, opts.backend)
    if opts.load_slice:
        return load_slice(name, opts)
    found = manifest(name)
    if found and found.get("complete") and exists(name, opts.backend) and not opts.force \
            and found["settings"]["pageviews"] == opts.pageviews:
        print(f"dataset {name} exists ({found['stored']['hits']:,} hits, seed "
              f"{found['settings']['seed']}); --force rebuilds it", flush=True)
        return found
    return build(name, opts)


def dataset_name(pageviews, backend="postgresql"):
    size = (f"{pageviews // 1_000_000}m" if pageviews % 1_000_000 == 0 else
            f"{pageviews // 1000}k" if pageviews % 1000 == 0 else str(pageviews))
    return f"ibex_bench_stats_{size}" + ("_sqlite" if backend == "sqlite" else "")


def database_url(name, backend):
    if backend == "sqlite":
        return "sqlite:///" + os.path.join(OUT_DIR, name + ".sqlite3")
    return f"{common.PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def manifest_path(name):
    return os.path.join(OUT_DIR, f"stats-dataset-{name}.json")


def manifest(name):
    try:
        with open(manifest_path(name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def exists(name, backend):
    if backend == "sqlite":
        return os.path.exists(database_url(name, backend)[len("sqlite:///"):])
    import psycopg
    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() \
            is not None


def drop(name, backend):
    if backend == "sqlite":
        path = database_url(name, backend)[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    else:
        import psycopg
        with psycopg.connect(common.PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if os.path.exists(manifest_path(name)):
        os.remove(manifest_path(name))
    print(f"dropped {name}", flush=True)


def app_env(url):
    env = common.base_env()
    env.update({"IBEX_CONFIG": "production", "SECRET_KEY": SECRET_KEY, "DATABASE_URL": url})
    return env


def make_app(url, **env):
    """A production-config app on ``url`` without Redis: the in-process buffer, drained here
    (the embedded persister thread stays off)."""
    import config
    from app import create_app
    settings = config.ProductionConfig({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
                                        "IBEX_INSTANCE_DIR": os.path.join(OUT_DIR, "instance"),
                                        **env})
    settings.EMBEDDED_PERSISTER = False
    return create_app(settings)


def build(name, opts):
    os.makedirs(OUT_DIR, exist_ok=True)
    if exists(name, opts.backend):
        drop(name, opts.backend)
    url = database_url(name, opts.backend)
    if opts.backend == "postgresql":
        import psycopg
        with psycopg.connect(common.PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    common.flask(app_env(url), "db", "upgrade")
    traffic = Traffic(opts.pageviews, opts.seed, opts.days, opts.end)
    opts.end = traffic.end.date()
    print(f"{name}: {opts.pageviews:,} pageviews over {opts.days} days from {traffic.start:%Y-%m-%d}"
          f" (seed {opts.seed}), batches of {opts.batch_size:,}, {opts.slices} process(es), set "
          f"up in {time.monotonic() - started:.0f} s", flush=True)
    app = make_app(url)
    meter = common.CpuMeter()
    with app.app_context():
        site_ids = create_sites(traffic)
        if opts.slices > 1 and opts.backend == "postgresql":  # SQLite has one writer
            result = load_in_slices(name, opts)
        else:
            result = load(app, traffic.hits(), site_ids, opts.batch_size, progress=_progress)
        stored = count_rows(opts.backend)
    busy = meter.busy_seconds() / max(result["seconds"] * os.cpu_count(), 1) * 100
    data = {"name": name, "backend": opts.backend, "url": url, "complete": True,
            "settings": {key: str(value) if isinstance(value, date) else value
                         for key, value in vars(opts).items() if key not in ("force", "drop")},
            "sites": site_rows(app, site_ids),
            "traffic": traffic.describe(), "stored": stored,
            "load": {**result, "hits_per_second": round(result["pushed"] / result["seconds"]),
                     "machine_cpu_busy_pct": round(busy, 1)},
            "machine": common.machine(timed=False)}
    if opts.backend == "postgresql":
        import psycopg
        with psycopg.connect(common.PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            comment = COMMENT + json.dumps({"seed": opts.seed, "pageviews": opts.pageviews})
            admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    common.write_json(manifest_path(name), data)
    print(f"{name}: {result['pushed']:,} hits pushed in {result['seconds']:.0f} s "
          f"({data['load']['hits_per_second']:,} hits/s; CPUs {busy:.0f} % busy); stored "
          f"{stored['hits']:,} hits, {stored['sessions']:,} sessions; manifest "
          f"{manifest_path(name)}", flush=True)
    return data


def load_in_slices(name, opts):
    """Load the year in ``opts.slices`` child processes, one time slice each, at once. Their
    batches touch different hours and days, so their rollup upserts do not meet; sessions do
    not cross a slice boundary (a few visits around its midnight are split)."""
    started = time.monotonic()
    args = [sys.executable, "-m", "bench.stats.generate", "--name", name, "--backend",
            opts.backend, "--pageviews", str(opts.pageviews), "--seed", str(opts.seed), "--days",
            str(opts.days), "--end", opts.end.isoformat(), "--batch-size", str(opts.batch_size)]
    children = [subprocess.Popen(args + ["--load-slice", f"{index}/{opts.slices}"],
                                 cwd=common.ROOT, stdout=subprocess.PIPE, text=True,
                                 preexec_fn=common.die_with_parent)
                for index in range(opts.slices)]
    pushed = 0
    for child in children:
        lines = []
        for line in child.stdout:
            print(line, end="", flush=True) if not line.startswith("{") else lines.append(line)
        if child.wait() != 0 or not lines:
            raise RuntimeError(f"slice process {child.pid} failed ({child.returncode})")
        pushed += json.loads(lines[-1])["pushed"]
    return {"pushed": pushed, "seconds": round(time.monotonic() - started, 1),
            "processes": opts.slices}


def load_slice(name, opts):
    """One child of load_in_slices: its days, into the sites the parent made."""
    from app.extensions import db
    from app.models import Site
    index, count = (int(part) for part in opts.load_slice.split("/"))
    traffic = Traffic(opts.pageviews, opts.seed, opts.days, opts.end)
    days = traffic.slice_days(index, count)
    app = make_app(database_url(name, opts.backend))
    with app.app_context():
        ids = dict(db.session.query(Site.cname, Site.id).all())
        site_ids = [ids[domain] for domain in SITES]
        db.session.rollback()   # no transaction left open: it would hold back vacuum all along

        def progress(persisted, seconds, created_at):
            print(f"[slice {index + 1}/{count}, days {days[0]}-{days[1] - 1}]", end="")
            _progress(persisted, seconds, created_at)
        result = load(app, traffic.hits(days), site_ids, opts.batch_size, progress=progress)
    print(json.dumps(result), flush=True)
    return result


def create_sites(traffic):
    """The two sites, created at the dataset's start (app.clock frozen there) as a site that
    has been collecting for the whole year would have been. The main one also collects
    languages and regions of every country (GoatCounter's defaults: neither, regions of three
    countries), so every stats page has data to read."""
    from app import accounts, clock
    from app.extensions import db
    from app.models.sites import COLLECT_DEFAULT, Collect
    clock.freeze(traffic.start)
    try:
        sites = [accounts.create_site(domain, name=domain) for domain in SITES]
        accounts.update_site(sites[0], settings={"collect": COLLECT_DEFAULT | Collect.LANGUAGE,
                                                 "collect_regions": []})
        ids = [site.id for site in sites]
        db.session.rollback()   # no transaction left open: it would hold back vacuum all along
        return ids
    finally:
        clock.freeze(None)


def site_rows(app, site_ids):
    from app.extensions import db
    from app.models import Site
    with app.app_context():
        return [{"id": site.id, "uuid": str(site.uuid), "domain": site.cname}
                for site in db.session.query(Site).filter(Site.id.in_(site_ids)).order_by(Site.id)]


def count_rows(backend):
    from sqlalchemy import text

    from app.extensions import db
    db.session.rollback()
    with db.engine.connect() as conn:
        counts = {name: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                  for name, table in (("hits", "hits"), ("bot_hits", "bot_hits"),
                                      ("sessions", "visitor_sessions"), ("paths", "paths"),
                                      ("refs", "refs"))}
        counts["events"] = conn.execute(text(
            "SELECT count(*) FROM hits JOIN paths ON paths.id = hits.path_id WHERE paths.event"
        )).scalar()
        counts["first_visits"] = conn.execute(text(
            "SELECT count(*) FROM hits WHERE first_visit")).scalar()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))   # fresh planner statistics for the latency runs
    return counts


# --- loading through the persister -----------------------------------------------------------

_CREATED_AT = [field.name for field in fields(HitIn)].index("created_at")


def load(app, hits, site_ids, batch_size, progress=None, backlog_batches=3):
    """Push ``hits`` ((site index, HitIn) in time order) into the app's in-process buffer in
    batches of ``batch_size`` while a thread drains it with ``Ingest.drain`` (which prepares the
    next batch while the current one is written). Sessions run on the hits' clock (see
    HistoricalSessions). Returns {"pushed", "seconds"}; re-raises the persister's error."""
    from app.extensions import db
    from app.ingest.buffer import MemoryBuffer
    from app.ingest.service import transient
    from app.ingest.sessions import MemorySessions

    class HistoricalSessions(MemorySessions):
        """Session expiry (8 hours) on the clock of the hits being loaded, not the wall clock:
        a year loaded in minutes would otherwise never expire a session, so a visitor coming
        back weeks later would continue an old session and the map would grow without end.
        ``now`` is the newest hit of the batch being prepared, set when it is claimed."""
        now = 0.0

        def assign(self, batch_id, requests, now=None):
            return super().assign(batch_id, requests, self.now if now is None else now)

    class HistoricalBuffer(MemoryBuffer):
        def claim(self, max_records):
            batch = super().claim(max_records)
            if batch is not None and batch.records:
                created = json.loads(batch.records[-1])[_CREATED_AT]
                runtime.sessions.now = max(runtime.sessions.now, created)
            return batch

    runtime = app.extensions["ingest"]
    runtime.sessions, runtime.buffer = HistoricalSessions(), HistoricalBuffer()
    runtime.batch_size = batch_size
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)   # as `flask worker`: the writer gets the GIL back quickly
    done, failed = threading.Event(), []

    def drain_loop():
        retries = 0
        try:
            with app.app_context():
                while not (done.is_set() and runtime.buffer.backlog() == 0):
                    runtime.buffer.pushed.wait(0.2)
                    runtime.buffer.pushed.clear()
                    try:
                        runtime.drain()
                    except Exception as exc:   # as Ingest.run: a deadlock is retried
                        retries += 1
                        if not transient(exc) or retries > 20:
                            raise
                        db.session.rollback()
                        time.sleep(0.5)
        except BaseException as exc:  # handed to the pushing thread
            failed.append(exc)

    writer = threading.Thread(target=drain_loop, name="stats-bench-drain", daemon=True)
    started = time.monotonic()
    writer.start()
    pushed, chunk, last_report, last_at = 0, [], started, 0.0
    try:
        for site, hit in hits:
            hit.site_id = site_ids[site]
            chunk.append(hit.to_wire())
            if len(chunk) < batch_size:
                continue
            while runtime.buffer.backlog() >= backlog_batches * batch_size and not failed:
                time.sleep(0.01)
            if failed:
                break
            runtime.buffer.push(chunk)
            pushed, chunk, last_at = pushed + len(chunk), [], hit.created_at
            if progress and time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                progress(pushed - runtime.buffer.backlog(), last_report - started, last_at)
        if chunk and not failed:
            runtime.buffer.push(chunk)
            pushed += len(chunk)
    finally:
        done.set()
        runtime.buffer.pushed.set()
        writer.join()
        sys.setswitchinterval(previous_interval)
    if failed:
        raise failed[0]
    return {"pushed": pushed, "seconds": round(time.monotonic() - started, 1)}


def _progress(persisted, seconds, created_at):
    day = time.strftime("%Y-%m-%d", time.gmtime(created_at))
    print(f"  {seconds:6.0f} s: {persisted:,} hits persisted ({persisted / seconds:,.0f}/s), "
          f"up to {day}", flush=True)


if __name__ == "__main__":
    main()
