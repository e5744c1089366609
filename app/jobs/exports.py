"""Exports (spec/goatcounter.md §5.3–5.5, §13): starting one, the job that writes its file in
constant memory, and what a download needs. Files live under <instance>/exports and are
deleted 24 hours after the export was created (maintenance.delete_expired_exports)."""
import gzip
import hashlib
import os
import threading
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from app.clock import utcnow
from app.extensions import db
from app.jobs import enqueue, goatcounter_csv, progress, status
from app.models import Browser, Export, Hit, Path, Ref, Site, System, VisitorSession

EXPORT_TTL = timedelta(hours=24)
ID_WINDOW = 10_000  # hit ids per query of the CSV export
FORMATS = ("csv", "json")
GZIP_LEVEL = 6  # Go's default compression, and ~3x faster than Python's default 9


class InvalidExport(Exception):
    """A request for an export GoatCounter refuses; ``message`` is its error text."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def exports_dir(app=None):
    path = os.path.join((app or current_app).instance_path, "exports")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def file_path(export):
    """Where the export's file is (or will be) on disk."""
    return os.path.join(exports_dir(), export.path)


def download_name(export, site):
    """The file name GoatCounter gives the download (spec §5.5)."""
    stamp = export.created_at.strftime("%Y%m%dT%H%M%SZ")
    if export.format == "json":
        return f"goatcounter-export-{site.code}-{stamp}.zip"
    return f"goatcounter-export-{site.code}-{stamp}-{export.start_from_hit_id or 0}.csv.gz"


def start_export(site, user_id=None, format=None, start_from_hit_id=None, start_from_day=None):
    """Create an export of ``site`` and enqueue its job. ``format`` csv (also when missing or
    empty) or json; ``start_from_hit_id`` (CSV: hits with a greater id); ``start_from_day`` (JSON:
    an aware or naive-UTC datetime, truncated to its UTC day). Raises InvalidExport."""
    format = format or "csv"
    if format not in FORMATS:
        raise InvalidExport(f'unknown format: "{format}"')
    if format == "csv" and start_from_day is not None:
        raise InvalidExport("start_from_day is only valid for JSON exports")
    if format == "json" and start_from_hit_id:
        raise InvalidExport("start_from_hit_id is only valid for CSV exports")
    if start_from_day is not None:
        if start_from_day.tzinfo is not None:
            start_from_day = start_from_day.astimezone(timezone.utc).replace(tzinfo=None)
        start_from_day = datetime.combine(start_from_day.date(), datetime.min.time())
    export = Export(site_id=site.id, user_id=user_id, format=format,
                    start_from_hit_id=max(int(start_from_hit_id or 0), 0),
                    start_from_day=start_from_day, created_at=utcnow().replace(microsecond=0))
    db.session.add(export)
    db.session.flush()
    export.path = f"{export.id}-{download_name(export, site)}"
    db.session.commit()
    enqueue(export_site, export.id, job_id=job_id(export.id),
            description=f"export {export.id} of site {site.id}")
    return export


def job_id(export_id):
    return f"export-{export_id}"


def job_state(export):
    """The JobState of ``export``'s job (or None). An unfinished export whose job is gone — an
    embedded process restarted, RQ's record expired — is enqueued again: the job is idempotent."""
    state = status(job_id(export.id))
    if state is None and export.finished_at is None and export.error is None:
        enqueue(export_site, export.id, job_id=job_id(export.id))
        state = status(job_id(export.id))
    return state


def recent_exports(site_id, limit=20):
    return db.session.scalars(select(Export).where(Export.site_id == site_id)
                              .order_by(Export.id.desc()).limit(limit)).all()


def expired(export, now=None):
    """True when a finished export's file is gone or older than 24 hours (then it is deleted
    now, whether or not the hourly job has run yet)."""
    now = now or utcnow()
    path = file_path(export)
    if export.created_at <= now - EXPORT_TTL:
        if os.path.exists(path):
            os.remove(path)
        return True
    return not os.path.exists(path)


def size_text(num_bytes):
    """File size in MiB with one decimal, at least "0.1" (GoatCounter's rule)."""
    text = f"{num_bytes / 1024 / 1024:.1f}"
    return "0.1" if text == "0.0" else text


def file_hash(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return "sha256-" + digest.hexdigest()


# --- the job ----------------------------------------------------------------------------------

def export_site(export_id):
    """Job: write export ``export_id``'s file (a temporary file renamed into place) and record
    rows, last hit id, size and hash. Idempotent: a finished export is left alone, an
    unfinished one is written again from scratch. On failure the export's ``error`` is set and
    the exception propagates."""
    export = db.session.get(Export, export_id)
    if export is None or export.finished_at is not None:
        return
    site = db.session.get(Site, export.site_id)
    target = file_path(export)
    temporary = f"{target}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        if export.format == "json":
            from app.jobs.json_export import write_zip
            write_zip(export, site, temporary)
            rows, last_hit_id = None, None
        else:
            rows, last_hit_id = write_csv(export, temporary)
        os.replace(temporary, target)
        export.num_rows, export.last_hit_id = rows, last_hit_id
        export.size, export.hash = size_text(os.path.getsize(target)), file_hash(target)
        export.finished_at, export.error = utcnow().replace(microsecond=0), None
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if os.path.exists(temporary):
            os.remove(temporary)
        export = db.session.get(Export, export_id)
        if export is not None:
            export.error = f"export failed ({type(exc).__name__}); the server log has details"
            db.session.commit()
        raise


def _hit_rows(site_id, after, until):
    """The site's hits with after < id <= until, in id order, as rows for goatcounter_csv: one
    query per ID_WINDOW ids (at most that many rows in memory, no long-lived cursor, and a
    bounded id range the planner scans by index whatever its statistics say)."""
    browser, system = aliased(Browser), aliased(System)
    query = (select(Hit.id, Path.path, Path.title, Path.event,
                    browser.name.label("browser_name"), browser.version.label("browser_version"),
                    system.name.label("system_name"), system.version.label("system_version"),
                    VisitorSession.uuid.label("session_uuid"), Ref.ref, Ref.ref_scheme,
                    Hit.width, Hit.location, Hit.first_visit, Hit.created_at)
             .join(Path, Path.id == Hit.path_id)
             .outerjoin(browser, browser.id == Hit.browser_id)
             .outerjoin(system, system.id == Hit.system_id)
             .outerjoin(VisitorSession, VisitorSession.id == Hit.session_id)
             .outerjoin(Ref, Ref.id == Hit.ref_id)
             .where(Hit.site_id == site_id).order_by(Hit.id))
    while after < until:
        upper = min(after + ID_WINDOW, until)
        rows = db.session.execute(query.where(Hit.id > after, Hit.id <= upper)).all()
        db.session.rollback()  # end the read transaction between windows
        if rows:
            yield rows
        after = upper


def write_csv(export, path):
    """Write the CSV (format 2, gzipped) of the export's hits to ``path``; returns (rows,
    last hit id). Hits created while it runs are left to the next export (cursor chaining)."""
    after = export.start_from_hit_id or 0
    site_id = export.site_id
    until, total = db.session.execute(
        select(func.max(Hit.id), func.count()).where(Hit.site_id == site_id, Hit.id > after)).one()
    until, total = until or after, total or 0
    written, last_id = 0, after
    progress(done=0, total=total)
    with gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=GZIP_LEVEL) as out:
        out.write(goatcounter_csv.HEADER)
        for rows in _hit_rows(site_id, after, until):
            out.write("".join(goatcounter_csv.line(goatcounter_csv.row_values(row))
                              for row in rows))
            written, last_id = written + len(rows), rows[-1].id
            progress(done=written, total=total)
    return written, last_id
