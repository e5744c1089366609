"""The stats service every surface calls (GoatCounter API, dashboard, counter): totals, visitors
per path with Day objects, referrers of a path, breakdowns by dimension and their drill-downs,
the path list. Reads rollups only. "Visitors" are first visits (GoatCounter's definition,
spec §9); ranges are UTC and inclusive at both ends (StatsQuery)."""
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import HitCount, Path, Ref, RefCount, SiteHour
from app.stats import dimensions, sql
from app.stats.dimensions import Row
from app.stats.query import whole_days

SIZE_LABEL = "↔\ufe0e {}px"


@dataclass
class Day:
    """Visitors on one local calendar day: ``hourly`` has 24 entries (local hours), ``daily``
    their sum; ``weekly``/``monthly`` are set on the first day of each 7-day chunk / month
    segment (spec §10.3) and 0 elsewhere. Days read without their hours (``hits(q,
    hourly=False)``) have an empty ``hourly`` and the same other values."""
    day: date
    hourly: list[int]
    daily: int = 0
    weekly: int = 0
    monthly: int = 0


@dataclass
class PathStats:
    path_id: int
    path: str
    title: str
    event: bool
    count: int
    max: int
    stats: list[Day] = field(default_factory=list)


@dataclass
class HitsPage:
    hits: list[PathStats]
    total: int
    more: bool


@dataclass
class Totals:
    total: int
    total_events: int
    total_utc: int
    stats: list[Day]


@dataclass
class Page:
    rows: list
    more: bool


@dataclass
class PathRow:
    id: int
    path: str
    title: str
    event: bool


def path_ids_by_name(site_id, names):
    """Ids of the site's paths whose name equals one of ``names`` (case-insensitive)."""
    keys = [name.lower() for name in names if name]
    if not keys:
        return ()
    return tuple(db.session.scalars(select(Path.id).where(
        Path.site_id == site_id, Path.path_key.in_(keys)).order_by(Path.id)))


def _hour_scope(q, table):
    return [table.site_id == q.site_id, table.hour >= q.start, table.hour <= q.end,
            *sql.path_clauses(q, table.path_id)]


def days_from_hours(q, hours):
    """Day objects for q.days from ``hours``: (UTC hour bucket, visitors) pairs."""
    index = {day: n for n, day in enumerate(q.days)}
    days = [Day(day=day, hourly=[0] * 24) for day in q.days]
    for hour, visitors in hours:
        local = hour + q.shift
        n = index.get(local.date())
        if n is not None and visitors:
            days[n].hourly[local.hour] += visitors
    for day in days:
        day.daily = sum(day.hourly)
    return _chunks(days)


def days_from_totals(q, totals):
    """Day objects for q.days, without hours, from ``totals``: (local day, visitors) pairs."""
    days = {day: Day(day=day, hourly=[]) for day in q.days}
    for day, visitors in totals:
        if day in days:
            days[day].daily += int(visitors or 0)
    return _chunks(list(days.values()))


def _chunks(days):
    """Set the weekly and monthly values of ``days`` from their daily ones."""
    for start in range(0, len(days), 7):
        days[start].weekly = sum(d.daily for d in days[start:start + 7])
    segment = 0
    for n, day in enumerate(days):
        if n and day.day.day == 1:
            segment = n
        days[segment].monthly += day.daily
    return days


def group_max(days, group):
    """The largest bucket of the chart for ``group`` (spec §10.3)."""
    if group == "hour":
        return max((v for d in days for v in d.hourly), default=0)
    if group == "day":
        return max((d.daily for d in days), default=0)
    if group == "week":
        return max((d.weekly for d in days), default=0)
    return max((d.monthly for d in days), default=0)


def totals(q):
    """Visitors of all (or the included) paths: total, of events only, and over the whole
    UTC days of the range (the denominator of the day-based breakdowns), with Day objects."""
    start, end = whole_days(q.first_day, q.last_day)
    if sql.path_filtered(q):
        visitors = func.sum(HitCount.visitors)
        events = func.sum(HitCount.visitors).filter(Path.event.is_(True))
        rows = db.session.execute(
            select(HitCount.hour, visitors, events).join(Path, Path.id == HitCount.path_id)
            .where(*_hour_scope(q, HitCount)).group_by(HitCount.hour)).all()
        total_utc = db.session.scalar(
            select(func.coalesce(func.sum(HitCount.visitors), 0))
            .where(HitCount.site_id == q.site_id, HitCount.hour >= start, HitCount.hour <= end,
                   *sql.path_clauses(q, HitCount.path_id)))
    else:  # site-wide: one row per hour
        rows = db.session.execute(
            select(SiteHour.hour, SiteHour.visitors, SiteHour.event_visitors)
            .where(SiteHour.site_id == q.site_id, SiteHour.hour >= q.start,
                   SiteHour.hour <= q.end)).all()
        total_utc = db.session.scalar(
            select(func.coalesce(func.sum(SiteHour.visitors), 0))
            .where(SiteHour.site_id == q.site_id, SiteHour.hour >= start, SiteHour.hour <= end))
    return Totals(total=sum(int(r[1] or 0) for r in rows),
                  total_events=sum(int(r[2] or 0) for r in rows),
                  total_utc=int(total_utc),
                  stats=days_from_hours(q, [(r[0], int(r[1] or 0)) for r in rows]))


def total_visitors(q, whole_days_only=False):
    """Visitors of all (or the included) paths in the range's hours — or, with
    ``whole_days_only``, over the whole UTC days q.first_day … q.last_day (the denominator of
    the day-based breakdowns). totals() without its Day objects."""
    start, end = whole_days(q.first_day, q.last_day) if whole_days_only else (q.start, q.end)
    table = HitCount if sql.path_filtered(q) else SiteHour
    clauses = [table.site_id == q.site_id, table.hour >= start, table.hour <= end]
    if table is HitCount:
        clauses += sql.path_clauses(q, HitCount.path_id)
    return int(db.session.scalar(select(func.coalesce(func.sum(table.visitors), 0))
                                 .where(*clauses)))


def hits(q, hourly=True):
    """The q.limit paths with most visitors in the range (ties: newest path first), each with
    its Day objects; ``total`` sums the returned paths, ``more`` says whether more follow.
    ``hourly=False`` sums each path's visitors per local day in the database instead of
    reading every hour (a year is 24 times fewer rows): the Days then have an empty
    ``hourly`` list and the same daily, weekly and monthly values. It is ignored when
    q.group is "hour", whose chart and ``max`` need the hours."""
    hourly = hourly or q.group == "hour"
    ranked = _top_paths(q)
    if ranked is None:
        src = sql.hour_source(q, "p", HitCount, "path_id")
        count = func.sum(src.visitors)
        ranked = db.session.execute(
            select(src.key, count).select_from(src.table).group_by(src.key).having(count > 0)
            .order_by(count.desc(), src.key.desc()).limit(q.limit + 1)).all()
    more, ranked = len(ranked) > q.limit, ranked[:q.limit]
    if not ranked:
        return HitsPage(hits=[], total=0, more=False)
    ids = [path_id for path_id, _ in ranked]
    paths = {p.id: p for p in db.session.scalars(select(Path).where(Path.id.in_(ids)))}
    scope = (HitCount.site_id == q.site_id, HitCount.hour >= q.start, HitCount.hour <= q.end,
             HitCount.path_id.in_(ids), HitCount.visitors > 0)
    if hourly:
        rows = select(HitCount.path_id, HitCount.hour, HitCount.visitors).where(*scope)
        to_days = days_from_hours
    else:
        day = sql.local_day(HitCount.hour, q.tz_offset)
        rows = (select(HitCount.path_id, day, func.sum(HitCount.visitors)).where(*scope)
                .group_by(HitCount.path_id, day))
        to_days = days_from_totals
    per_path = defaultdict(list)
    for path_id, when, n in db.session.execute(rows):
        per_path[path_id].append((when, n))
    result = []
    for path_id, visitors in ranked:
        path, days = paths[path_id], to_days(q, per_path[path_id])
        result.append(PathStats(path_id=path_id, path=path.path, title=path.title,
                                event=path.event, count=int(visitors),
                                max=group_max(days, q.group), stats=days))
    return HitsPage(hits=result, total=sum(p.count for p in result), more=more)


def _top_paths(q):
    """hits()' ranking — the q.limit + 1 paths with most visitors, ties newest first — from
    the top of each month's rows (sql.top_keys); None when that cannot prove it, or for a
    path filter or a long list, which sum every path."""
    return sql.top_keys(q, "p", HitCount, "path_id", q.limit + 1, newest_first=True)


def path_refs(q, path_id):
    """Referrers that brought visitors to one path, most first (ties: oldest referrer).
    Summed and paged per referrer id first: only the page's referrers are joined for their
    texts (a popular path has tens of thousands of referrers a year)."""
    count = func.sum(RefCount.visitors)
    page = (select(RefCount.ref_id.label("ref_id"), count.label("visitors"))
            .where(RefCount.site_id == q.site_id, RefCount.path_id == path_id,
                   RefCount.hour >= q.start, RefCount.hour <= q.end)
            .group_by(RefCount.ref_id).having(count > 0)
            .order_by(count.desc(), RefCount.ref_id).limit(q.limit + 1).offset(q.offset)
            .subquery())
    rows = db.session.execute(
        select(Ref.ref, page.c.visitors, Ref.ref_scheme).join(Ref, Ref.id == page.c.ref_id)
        .order_by(page.c.visitors.desc(), page.c.ref_id)).all()
    return Page(rows=[Row(None, ref or "", int(n), scheme) for ref, n, scheme in rows[:q.limit]],
                more=len(rows) > q.limit)


def breakdown(q, name, link_domain=""):
    """Visitors per entry of the dimension ``name`` (see dimensions.DIMENSIONS); day-based
    dimensions read the UTC days q.first_day … q.last_day. ``link_domain`` (the site's, as stored)
    excludes the site's own referrers from toprefs."""
    dimension = dimensions.get(name)
    query = dimension.rows(q, link_domain)
    if not dimension.paged:
        counts = {key: int(n) for key, _, n in db.session.execute(query)}
        return Page(rows=[Row(bucket, "", counts.get(bucket, 0))
                          for bucket, _, _ in dimensions.SIZE_BUCKETS], more=False)
    rows = dimension.top(q, link_domain) if dimension.top else None
    if rows is None:
        rows = db.session.execute(query.limit(q.limit + 1).offset(q.offset)).all()
    return Page(rows=[dimension.to_row(*row) for row in rows[:q.limit]],
                more=len(rows) > q.limit)


def drilldown(q, name, key):
    """The entries inside one row of a breakdown (browser versions, regions, widths, campaign
    sources, paths of a referrer). ValidationError for a dimension without drill-down."""
    dimension = dimensions.get(name, drill=True)
    rows = db.session.execute(dimension.drill(q, key).limit(q.limit + 1).offset(q.offset)).all()
    label = (lambda value: SIZE_LABEL.format(value)) if name == "sizes" else \
        (lambda value: value or "")
    return Page(rows=[Row(None, label(value), int(n)) for value, n in rows[:q.limit]],
                more=len(rows) > q.limit)


def paths(site_id, after=0, limit=20):
    """The site's paths (pageviews and events) ordered by path then id, with id > ``after``."""
    rows = db.session.execute(
        select(Path.id, Path.path, Path.title, Path.event)
        .where(Path.site_id == site_id, Path.id > after)
        .order_by(Path.path, Path.id).limit(limit + 1)).all()
    return Page(rows=[PathRow(*row) for row in rows[:limit]], more=len(rows) > limit)


def path_counts(site_id, path, start: datetime | None, end: datetime | None):
    """(visitors, pageviews) of one path — or of the whole site when ``path`` is None — in the
    UTC range; None when the path does not exist. The visitor counter reads this."""
    query = select(func.coalesce(func.sum(HitCount.visitors), 0),
                   func.coalesce(func.sum(HitCount.pageviews), 0)).where(
        HitCount.site_id == site_id)
    if path is not None:
        path_id = db.session.scalar(select(Path.id).where(
            Path.site_id == site_id, Path.path_key == path.lower()))
        if path_id is None:
            return None
        query = query.where(HitCount.path_id == path_id)
    if start is not None:
        query = query.where(HitCount.hour >= start)
    if end is not None:
        query = query.where(HitCount.hour <= end)
    visitors, pageviews = db.session.execute(query).one()
    return int(visitors), int(pageviews)
