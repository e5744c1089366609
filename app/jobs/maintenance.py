"""Periodic housekeeping jobs (listed in jobs/schedule.py): export files are kept 24 hours, the
bot log 30 days, Umami login tokens until they expire, the ingest ledger 7 days; and the
chunked delete they and data retention (jobs/retention.py) share."""
import logging
import os
import time
from datetime import timedelta

from sqlalchemy import delete, literal, not_, or_, select, tuple_

from app.clock import utcnow
from app.extensions import db
from app.jobs.exports import EXPORT_TTL, exports_dir
from app.models import BotHit, Export, IngestBatch, UmamiLoginToken

log = logging.getLogger("ibex.jobs")
CHUNK = 5000             # rows per transaction: short locks, and an interrupted job resumes
BOT_LOG_DAYS = 30
LEDGER_DAYS = 7


def delete_in_chunks(table, where, key, chunk=CHUNK):
    """Delete the rows of ``table`` matching every clause of ``where``, at most about ``chunk``
    per transaction (ties of a non-unique key stay in one), committing each. ``key``: columns
    in the order of an index whose leading columns ``where`` fixes by equality, so each chunk
    is found by a range scan that starts where the last one ended, never by re-reading what
    went before (deleted rows linger until vacuumed). Rows inserted behind that point while
    the job runs are left to its next run. Returns the number of rows deleted."""
    key_value = tuple_(*key) if len(key) > 1 else key[0]

    def value(row):
        values = [literal(v, column.type) for column, v in zip(key, row)]
        return tuple_(*values) if len(key) > 1 else values[0]

    deleted, after = 0, None
    while True:
        clauses = list(where) + ([key_value > value(after)] if after is not None else [])
        bound = db.session.execute(select(*key).where(*clauses).order_by(*key)
                                   .offset(chunk - 1).limit(1)).first()
        if bound is not None:
            clauses.append(key_value <= value(bound))
        deleted += db.session.execute(delete(table).where(*clauses)).rowcount
        db.session.commit()
        if bound is None:
            return deleted
        after = tuple(bound)


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


def purge_bot_log():
    """Job (daily): delete the bot log's rows (hits not counted, with why) created more than
    30 days ago, of every site. Returns {"bot_hits": rows deleted}."""
    cutoff = utcnow() - timedelta(days=BOT_LOG_DAYS)
    # Rows are written at persist time, so ids grow with created_at: the old ones come first.
    summary = {"bot_hits": delete_in_chunks(BotHit.__table__, [BotHit.created_at < cutoff],
                                            [BotHit.id])}
    log.info("purged the bot log: %s", summary)
    return summary


def delete_expired_sessions():
    """Job (hourly): delete what only served sessions that are over.

    - Umami login tokens past ``expires_at`` (login_for() already refuses them). A token ended
      by a password change stays until its own expiry, as it cannot be told apart in SQL.
    - Rows of the exactly-once ledger ``ingest_batches`` persisted more than 7 days ago. A
      ledger row only matters while its batch could be persisted again, i.e. while the batch
      is still in the buffer: it is acknowledged right after its commit; a worker that dies in
      between leaves it claimed, and another worker takes it over once its heartbeat is
      BATCH_STALE_SECONDS (60 s by default) old, so a retry comes within minutes while any
      worker runs (the embedded buffer lives in the process and dies with it). Seven days only
      matter after a week with no worker at all; for that case rows of batches still in the
      Redis buffer are kept whatever their age, so no retry can ever count a batch twice.

    Flask login sessions live in the signed cookie, visitor sessions in Redis or memory with an
    8-hour expiry, and their database rows go with data retention. Returns the counts deleted:
    {"umami_login_tokens": n, "ingest_batches": n}."""
    now = utcnow()
    summary = {
        "umami_login_tokens": delete_in_chunks(
            UmamiLoginToken.__table__, [UmamiLoginToken.expires_at <= now],
            [UmamiLoginToken.id]),
        "ingest_batches": delete_in_chunks(
            IngestBatch.__table__,
            [IngestBatch.persisted_at < now - timedelta(days=LEDGER_DAYS),
             *_not_in_buffer(IngestBatch.id)],
            [IngestBatch.id]),
    }
    log.info("deleted expired sessions: %s", summary)
    return summary


def _not_in_buffer(column):
    """Clauses excluding the ledger ids of batches still claimed in the Redis buffer, and of
    the single-hit batches ("<id>.<n>") a failed batch is split into."""
    from app.ingest import ingest
    from app.ingest.buffer import RedisBuffer
    buffer = ingest().buffer
    if not isinstance(buffer, RedisBuffer):
        return []
    pending = [item.decode() if isinstance(item, bytes) else item
               for item in buffer.redis.hkeys(buffer.batches)]
    return [not_(or_(column == batch_id, column.like(f"{batch_id}.%")))
            for batch_id in pending]
