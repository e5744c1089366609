"""Periodic housekeeping jobs (listed in jobs/schedule.py): export files are kept 24 hours;
leftovers of interrupted exports and imports go too."""
import logging
import os
import time
from datetime import timedelta

from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.jobs.exports import EXPORT_TTL, exports_dir
from app.models import Export

log = logging.getLogger("ibex.jobs")


def delete_expired_exports():
    """Job: delete the files of exports created 24 hours ago or earlier, and any other file in
    the exports directory (temporary files of interrupted jobs) not modified for 24 hours.
    The export records stay: their download answers "kept for 24 hours". Returns the number
    of files deleted."""
    folder = exports_dir()
    cutoff = utcnow() - EXPORT_TTL
    # Older ones were deleted by earlier runs, or by the modification-time sweep below.
    old = db.session.scalars(select(Export.path).where(
        Export.created_at <= cutoff, Export.created_at > cutoff - timedelta(days=7),
        Export.path != "")).all()
    deleted = 0
    for name in old:
        deleted += _remove(os.path.join(folder, os.path.basename(name)))
    stale = time.time() - EXPORT_TTL.total_seconds()
    for entry in os.scandir(folder):
        if entry.is_file() and entry.stat().st_mtime <= stale:
            deleted += _remove(entry.path)
    if deleted:
        log.info("deleted %d expired export files", deleted)
    return deleted


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        return 0
    return 1
