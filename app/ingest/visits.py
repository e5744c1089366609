"""Umami's visit numbers, kept ready per hour: after a batch's visits are written, each touched
session's visits get the hours since their previous visit (``visits.gap_hours``) and every hour
whose visits changed gets its ``visit_hours`` row recomputed from them. Umami's summary then
reads one row per hour instead of every visit of a year: pageviews, bounces and seconds add up,
and distinct sessions over a range are the sessions starting in it plus those crossing its start
(the visits in it whose previous visit lies before it).

Recomputing, not adding: a visit that gains a pageview stops being a bounce, and a visit that
arrives late (another worker's batch, an import) changes the gap of the session's next visit.
On PostgreSQL the writers of a site take a transaction lock first, so each recompute sees every
visit committed before it; SQLite has one writer at a time anyway."""
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import bindparam, case, cast, delete, func, insert, select, text, update

from app.extensions import db
from app.ingest.store import is_postgresql
from app.models import Visit, VisitHour
from app.models.hits import LONG_GAP

HOUR = timedelta(hours=1)
LOCK_SPACE = 0x1BE5  # the first key of the sites' advisory locks (the second is the site id)
CHUNK = 500


def lock_sites(site_ids):
    """Take the visit lock of each site (PostgreSQL: released at commit or rollback), in one
    order, before the transaction writes any visit."""
    if not is_postgresql():
        return
    for site_id in sorted(site_ids):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :site)"),
                           {"space": LOCK_SPACE, "site": site_id})


def refresh(touched):
    """After visits were upserted: ``touched`` is {(site id, session id, hour)} of the visits
    written. Sets the gaps of those sessions' visits from the earliest touched hour on, then
    recomputes the visit_hours rows of every hour whose visits changed."""
    if not touched:
        return
    earliest, site_of = {}, {}
    dirty = defaultdict(set)
    for site_id, session_id, hour in touched:
        earliest[session_id] = min(earliest.get(session_id, hour), hour)
        site_of[session_id] = site_id
        dirty[site_id].add(hour)
    changed = []
    sessions = sorted(earliest)
    for start in range(0, len(sessions), CHUNK):
        rows = db.session.execute(
            select(Visit.session_id, Visit.hour, Visit.gap_hours)
            .where(Visit.session_id.in_(sessions[start:start + CHUNK]))
            .order_by(Visit.session_id, Visit.hour)).all()
        previous = None
        for session_id, hour, gap in rows:
            before = previous[1] if previous and previous[0] == session_id else None
            previous = (session_id, hour)
            if hour < earliest[session_id]:
                continue
            wanted = None if before is None else round((hour - before) / HOUR)
            if wanted != gap:
                changed.append({"s": session_id, "h": hour, "gap": wanted})
                dirty[site_of[session_id]].add(hour)
    if changed:
        db.session.execute(
            update(Visit.__table__).where(Visit.session_id == bindparam("s"),
                                          Visit.hour == bindparam("h"))
            .values(gap_hours=bindparam("gap")), changed)
    for site_id, hours in sorted(dirty.items()):
        recompute_hours(site_id, sorted(hours))


def crossing_selects(site_id, start, end, *columns):
    """Selects of ``columns`` of the site's visits in [start, end) (``end`` None: open) that
    may have their session's previous visit before ``start``: those within LONG_GAP hours of
    it with any gap, and later ones with a long gap (their own index). Whether one does is
    ``hour - gap_hours < start``, checked by the caller."""
    window_end = start + LONG_GAP * HOUR if end is None else min(end, start + LONG_GAP * HOUR)
    site = Visit.site_id == site_id
    selects = [select(*columns).where(site, Visit.hour >= start, Visit.hour < window_end,
                                      Visit.gap_hours.is_not(None))]
    if end is None or window_end < end:
        later = [site, Visit.gap_hours >= LONG_GAP, Visit.hour >= window_end]
        selects.append(select(*columns).where(*later, *(() if end is None else
                                                         (Visit.hour < end,))))
    return selects


def forget_before(site_id, cutoff):
    """After a site's visits before ``cutoff`` were deleted (data retention): a session's first
    remaining visit counts as its start again, as Umami's numbers over the kept hits say."""
    firsts = [{"s": session_id, "h": hour, "gap": None}
              for select_ in crossing_selects(site_id, cutoff, None, Visit.session_id,
                                              Visit.hour, Visit.gap_hours)
              for session_id, hour, gap in db.session.execute(select_)
              if hour - gap * HOUR < cutoff]
    if firsts:
        db.session.execute(
            update(Visit.__table__).where(Visit.session_id == bindparam("s"),
                                          Visit.hour == bindparam("h"))
            .values(gap_hours=bindparam("gap")), firsts)
        recompute_hours(site_id, sorted({row["h"] for row in firsts}))
    return len(firsts)


def hour_numbers(where):
    """A select of (site_id, hour, pageviews, bounces, seconds, sessions) of the visits matching
    ``where``, one row per site and hour."""
    return (select(Visit.site_id, Visit.hour, func.sum(Visit.pageviews),
                   func.sum(case((Visit.pageviews == 1, 1), else_=0)),
                   func.sum(case((Visit.pageviews > 1, visit_seconds()), else_=0)),
                   func.sum(case((Visit.gap_hours.is_(None), 1), else_=0)))
            .where(where).group_by(Visit.site_id, Visit.hour))


def recompute_hours(site_id, hours):
    """Replace the site's visit_hours rows of ``hours`` by the sums of their visits (an hour
    without visits gets no row)."""
    columns = ("site_id", "hour", "pageviews", "bounces", "seconds", "sessions")
    for start in range(0, len(hours), CHUNK):
        chunk = hours[start:start + CHUNK]
        db.session.execute(delete(VisitHour).where(VisitHour.site_id == site_id,
                                                   VisitHour.hour.in_(chunk)))
        db.session.execute(insert(VisitHour).from_select(columns, hour_numbers(
            (Visit.site_id == site_id) & Visit.hour.in_(chunk))))


def visit_seconds():
    """Whole seconds between a visit's first and last pageview, as SQL (Umami's ``time``)."""
    return seconds_between(Visit.first_at, Visit.last_at)


def seconds_between(first, last):
    """Whole seconds from ``first`` to ``last`` (timestamp columns), as SQL."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.floor(func.extract("epoch", last - first))
    return (cast(func.strftime("%s", last), db.Integer)
            - cast(func.strftime("%s", first), db.Integer))

