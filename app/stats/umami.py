"""Umami's statistics (spec/umami.md §7): summary, pageview/event time series, metrics, active
visitors and realtime rows. Whole UTC hours are read from aggregates (the summary from
visit_hours, one row per hour; the time series and session metrics from visits = session × UTC
hour, visitor_sessions and hit_counts); only the partial hours at the ends of a range, the url
filter and the per-url/referrer/event lists read raw hits.

Statistics take a StatsQuery whose ``start`` and ``end`` are read as exact instants (naive
UTC, both inclusive, any precision: Umami's ranges are in milliseconds) and whose
``timezone`` names the zone of the time buckets; they return plain data. A hit without a
session (sessions off, GoatCounter's no_sessions) counts as a visit and a visitor of its own,
as in the GoatCounter family."""
import functools
import uuid
from collections import Counter, defaultdict
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import String, and_, case, func, literal, or_, select, union

from app.extensions import db
from app.ingest import visits as visit_numbers
from app.ingest.visits import seconds_between
from app.models import Hit, HitCount, Path, SiteHour, Url, Visit, VisitHour, VisitorSession

HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
UNITS = ("year", "month", "day", "hour")
SESSION_METRICS = {"browser": VisitorSession.umami_browser, "os": VisitorSession.umami_os,
                   "device": VisitorSession.device,
                   "country": func.substr(VisitorSession.location, 1, 2)}
METRICS = ("url", "referrer", "event", *SESSION_METRICS)
_PY_FORMATS = {"hour": "%Y-%m-%d %H:00:00", "day": "%Y-%m-%d", "month": "%Y-%m-01",
               "year": "%Y-01-01"}
_PG_FORMATS = {"hour": "YYYY-MM-DD HH24:00:00", "day": "YYYY-MM-DD", "month": "YYYY-MM-01",
               "year": "YYYY-01-01"}
REALTIME_LIMIT = 5000  # rows of each kind per realtime answer, newest first


class _Parts:
    """A range split into whole UTC hours [hours_from, hours_to) read from aggregates, and the
    raw-hit conditions for what lies outside them."""

    def __init__(self, start, end, whole=True):
        first = start.replace(minute=0, second=0, microsecond=0)
        self.hours_from = first if first == start else first + HOUR
        self.hours_to = (end + SECOND).replace(minute=0, second=0, microsecond=0)
        self.start, self.end = start, end
        if not whole or self.hours_from >= self.hours_to:
            self.hours_from = self.hours_to = None

    @property
    def has_hours(self):
        return self.hours_from is not None

    def hours(self, column):
        return and_(column >= self.hours_from, column < self.hours_to)

    def raw(self, column):
        """The condition on hits.created_at for the raw part (None when there is none)."""
        if not self.has_hours:
            return and_(column >= self.start, column <= self.end)
        parts = []
        if self.start < self.hours_from:
            parts.append(and_(column >= self.start, column < self.hours_from))
        if self.hours_to <= self.end:
            parts.append(and_(column >= self.hours_to, column <= self.end))
        return or_(*parts) if parts else None


def _url_id(url):
    return select(Url.id).where(Url.url == url).scalar_subquery()


def _pageviews(site_id, when, url=None):
    """A select of raw pageview hits of a site matching the condition ``when``."""
    query = (select(Hit.session_id, Hit.created_at).join(Path, Path.id == Hit.path_id)
             .where(Hit.site_id == site_id, Path.event.is_(False), when))
    return query.where(Hit.url_id == _url_id(url)) if url is not None else query


def summary(q, url=None):
    """{"pageviews", "uniques", "bounces", "totaltime"} over pageviews in [start, end]:
    visits are session × UTC hour; bounces are visits of one pageview; totaltime is the sum
    of whole seconds between each visit's first and last pageview."""
    site_id, parts = q.site_id, _Parts(q.start, q.end, whole=url is None)
    pageviews = uniques = bounces = totaltime = 0
    if parts.has_hours:
        pageviews, bounces, totaltime, uniques = _hour_summary(site_id, parts)
    raw_when = parts.raw(Hit.created_at)
    if raw_when is not None:
        raw = _raw_summary(site_id, raw_when, parts, url)
        pageviews, bounces, uniques, totaltime = (
            a + b for a, b in zip((pageviews, bounces, uniques, totaltime), raw))
    return {"pageviews": pageviews, "uniques": uniques, "bounces": bounces,
            "totaltime": totaltime}


def _hour_summary(site_id, parts):
    """(pageviews, bounces, totaltime, uniques) of the whole hours, from visit_hours (kept by
    app/ingest/visits.py) and the pageviews without a session from site_hours. Distinct
    sessions: those starting in the hours, plus those crossing their start — the visits in
    them whose session's previous visit lies before them."""
    pageviews, bounces, totaltime, starting = (int(value) for value in db.session.execute(
        select(*(func.coalesce(func.sum(column), 0) for column in (
            VisitHour.pageviews, VisitHour.bounces, VisitHour.seconds, VisitHour.sessions)))
        .where(VisitHour.site_id == site_id, parts.hours(VisitHour.hour))).one())
    lone = int(db.session.scalar(select(func.coalesce(func.sum(SiteHour.lone_pageviews), 0))
                                 .where(SiteHour.site_id == site_id, parts.hours(SiteHour.hour))))
    uniques = starting + _crossing(site_id, parts.hours_from, parts.hours_to) + lone
    return pageviews + lone, bounces + lone, totaltime, uniques


def _crossing(site_id, start, end):
    """Sessions with a visit in the hours [start, end) and an earlier one before ``start``:
    the visits in those hours whose previous visit is more hours back than they are from
    ``start`` (app/ingest/visits.py says which visits can be)."""
    found = 0
    for query in visit_numbers.crossing_selects(site_id, start, end, Visit.hour, Visit.gap_hours,
                                                func.count()):
        for hour, gap, n in db.session.execute(query.group_by(Visit.hour, Visit.gap_hours)):
            found += n if hour - gap * HOUR < start else 0
    return found


def _raw_summary(site_id, when, parts, url=None):
    """(pageviews, bounces, new uniques, totaltime) of the raw hits matching ``when``, summed in
    the database: the raw part can hold every hit of a busy hour, too many to bring into
    Python one by one. A session already counted in the whole hours is not a new unique; a
    hit without a session is a visit and a visitor of its own."""
    hits = _pageviews(site_id, when, url)
    hour = (func.date_trunc("hour", Hit.created_at) if db.engine.dialect.name == "postgresql"
            else func.strftime("%Y-%m-%d %H", Hit.created_at))
    visits = (hits.where(Hit.session_id.is_not(None))
              .with_only_columns(Hit.session_id.label("session_id"), func.count().label("n"),
                                 func.min(Hit.created_at).label("first_at"),
                                 func.max(Hit.created_at).label("last_at"))
              .group_by(Hit.session_id, hour).subquery())
    pageviews, bounces, totaltime = db.session.execute(select(
        func.coalesce(func.sum(visits.c.n), 0),
        func.coalesce(func.sum(case((visits.c.n == 1, 1), else_=0)), 0),
        func.coalesce(func.sum(seconds_between(visits.c.first_at, visits.c.last_at)), 0))).one()
    sessions = select(func.count(func.distinct(visits.c.session_id)))
    if parts.has_hours:
        sessions = sessions.where(~select(Visit.session_id).where(
            Visit.session_id == visits.c.session_id, Visit.site_id == site_id,
            parts.hours(Visit.hour)).exists())
    sessionless = db.session.scalar(hits.where(Hit.session_id.is_(None))
                                    .with_only_columns(func.count()))
    return (int(pageviews) + sessionless, int(bounces) + sessionless,
            int(db.session.scalar(sessions)) + sessionless, int(totaltime))


def _hour_pageviews(site_id, parts, label=None):
    """Pageviews of the whole hours from hit_counts (also those without a session); a dict
    by ``label(column)`` when given."""
    total = func.coalesce(func.sum(HitCount.pageviews), 0)
    where = (HitCount.site_id == site_id, Path.event.is_(False), parts.hours(HitCount.hour))
    if label is None:
        return int(db.session.scalar(select(total).select_from(HitCount)
                                     .join(Path, Path.id == HitCount.path_id).where(*where)))
    labelled = label(HitCount.hour)
    return {t: int(n) for t, n in db.session.execute(
        select(labelled, total).select_from(HitCount).join(Path, Path.id == HitCount.path_id)
        .where(*where).group_by(labelled))}


# --- time series ------------------------------------------------------------------------------

def zone(name):
    """The IANA zone named ``name`` (looked up case-insensitively), or None."""
    found = _zone_names().get((name or "").lower()) if isinstance(name, str) else None
    return ZoneInfo(found) if found else None


@functools.cache
def _zone_names():
    names = {name.lower(): name for name in available_timezones()}
    names.setdefault("utc", "UTC")
    return names


def _data_span(site_id, start, end):
    """(first, last) created_at of the site's hits within [start, end], or None: the zone's
    offsets are only needed there (a range of centuries costs nothing)."""
    in_range = (Hit.site_id == site_id, Hit.created_at >= start, Hit.created_at <= end)
    first = db.session.scalar(select(func.min(Hit.created_at)).where(*in_range))
    if first is None:
        return None
    return first, db.session.scalar(select(func.max(Hit.created_at)).where(*in_range))


def _offsets(tz, start, end):
    """[(from UTC instant, offset seconds)] covering [start, end], first from ``start``."""
    def offset(moment):
        return int(moment.replace(tzinfo=timezone.utc).astimezone(tz).utcoffset().total_seconds())

    result = [(start, offset(start))]
    moment = start.replace(minute=0, second=0, microsecond=0)
    step = timedelta(days=1)
    while moment < end:
        nxt = min(moment + step, end)
        if offset(nxt) != result[-1][1]:
            probe = moment
            while probe < nxt:  # find the hour (zones change on quarter hours at most)
                probe += timedelta(minutes=15)
                if offset(probe) != result[-1][1]:
                    result.append((probe, offset(probe)))
                    break
        moment = nxt
    return result


def _offset_expr(column, offsets):
    if len(offsets) == 1:
        return literal(offsets[0][1])
    return case(*((column < since, off) for (_s, off), (since, _o) in
                  zip(offsets, offsets[1:])), else_=offsets[-1][1])


def _labeller(offsets, unit):
    """label(column) → SQL expression giving the bucket's ``t`` text in local time."""
    def label(column):
        shift = _offset_expr(column, offsets)
        if db.engine.dialect.name == "postgresql":
            return func.to_char(column + func.make_interval(0, 0, 0, 0, 0, 0, shift),
                                _PG_FORMATS[unit])
        return func.strftime(_PY_FORMATS[unit], column,
                             func.printf("%d seconds", shift)).cast(String)
    return label


def _py_label(moment, offsets, unit):
    shift = offsets[0][1]
    for since, off in offsets:
        if moment >= since:
            shift = off
    return (moment + timedelta(seconds=shift)).strftime(_PY_FORMATS[unit])


def pageviews_series(q, unit, url=None):
    """{"pageviews": [{t, y}], "sessions": [{t, y}]}: pageviews and distinct sessions per
    local bucket of ``unit`` in zone ``q.timezone`` (DST-aware), only buckets with data."""
    site_id, start, end = q.site_id, q.start, q.end
    span = _data_span(site_id, start, end)
    if span is None:
        return {"pageviews": [], "sessions": []}
    offsets = _offsets(zone(q.timezone), *span)
    whole = url is None and all(off % 3600 == 0 for _s, off in offsets)
    parts = _Parts(start, end, whole=whole)
    views, sessions = Counter(), Counter()
    bucket_sessions = defaultdict(set)
    if parts.has_hours:
        label = _labeller(offsets, unit)
        labelled = label(Visit.hour)
        visit_views = {}
        for t, n_sessions, n_views in db.session.execute(
                select(labelled, func.count(func.distinct(Visit.session_id)),
                       func.sum(Visit.pageviews))
                .where(Visit.site_id == site_id, parts.hours(Visit.hour)).group_by(labelled)):
            sessions[t] += n_sessions
            visit_views[t] = int(n_views)
        for t, n in _hour_pageviews(site_id, parts, label).items():
            if n:
                views[t] += n
                sessions[t] += n - visit_views.get(t, 0)  # sessionless: one session each
    raw_when = parts.raw(Hit.created_at)
    if raw_when is not None:
        raw = list(db.session.execute(_pageviews(site_id, raw_when, url)))
        for session_id, created in raw:
            t = _py_label(created, offsets, unit)
            views[t] += 1
            if session_id is None:
                sessions[t] += 1
            else:
                bucket_sessions[t].add(session_id)
        _add_raw_sessions(site_id, parts, offsets, unit, bucket_sessions, sessions)
    ordered = sorted(views)
    return {"pageviews": [{"t": t, "y": views[t]} for t in ordered],
            "sessions": [{"t": t, "y": sessions[t]} for t in ordered if sessions[t]]}


def _add_raw_sessions(site_id, parts, offsets, unit, bucket_sessions, sessions):
    """Count the sessions seen in raw hits, except those a whole hour of the same bucket
    already counted."""
    counted = set()
    ids = set().union(*bucket_sessions.values()) if bucket_sessions else set()
    if parts.has_hours and ids:
        for session_id, hour in db.session.execute(
                select(Visit.session_id, Visit.hour).where(
                    Visit.site_id == site_id, parts.hours(Visit.hour),
                    Visit.session_id.in_(ids))):
            counted.add((_py_label(hour, offsets, unit), session_id))
    for t, ids_in_bucket in bucket_sessions.items():
        sessions[t] += sum(1 for sid in ids_in_bucket if (t, sid) not in counted)


def events_series(q, unit, url=None):
    """[{x: event value, t, y}] events per (value, local bucket), by ``t`` then ``x``."""
    site_id, start, end = q.site_id, q.start, q.end
    span = _data_span(site_id, start, end)
    if span is None:
        return []
    offsets = _offsets(zone(q.timezone), *span)
    query = (select(Path.path, Hit.created_at).join(Path, Path.id == Hit.path_id)
             .where(Hit.site_id == site_id, Path.event.is_(True),
                    Hit.created_at >= start, Hit.created_at <= end))
    if url is not None:
        query = query.where(Hit.url_id == _url_id(url))
    counts = Counter((_py_label(created, offsets, unit), value)
                     for value, created in db.session.execute(query))
    return [{"x": x, "t": t, "y": y} for (t, x), y in sorted(counts.items())]


# --- metrics ----------------------------------------------------------------------------------

def metrics(q, kind, url=None):
    """[{x, y}] by y descending for one of METRICS (spec §7.5); ``url`` is ignored for
    "url", as upstream does."""
    site_id, start, end = q.site_id, q.start, q.end
    if kind in SESSION_METRICS:
        rows = _session_metric(site_id, start, end, SESSION_METRICS[kind], url)
    else:
        rows = _hit_metric(site_id, start, end, kind, url)
    return [{"x": x, "y": int(y)} for x, y in sorted(rows, key=lambda row: (-row[1],
                                                                             row[0] or ""))]


def _hit_metric(site_id, start, end, kind, url):
    in_range = and_(Hit.site_id == site_id, Hit.created_at >= start, Hit.created_at <= end)
    if kind == "event":
        query = (select(Hit.event_type, Path.path, func.count())
                 .join(Path, Path.id == Hit.path_id)
                 .where(in_range, Path.event.is_(True)).group_by(Hit.event_type, Path.path))
        if url is not None:
            query = query.where(Hit.url_id == _url_id(url))
        counts = Counter()
        for event_type, value, n in db.session.execute(query):
            counts[f"{event_type or ''}\t{value}"] += n
        return counts.items()
    column = Hit.url_id if kind == "url" else Hit.referrer_url_id
    # A url falls back to the path when none was sent; a referrer does not need the path.
    path = Path.path if kind == "url" else literal("")
    counted = (select(column.label("url_id"), path.label("path"), func.count().label("n"))
               .join(Path, Path.id == Hit.path_id)
               .where(in_range, Path.event.is_(False)).group_by(column, path))
    if kind == "referrer" and url is not None:
        counted = counted.where(Hit.url_id == _url_id(url))
    counted = counted.subquery()
    # The texts are joined in SQL: a year of a big site has more distinct urls than a query
    # may carry parameters (PostgreSQL's limit is 65,535).
    query = (select(Url.url, counted.c.path, counted.c.n).select_from(counted)
             .join(Url, Url.id == counted.c.url_id, isouter=True))
    counts = Counter()
    for text, path_text, n in db.session.execute(query):
        if kind == "url":
            counts[text if text is not None else path_text] += n
        else:  # a pageview recorded without a referrer is a direct visit: ""
            counts[text if text is not None else ""] += n
    return counts.items()


def _session_metric(site_id, start, end, column, url):
    """Sessions with at least one pageview in the range (of ``url``), per attribute value."""
    parts = _Parts(start, end, whole=url is None)
    selects = []
    if parts.has_hours:
        selects.append(select(Visit.session_id).where(Visit.site_id == site_id,
                                                      parts.hours(Visit.hour)))
    raw_when = parts.raw(Hit.created_at)
    if raw_when is not None:
        selects.append(_pageviews(site_id, raw_when, url)
                       .with_only_columns(Hit.session_id).where(Hit.session_id.is_not(None)))
    ids = union(*selects).subquery() if len(selects) > 1 else selects[0].subquery()
    value = column.label("x")
    query = (select(value, func.count()).where(VisitorSession.id.in_(select(ids.c[0])))
             .group_by(value))
    return [(x if x != "" else None, n) for x, n in db.session.execute(query)]


def active_visitors(site_id, now):
    """Distinct sessions (and sessionless pageviews) in the 5 minutes up to ``now``."""
    rows = db.session.execute(_pageviews(site_id, Hit.created_at >= now - timedelta(minutes=5)))
    sessions, loose = set(), 0
    for session_id, _created in rows:
        if session_id is None:
            loose += 1
        else:
            sessions.add(session_id)
    return len(sessions) + loose


def realtime(site_ids, since, limit=REALTIME_LIMIT):
    """Rows created at or after ``since`` for Umami's realtime view: {"pageviews", "sessions",
    "events"}, each a list of dicts (newest first, at most ``limit`` each)."""
    if not site_ids:
        return {"pageviews": [], "sessions": [], "events": []}
    page, ref = Url.__table__.alias("page"), Url.__table__.alias("ref")
    base = (select(Hit.id, Hit.site_id, Hit.session_id, Hit.created_at, page.c.url, Path.path)
            .join(Path, Path.id == Hit.path_id).outerjoin(page, page.c.id == Hit.url_id)
            .where(Hit.site_id.in_(site_ids), Hit.created_at >= since)
            .order_by(Hit.id.desc()).limit(limit))
    pageviews = [
        {"view_id": id_, "website_id": site, "session_id": session, "created_at": created,
         "url": url if url is not None else path, "referrer": referrer}
        for id_, site, session, created, url, path, referrer in db.session.execute(
            base.add_columns(ref.c.url).outerjoin(ref, ref.c.id == Hit.referrer_url_id)
            .where(Path.event.is_(False)))]
    events = [
        {"event_id": id_, "website_id": site, "session_id": session, "created_at": created,
         "url": url or "", "event_type": event_type or "", "event_value": path}
        for id_, site, session, created, url, path, event_type in db.session.execute(
            base.add_columns(Hit.event_type).where(Path.event.is_(True)))]
    sessions = [
        {"session_id": row.id, "session_uuid": str(uuid.UUID(bytes=bytes(row.uuid))),
         "website_id": row.site_id, "created_at": row.first_seen, "hostname": row.hostname,
         "browser": row.umami_browser, "os": row.umami_os, "device": row.device,
         "screen": row.screen, "language": row.language,
         "country": (row.location or "")[:2] or None}
        for row in db.session.scalars(
            select(VisitorSession).where(VisitorSession.site_id.in_(site_ids),
                                         VisitorSession.first_seen >= since)
            .order_by(VisitorSession.id.desc()).limit(limit))]
    return {"pageviews": pageviews, "sessions": sessions, "events": events}
