"""Umami's visit numbers, kept ready per hour: when a batch's visits are written, each touched
session's visits get the hours since their previous visit (``visits.gap_hours``) and the hours
whose visits changed get the change added to their ``visit_hours`` row. Umami's summary then
reads one row per hour instead of every visit of a year: pageviews, bounces and seconds add up,
and distinct sessions over a range are the sessions starting in it plus those crossing its start
(the visits in it whose previous visit lies before it).

A change, not a count: a visit that gains a pageview stops being a bounce, its seconds grow,
and a visit that arrives late (another worker's batch, an import) changes the gap of the
session's next visit; so the visits' states before the batch are read, and each hour gets the
difference between after and before. That needs the writers of a session's visits to take
turns: persisters already do (each locks its sessions' visitor_sessions rows first), and on
PostgreSQL every writer also takes the site's visit lock before reading, which covers the
writers that do not touch those rows (rollups.rebuild after an import or a repair). SQLite has
one writer at a time anyway."""
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import bindparam, cast, func, literal_column, select, text, update

from app.extensions import db
from app.ingest.store import is_postgresql, upsert_add
from app.models import Visit, VisitHour
from app.models.hits import LONG_GAP

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
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


def write(visits):
    """Write a batch's visits (dicts: session_id, hour, site_id, pageviews, first_at, last_at),
    adding them to the stored ones, with their sessions' gaps and the hours' visit numbers."""
    if not visits:
        return
    lock_sites({visit["site_id"] for visit in visits})
    stored = _stored(sorted({visit["session_id"] for visit in visits}))
    before = {key: dict(state) for key, state in stored.items()}
    site_of = {}
    for visit in visits:
        key = (visit["session_id"], visit["hour"])
        site_of[visit["session_id"]] = visit["site_id"]
        state = stored.get(key)
        if state is None:
            stored[key] = {"pageviews": visit["pageviews"], "first_at": visit["first_at"],
                           "last_at": visit["last_at"], "gap": None}
        else:
            state["pageviews"] += visit["pageviews"]
            state["first_at"] = min(state["first_at"], visit["first_at"])
            state["last_at"] = max(state["last_at"], visit["last_at"])
    upsert_add(Visit.__table__, ("session_id", "hour"), visits, add=("pageviews",),
               least=("first_at",), greatest=("last_at",))
    gaps, changes = [], defaultdict(lambda: [0, 0, 0, 0])  # pageviews, bounces, s, sessions
    previous = None
    for key in sorted(stored):
        session_id, hour = key
        state = stored[key]
        earlier = previous[1] if previous and previous[0] == session_id else None
        previous = key
        state_gap = None if earlier is None else round((hour - earlier) / HOUR)
        old = before.get(key)
        if old is not None and old["gap"] != state_gap or old is None and state_gap is not None:
            gaps.append({"s": session_id, "h": hour, "gap": state_gap})
        state["gap"] = state_gap
        if old != state:
            change = changes[(site_of[session_id], hour)]
            for n, (was, now) in enumerate(zip(_numbers(old), _numbers(state))):
                change[n] += now - was
    _set_gaps(gaps)
    _add_to_hours(changes)


def _set_gaps(rows):
    """Store new gaps: rows of {"s": session id, "h": hour, "gap": hours or None}."""
    if rows:
        db.session.execute(
            update(Visit.__table__).where(Visit.session_id == bindparam("s"),
                                          Visit.hour == bindparam("h"))
            .values(gap_hours=bindparam("gap")), rows)


def _add_to_hours(changes):
    """Add {(site id, hour): [pageviews, bounces, seconds, sessions]} to visit_hours."""
    upsert_add(VisitHour.__table__, ("site_id", "hour"),
               [{"site_id": site_id, "hour": hour, "pageviews": p, "bounces": b, "seconds": t,
                 "sessions": n} for (site_id, hour), (p, b, t, n) in changes.items()],
               add=("pageviews", "bounces", "seconds", "sessions"))


def _stored(sessions):
    """{(session id, hour): state} of every stored visit of ``sessions``."""
    found = {}
    for start in range(0, len(sessions), CHUNK):
        for session_id, hour, pageviews, first_at, last_at, gap in db.session.execute(
                select(Visit.session_id, Visit.hour, Visit.pageviews, Visit.first_at,
                       Visit.last_at, Visit.gap_hours)
                .where(Visit.session_id.in_(sessions[start:start + CHUNK]))):
            found[(session_id, hour)] = {"pageviews": pageviews, "first_at": first_at,
                                         "last_at": last_at, "gap": gap}
    return found


def _numbers(state):
    """A visit's share of its hour's numbers: (pageviews, bounces, seconds, sessions)."""
    if state is None:
        return 0, 0, 0, 0
    pageviews = state["pageviews"]
    seconds = _seconds(state["first_at"], state["last_at"]) if pageviews > 1 else 0
    return pageviews, int(pageviews == 1), seconds, int(state["gap"] is None)


def _seconds(first, last):
    """What seconds_between() gives in SQL for these two timestamps."""
    if is_postgresql():
        return (last - first) // SECOND
    return (last.replace(microsecond=0) - first.replace(microsecond=0)) // SECOND


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
        # LONG_GAP written into the SQL: a bound value would let PostgreSQL's generic plan (a
        # statement prepared after five runs) miss the partial index and read every visit.
        later = [site, Visit.gap_hours >= literal_column(str(LONG_GAP)),
                 Visit.hour >= window_end]
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
    _set_gaps(firsts)
    starting = defaultdict(lambda: [0, 0, 0, 0])
    for row in firsts:  # each one now starts its session in its hour
        starting[(site_id, row["h"])][3] += 1
    _add_to_hours(starting)
    return len(firsts)


def seconds_between(first, last):
    """Whole seconds from ``first`` to ``last`` (timestamp columns), as SQL."""
    if is_postgresql():
        return func.floor(func.extract("epoch", last - first))
    return (cast(func.strftime("%s", last), db.Integer)
            - cast(func.strftime("%s", first), db.Integer))

