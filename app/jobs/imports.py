"""Imports of GoatCounter CSV exports (format 1 or 2, gzipped or plain) into a site: keeping
the uploaded file, and the job that checks the whole file first, then writes its rows as raw
hits (each row at most once per site, through the imported_hits ledger) and adds them to the
affected rollups in the same transaction, as the persister does (so the rollups agree with the
raw hits after every chunk, also when a run is interrupted)."""
import hashlib
import logging
import os
import uuid
from collections import deque

import pycountry
from flask import current_app
from sqlalchemy import select, update

from app.clock import utcnow
from app.extensions import db
from app.ingest.paths import bounded_key, path_key
from app.ingest.rollups import add_to_rollups
from app.ingest.store import get_or_create, insert_missing, insert_rows, upsert_add
from app.jobs import enqueue, progress, status
from app.jobs.goatcounter_csv import BadRow, read_hits
from app.models import (Browser, Hit, Import, ImportedHit, Location, Path, Ref, Site, System,
                        VisitorSession)

log = logging.getLogger("ibex.jobs")
CHUNK = 5000
# Identical rows (same second, session, path, …) are told apart by how many identical rows
# precede them among this many rows before them: duplicates are adjacent in an export.
WINDOW = 50_000
MAX_UPLOAD = 1 << 30


def imports_dir(app=None):
    path = os.path.join((app or current_app).instance_path, "imports")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def job_id(import_id):
    return f"import-{import_id}"


def file_path(record):
    """The file an import reads: an upload under <instance>/imports, or the CLI's own file."""
    return os.path.join(imports_dir(), record.path)


def save_upload(site, stream, filename, user_id=None):
    """Store an uploaded file (a binary stream) and create its Import (queued). Raises
    BadRow when it is empty or larger than MAX_UPLOAD bytes."""
    name = f"{uuid.uuid4().hex}.upload"
    target = os.path.join(imports_dir(), name)
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for block in iter(lambda: stream.read(1 << 20), b""):
            size += len(block)
            if size > MAX_UPLOAD:
                out.close()
                os.remove(target)
                raise BadRow(1, f"the file is larger than {MAX_UPLOAD >> 20} MiB")
            digest.update(block)
            out.write(block)
    if size == 0:
        os.remove(target)
        raise BadRow(1, "the file is empty; expected a GoatCounter CSV export")
    return _record(site, os.path.basename(filename or "upload.csv")[:255], name,
                   digest.hexdigest(), user_id)


def local_file(site, path, user_id=None):
    """An Import of a file already on this machine (the CLI); the file is left in place."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    path = os.path.abspath(path)
    return _record(site, os.path.basename(path)[:255], path, digest.hexdigest(), user_id)


def _record(site, filename, path, file_hash, user_id):
    record = Import(site_id=site.id, user_id=user_id, filename=filename, file_hash=file_hash,
                    path=path, state="queued", created_at=utcnow().replace(microsecond=0))
    db.session.add(record)
    db.session.commit()
    return record


def start_import(record):
    enqueue(import_hits, record.id, job_id=job_id(record.id),
            description=f"import {record.id} into site {record.site_id}")


def job_state(record):
    """The JobState of the import's job (or None); a queued or running import whose job is
    gone is enqueued again (the job is idempotent)."""
    state = status(job_id(record.id))
    if state is None and record.state in ("queued", "running"):
        start_import(record)
        state = status(job_id(record.id))
    return state


def recent_imports(site_id, limit=20):
    return db.session.scalars(select(Import).where(Import.site_id == site_id)
                              .order_by(Import.id.desc()).limit(limit)).all()


# --- the job ----------------------------------------------------------------------------------

def import_hits(import_id):
    """Job: import the file of Import ``import_id`` into its site. The whole file is checked
    before anything is written; rows already imported into the site are skipped; each chunk's
    rows go into the rollups with them. Idempotent: a done import is left alone, any other is
    run again (the ledger skips what an interrupted run wrote). Failures set ``state`` failed
    and ``error`` (naming line and column for a bad file) and propagate."""
    record = db.session.get(Import, import_id)
    if record is None or record.state == "done":
        return
    site_id, path = record.site_id, file_path(record)
    record.state, record.error = "running", None
    db.session.commit()
    try:
        total = _check(path)
        imported, skipped = _write(site_id, path, total)
        record = db.session.get(Import, import_id)
        record.state, record.finished_at = "done", utcnow().replace(microsecond=0)
        record.num_rows, record.num_imported, record.num_skipped = total, imported, skipped
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        record = db.session.get(Import, import_id)
        record.state, record.finished_at = "failed", utcnow().replace(microsecond=0)
        record.error = (str(exc) if isinstance(exc, BadRow)
                        else f"import failed ({type(exc).__name__}); the server log has details")
        db.session.commit()
        raise
    if path.startswith(imports_dir() + os.sep) and os.path.exists(path):
        os.remove(path)  # an upload: imported, its rows are in the database now


def _check(path):
    """Read the whole file once: its number of rows, or BadRow."""
    total = 0
    progress(phase="checking", done=0, total=None)
    for _line in read_hits(path):
        total += 1
        if total % 50_000 == 0:
            progress(phase="checking", done=total, total=None)
    return total


def _write(site_id, path, total):
    """Store the file's rows CHUNK at a time, one transaction each; returns (imported, skipped:
    bot rows and rows already imported)."""
    seen, recent = {}, deque()  # base digest -> occurrences among the last WINDOW rows
    imported = done = 0
    titled = set()
    batch = []
    progress(phase="importing", done=0, total=total)
    for _line, hit in read_hits(path):
        done += 1
        if hit.bot:  # GoatCounter never exports bots; a file that has them: skip them
            continue
        base = hit.digest(0)
        occurrence = seen.get(base, 0)
        seen[base] = occurrence + 1
        recent.append(base)
        if len(recent) > WINDOW:
            old = recent.popleft()
            left = seen[old] - 1
            if left:
                seen[old] = left
            else:
                del seen[old]
        batch.append((base if occurrence == 0 else hit.digest(occurrence), hit))
        if len(batch) >= CHUNK:
            imported += _store(site_id, batch, titled)
            batch = []
            progress(phase="importing", done=done, total=total)
    if batch:
        imported += _store(site_id, batch, titled)
    progress(phase="importing", done=done, total=total)
    return imported, done - imported


def _store(site_id, batch, titled):
    """Write the rows of ``batch`` [(key, CsvHit)] not yet in the site's ledger; one commit.
    ``titled``: ids of paths whose title this import has settled."""
    keys = [key for key, _ in batch]
    known = set(map(bytes, db.session.scalars(select(ImportedHit.row_key).where(
        ImportedHit.site_id == site_id, ImportedHit.row_key.in_(keys)))))
    fresh = [(key, hit) for key, hit in batch if key not in known]
    if not fresh:
        db.session.rollback()
        return 0
    hits = [hit for _, hit in fresh]
    ids = _dimension_ids(site_id, hits, titled)
    sessions = _sessions(site_id, hits, ids)
    insert_rows(ImportedHit.__table__, [{"site_id": site_id, "row_key": key} for key, _ in fresh])
    rows = [{
        "site_id": site_id, "path_id": ids["path"][(site_id, path_key(h.path))],
        "ref_id": ids["ref"][(bounded_key(h.ref.lower()), h.ref_scheme)], "url_id": None,
        "referrer_url_id": None, "session_id": sessions.get(h.session),
        "first_visit": h.first_visit, "browser_id": ids["browser"].get(h.browser),
        "system_id": ids["system"].get(h.system), "campaign_id": None, "event_type": None,
        "width": h.width or None, "location": h.location, "city_id": None, "language": "",
        "ip": None, "created_at": h.created_at} for h in hits]
    insert_rows(Hit.__table__, rows)
    for row, h in zip(rows, hits):  # what the rollups need besides the stored row
        row["event"], row["campaign_ref"] = h.event, ""
    add_to_rollups(rows)
    first = min(h.created_at for h in hits)
    db.session.execute(update(Site).where(Site.id == site_id, Site.received_data.is_(False))
                       .values(received_data=True))
    db.session.execute(update(Site).where(Site.id == site_id, Site.first_hit_at > first)
                       .values(first_hit_at=first))
    db.session.commit()
    return len(fresh)


def _dimension_ids(site_id, hits, titled):
    paths, refs, browsers, systems, locations = {}, {}, {}, {}, {}
    for h in hits:
        key = (site_id, path_key(h.path))
        row = paths.get(key)
        if row is None:
            paths[key] = {"site_id": site_id, "path": h.path, "path_key": key[1],
                          "title": h.title, "event": h.event}
        elif not row["title"] and h.title:
            row["title"] = h.title
        ref_key = (bounded_key(h.ref.lower()), h.ref_scheme)
        refs.setdefault(ref_key, {"ref": h.ref, "ref_key": ref_key[0], "ref_scheme": h.ref_scheme})
        for target, pair in ((browsers, h.browser), (systems, h.system)):
            if pair is not None:
                target.setdefault(pair, {"name": pair[0], "version": pair[1]})
        if h.location not in locations:
            locations[h.location] = _location(h.location)
    ids = {"path": get_or_create(Path.__table__, ("site_id", "path_key"), paths),
           "ref": get_or_create(Ref.__table__, ("ref_key", "ref_scheme"), refs),
           "browser": get_or_create(Browser.__table__, ("name", "version"), browsers),
           "system": get_or_create(System.__table__, ("name", "version"), systems)}
    insert_missing(Location.__table__, ("code",), list(locations.values()))
    _set_titles(paths, ids["path"], titled)
    return ids


def _set_titles(paths, path_ids, titled):
    """A path keeps the first title it was seen with: give untitled paths the file's title.
    ``titled`` (path ids already done in this import) keeps this to one query per new path."""
    wanted = {path_ids[key]: row["title"] for key, row in paths.items()
              if row["title"] and path_ids[key] not in titled}
    if not wanted:
        return
    empty = db.session.scalars(select(Path.id).where(Path.id.in_(wanted), Path.title == "")).all()
    table = Path.__table__
    for path_id in sorted(empty):  # row locks in one order
        db.session.execute(table.update().where(table.c.id == path_id, table.c.title == "")
                           .values(title=wanted[path_id]))
    titled.update(wanted)


def _location(code):
    country, _, region = code.partition("-")
    found = pycountry.countries.get(alpha_2=country) if country else None
    subdivision = pycountry.subdivisions.get(code=code) if region else None
    return {"code": code, "country": country, "region": region,
            "country_name": getattr(found, "name", "")[:100],
            "region_name": getattr(subdivision, "name", "")[:100]}


def _sessions(site_id, hits, ids):
    """Visitor sessions of imported hits: a session id of the file becomes a session of its own
    in this site (a keyed digest, so a re-import finds it again). Returns {text: row id}."""
    rows = {}
    for h in hits:
        if h.session is None:
            continue
        row = rows.get(h.session)
        if row is None:
            rows[h.session] = {
                "uuid": hashlib.blake2b(f"{site_id}\x1f{h.session}".encode(), digest_size=16,
                                        person=b"ibex-import").digest(),
                "site_id": site_id, "browser_id": ids["browser"].get(h.browser),
                "system_id": ids["system"].get(h.system), "location": h.location or None,
                "first_seen": h.created_at, "last_seen": h.created_at}
        else:
            row["first_seen"] = min(row["first_seen"], h.created_at)
            row["last_seen"] = max(row["last_seen"], h.created_at)
    if not rows:
        return {}
    table = VisitorSession.__table__
    upsert_add(table, ("uuid",), list(rows.values()), least=("first_seen",),
               greatest=("last_seen",))
    found = get_or_create(table, ("uuid",), {(row["uuid"],): row for row in rows.values()})
    return {text: found[(row["uuid"],)] for text, row in rows.items()}
