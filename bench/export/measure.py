"""Export and import of N hits (default 1 M): the CSV export job of a site, then the import job
of its file into a fresh site, each run in a process of its own, with wall time and peak RSS
(target: < 150 MB, DESIGN.md). PostgreSQL (a throw-away database) and SQLite (a temporary
file). Hits are seeded straight into the tables (the persister has its own benchmark).

    .venv/bin/python -m bench.export.measure [--hits 1000000] [--backends postgresql,sqlite]
                                             [--json FILE]
"""
import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta

from bench.ingest.common import ROOT, pg_database, run_main, stop_on_signals

SECRET = "ibex-export-bench-secret-key-0123456789abcdef"
RSS_TARGET_MB = 150


def make_app(url, instance):
    import config
    from app import create_app
    return create_app(config.load("production", {
        "DATABASE_URL": url, "SECRET_KEY": SECRET, "IBEX_INSTANCE_DIR": instance,
        "SESSION_COOKIE_SECURE": "false"}))


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- seeding (parent process) -----------------------------------------------------------------

def seed(url, instance, hits, seed_value=2026):
    """Schema, two sites, and ``hits`` raw hits of the first (1,000 paths, 50 k sessions, a few
    browsers, systems, referrers and locations over 90 days). Returns (site id, copy id)."""
    from app import accounts
    from app.extensions import db
    from app.ingest.store import get_or_create, insert_rows
    from app.models import Browser, Hit, Path, Ref, System, VisitorSession
    rng = random.Random(seed_value)
    app = make_app(url, instance)
    with app.app_context():
        db.create_all()
        site = accounts.create_site("bench.example")
        copy = accounts.create_site("copy.example")
        paths = get_or_create(Path.__table__, ("site_id", "path_key"), {
            (site.id, f"/docs/page-{n}"): {"site_id": site.id, "path": f"/docs/page-{n}",
                                           "path_key": f"/docs/page-{n}",
                                           "title": f"Page {n}, a title", "event": n % 50 == 0}
            for n in range(1000)})
        browsers = get_or_create(Browser.__table__, ("name", "version"), {
            (name, str(v)): {"name": name, "version": str(v)}
            for name in ("Firefox", "Chrome", "Safari") for v in range(100, 110)})
        systems = get_or_create(System.__table__, ("name", "version"), {
            pair: {"name": pair[0], "version": pair[1]}
            for pair in (("Linux", ""), ("Windows", "10"), ("macOS", "14"), ("iOS", "17"))})
        refs = get_or_create(Ref.__table__, ("ref_key", "ref_scheme"), {
            (f"site-{n}.example/p", "h"): {"ref": f"site-{n}.example/p",
                                           "ref_key": f"site-{n}.example/p", "ref_scheme": "h"}
            for n in range(200)} | {("", "o"): {"ref": "", "ref_key": "", "ref_scheme": "o"}})
        start = datetime(2024, 1, 1)
        insert_rows(VisitorSession.__table__, [{
            "uuid": rng.randbytes(16), "site_id": site.id, "first_seen": start,
            "last_seen": start} for _ in range(50_000)])
        db.session.commit()
        session_ids = db.session.scalars(db.select(VisitorSession.id)).all()
        path_ids, browser_ids = list(paths.values()), list(browsers.values())
        system_ids, ref_ids = list(systems.values()), list(refs.values())
        locations = ["NL", "US-TX", "DE", "", "FR", "ID"]
        chunk = 50_000
        for offset in range(0, hits, chunk):
            rows = []
            for i in range(offset, min(hits, offset + chunk)):
                rows.append({
                    "site_id": site.id, "path_id": rng.choice(path_ids),
                    "ref_id": rng.choice(ref_ids), "url_id": None, "referrer_url_id": None,
                    "session_id": rng.choice(session_ids), "first_visit": rng.random() < 0.6,
                    "browser_id": rng.choice(browser_ids), "system_id": rng.choice(system_ids),
                    "campaign_id": None, "event_type": None, "width": rng.choice((None, 390, 1920)),
                    "location": rng.choice(locations), "city_id": None, "language": "",
                    "ip": None, "created_at": start + timedelta(seconds=i * 7776000 // hits)})
            insert_rows(Hit.__table__, rows)
            db.session.commit()
        ids = (site.id, copy.id)
        if db.engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


# --- the measured steps (child processes) -----------------------------------------------------

def step_export(url, instance, site_id):
    from app.extensions import db
    from app.jobs import exports
    from app.jobs.runner import run_now
    from app.models import Export, Site
    app = make_app(url, instance)
    with app.app_context():
        baseline = peak_rss_mb()
        site = db.session.get(Site, site_id)
        export = Export(site_id=site.id, format="csv", created_at=datetime.now().replace(microsecond=0))
        db.session.add(export)
        db.session.flush()
        export.path = f"{export.id}-{exports.download_name(export, site)}"
        db.session.commit()
        began = time.perf_counter()
        run_now(exports.export_site, export.id)
        seconds = time.perf_counter() - began
        db.session.rollback()
        export = db.session.get(Export, export.id)
        return {"seconds": seconds, "rows": export.num_rows, "size_mib": float(export.size),
                "file": exports.file_path(export), "baseline_rss_mb": baseline,
                "peak_rss_mb": peak_rss_mb()}


def step_import(url, instance, site_id, path):
    from app.extensions import db
    from app.jobs import imports
    from app.jobs.runner import run_now
    from app.models import Import, Site
    app = make_app(url, instance)
    with app.app_context():
        baseline = peak_rss_mb()
        record = imports.local_file(db.session.get(Site, site_id), path)
        phases = {}

        def listener(meta):
            phases.setdefault(meta.get("phase"), time.perf_counter())
        began = time.perf_counter()
        run_now(imports.import_hits, record.id, listener=listener)
        seconds = time.perf_counter() - began
        db.session.rollback()
        record = db.session.get(Import, record.id)
        marks = {name: round(at - began, 1) for name, at in phases.items()}
        return {"seconds": seconds, "rows": record.num_rows, "imported": record.num_imported,
                "phases_started_at": marks, "baseline_rss_mb": baseline,
                "peak_rss_mb": peak_rss_mb()}


def child(*args):
    """Run a step in a new process; returns its JSON result."""
    output = subprocess.run([sys.executable, "-m", "bench.export.measure", "--step", *args],
                            cwd=ROOT, check=True, capture_output=True, text=True, timeout=3600)
    return json.loads(output.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def database(backend, folder):
    if backend == "postgresql":
        with pg_database("export") as url:
            yield url
    else:
        yield "sqlite:///" + os.path.join(folder, "bench.db")


def run_backend(backend, hits):
    with tempfile.TemporaryDirectory(prefix="ibex-bench-export-") as folder, \
            database(backend, folder) as url:
        instance = os.path.join(folder, "instance")
        began = time.perf_counter()
        site_id, copy_id = seed(url, instance, hits)
        seeded = time.perf_counter() - began
        exported = child("export", url, instance, str(site_id))
        imported = child("import", url, instance, str(copy_id), exported.pop("file"))
        return {"backend": backend, "hits": hits, "seed_seconds": seeded,
                "export": exported, "import": imported}


def report(results):
    print(f"{'backend':<11} {'step':<7} {'rows':>9} {'seconds':>8} {'rows/s':>8} "
          f"{'base MB':>8} {'peak MB':>8}  target < {RSS_TARGET_MB} MB")
    for result in results:
        for step in ("export", "import"):
            r = result[step]
            verdict = "met" if r["peak_rss_mb"] < RSS_TARGET_MB else "MISSED"
            print(f"{result['backend']:<11} {step:<7} {r['rows']:>9,} {r['seconds']:>8.1f} "
                  f"{r['rows'] / r['seconds']:>8,.0f} {r['baseline_rss_mb']:>8.0f} "
                  f"{r['peak_rss_mb']:>8.0f}  {verdict}")
        print(f"{'':<11} file {result['export']['size_mib']} MiB; import phases started at "
              f"{result['import']['phases_started_at']} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=1_000_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--json")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, url, instance, site_id, *rest = args.step
        result = (step_export(url, instance, int(site_id)) if name == "export"
                  else step_import(url, instance, int(site_id), rest[0]))
        print(json.dumps(result))
        return
    stop_on_signals()
    results = [run_backend(backend, args.hits) for backend in args.backends.split(",")]
    report(results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"when": datetime.now().isoformat(timespec="seconds"), "results": results},
                      out, indent=2)


if __name__ == "__main__":
    run_main(main)
