"""Data retention (a daily job): each site's ``data_retention`` setting decides how long its
raw hits, and everything derived from them, are kept."""
import logging
from collections import Counter
from datetime import datetime, time, timedelta

from sqlalchemy import String, and_, cast, exists, or_, select

from app.clock import utcnow
from app.extensions import db
from app.ingest import visits as visit_numbers
from app.ingest.rollups import DAY_TABLES, SITE_KINDS, settle_month
from app.jobs.maintenance import CHUNK, delete_in_chunks
from app.models import (Campaign, CampaignStat, Hit, HitCount, Path, RefCount, Site, SiteHour,
                        SiteStat, Visit, VisitHour, VisitorSession)

log = logging.getLogger("ibex.jobs")


class RetentionFailed(Exception):
    """Data retention failed for some sites (the others were purged); the log has each cause."""


def cutoff_for(retention, now=None):
    """The first moment a site keeping ``retention`` days keeps (naive UTC): midnight UTC at
    the start of the day ``retention`` days before today. So ``retention`` whole UTC days are
    kept, plus today so far."""
    today = (now or utcnow()).date()
    return datetime.combine(today - timedelta(days=retention), time())


def purge_expired_hits():
    """Job (daily): for every site whose ``data_retention`` is not 0 (0 keeps everything),
    delete what is older than cutoff_for(retention), oldest first, CHUNK rows per
    transaction:

    - raw hits created before the cutoff;
    - visits of hours before it, and visitor sessions whose last hit was before it (none of
      their hits is left; a session spanning the cutoff stays with its newer hits);
    - hourly rollups (hit_counts, ref_counts, site_hours) of hours before it, daily rollups
      (browser, system, location, size, language and campaign stats; site_stats span "d") of
      days before it, and site_stats monthly rows (span "m") of months that ended before it.
      The monthly rows of the month the cutoff falls in are made the sums of that month's
      remaining daily rows (rollups.settle_month), so whole-month and day-by-day statistics
      agree and count only kept hits;
    - then the site's paths and campaigns that nothing refers to any more (no hit, no rollup
      row, no site_stats key). A persister that looked up such a path just before it went has
      its batch refused by the foreign key and stores those hits one by one, creating the path
      anew: nothing is lost.

    Idempotent: a second run, or a run after an interrupted one, finishes the work and then
    deletes nothing. A site that fails is logged and the others are still purged; the job then
    raises RetentionFailed so the failure is recorded. Returns the rows deleted per table
    (all sites together), "site_stats_settled" (monthly rows corrected) and "sites"."""
    summary, failed = Counter(), []
    now = utcnow()
    for site_id, setting in _sites_with_retention():
        try:
            summary.update(purge_site(site_id, cutoff_for(_days(setting), now)))
            summary["sites"] += 1
        except Exception:
            db.session.rollback()
            log.exception("data retention failed for site %d", site_id)
            failed.append(site_id)
    summary = dict(summary)
    log.info("data retention: %s", summary)
    if failed:
        raise RetentionFailed(f"data retention failed for sites {failed} (see the log); "
                              f"done for the others: {summary}")
    return summary


def _sites_with_retention():
    """(site id, data_retention as stored) of every site with a retention set."""
    rows = db.session.execute(select(Site.id, Site.settings).order_by(Site.id)).all()
    db.session.rollback()
    return [(site_id, (settings or {}).get("data_retention"))
            for site_id, settings in rows if (settings or {}).get("data_retention")]


def _days(setting):
    """A stored data_retention as days; anything but a positive whole number is refused (a
    wrong value must never delete a site's data)."""
    if isinstance(setting, bool) or not isinstance(setting, (int, str)) \
            or not str(setting).isdigit() or int(setting) < 1:
        raise ValueError(f"data_retention is {setting!r}, not a number of days")
    return int(setting)


def purge_site(site_id, cutoff, chunk=CHUNK):
    """Delete a site's data older than ``cutoff`` (naive UTC, midnight) as purge_expired_hits
    describes, about ``chunk`` rows per transaction; returns a Counter of rows deleted per
    table."""
    day, month = cutoff.date(), cutoff.date().replace(day=1)
    done = Counter()

    def purge(model, clauses, key):
        done[model.__tablename__] += delete_in_chunks(
            model.__table__, [model.site_id == site_id, *clauses], key, chunk)

    purge(Hit, [Hit.created_at < cutoff], [Hit.created_at])
    purge(Visit, [Visit.hour < cutoff], [Visit.hour])
    done["visits_restarted"] += visit_numbers.forget_before(site_id, cutoff)
    db.session.commit()
    purge(VisitorSession, [VisitorSession.first_seen < cutoff, VisitorSession.last_seen < cutoff],
          [VisitorSession.first_seen])
    for model in (HitCount, RefCount):
        purge(model, [model.hour < cutoff], _primary_key_after_site(model))
    purge(SiteHour, [SiteHour.hour < cutoff], [SiteHour.hour])
    purge(VisitHour, [VisitHour.hour < cutoff], [VisitHour.hour])
    for model in (*(table for _, table, _ in DAY_TABLES), CampaignStat):
        purge(model, [model.day < day], _primary_key_after_site(model))
    purge(SiteStat, [or_(and_(SiteStat.span == "d", SiteStat.period < day),
                         and_(SiteStat.span == "m", SiteStat.period < month))],
          _primary_key_after_site(SiteStat))
    if day != month:
        for kind, _ in SITE_KINDS:
            done["site_stats_settled"] += settle_month(site_id, month, kind)
            db.session.commit()
    done["paths"] += _delete_orphans(Path, site_id, "p", chunk)
    done["campaigns"] += _delete_orphans(Campaign, site_id, "c", chunk)
    return done


def _primary_key_after_site(model):
    columns = list(model.__table__.primary_key.columns)
    assert columns[0].name == "site_id"
    return columns[1:]


def _delete_orphans(model, site_id, kind, chunk):
    """Delete the site's rows of a per-site dimension table (paths, campaigns) that no row of
    any table refers to through a foreign key, nor any site_stats row of ``kind`` by its key.
    Each chunk is locked first (PostgreSQL; rows a persister is using right now are skipped)
    and checked again when deleted, so a row that gained a reference meanwhile stays."""
    orphan = [model.site_id == site_id, *_unreferenced(model, site_id, kind)]
    deleted, after = 0, 0
    while True:
        ids = db.session.scalars(
            select(model.id).where(*orphan, model.id > after).order_by(model.id).limit(chunk)
            .with_for_update(of=model.__table__, skip_locked=True)).all()
        if not ids:
            db.session.rollback()
            return deleted
        deleted += db.session.execute(
            model.__table__.delete().where(model.id.in_(ids), *orphan)).rowcount
        db.session.commit()
        after = ids[-1]


def _unreferenced(model, site_id, kind):
    clauses = []
    target = model.__table__.c.id
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column is target:
                scope = [table.c.site_id == site_id] if "site_id" in table.c else []
                clauses.append(~exists().where(*scope, fk.parent == target))
    clauses.append(~exists().where(SiteStat.site_id == site_id, SiteStat.kind == kind,
                                   SiteStat.key == cast(target, String)))
    return clauses
