"""Where a statistic's rows come from. A query over all paths reads the site-wide rollups
(``site_stats``: whole months from the monthly rows, partial months from the daily rows, and
for hour-precise statistics the partial days at the range's edges from the hourly per-path
tables); a query filtered by path reads the per-path rollups. Either way the dimension code sees
one ``Source``: a FROM clause, its key column, its visitors column and its WHERE clause."""
import calendar
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Integer, and_, cast, literal, or_, select, true, union_all

from app.models import SiteStat

INT_KINDS = frozenset("prbszc")  # kinds whose key is a number (ids, widths)


@dataclass(frozen=True)
class Source:
    table: object
    key: object
    visitors: object
    where: object


def path_filtered(q):
    return q.include_paths is not None or bool(q.exclude_paths)


def path_clauses(q, column):
    """The include/exclude path selection as WHERE clauses on a path-id column."""
    clauses = []
    if q.include_paths is not None:
        clauses.append(column.in_(q.include_paths) if q.include_paths else literal(False))
    if q.exclude_paths:
        clauses.append(column.not_in(q.exclude_paths))
    return clauses


def period_clause(first_day, last_day):
    """SiteStat rows covering the days first_day … last_day (inclusive): the monthly rows of
    the months wholly inside, the daily rows of the rest."""
    months, days = [], []
    month = first_day.replace(day=1)
    while month <= last_day:
        month_end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
        start, end = max(first_day, month), min(last_day, month_end)
        if (start, end) == (month, month_end):
            months.append(month)
        else:
            days.append((start, end))
        month = month_end + timedelta(days=1)
    clauses = [and_(SiteStat.span == "d", SiteStat.period >= start, SiteStat.period <= end)
               for start, end in days]
    if months:
        clauses.append(and_(SiteStat.span == "m", SiteStat.period >= months[0],
                            SiteStat.period <= months[-1]))
    return or_(*clauses) if clauses else literal(False)


def whole_days(start, end):
    """(first, last) dates whose every hour bucket lies in [start, end], or None; and the
    leftover edge-hour ranges [(from, to)] (inclusive) outside those days."""
    first = start.date() if start.time() == time() else start.date() + timedelta(days=1)
    last = end.date() if end.time() >= time(23) else end.date() - timedelta(days=1)
    if first > last:
        return None, [(start, end)]
    edges = []
    if start < datetime.combine(first, time()):
        edges.append((start, datetime.combine(first, time()) - timedelta(seconds=1)))
    after = datetime.combine(last + timedelta(days=1), time())
    if end >= after:
        edges.append((after, end))
    return (first, last), edges


def _key(kind):
    return cast(SiteStat.key, Integer) if kind in INT_KINDS else SiteStat.key


def site_rows(q, kind, first_day, last_day, keys=None, skip=()):
    """A select of (key, visitors) SiteStat rows of ``kind`` for the days given; ``keys``/
    ``skip``: only / not these keys (path ids for kind "p")."""
    clauses = [SiteStat.site_id == q.site_id, SiteStat.kind == kind,
               period_clause(first_day, last_day)]
    if keys is not None:
        clauses.append(SiteStat.key.in_([str(k) for k in keys]) if keys else literal(False))
    if skip:
        clauses.append(SiteStat.key.not_in([str(k) for k in skip]))
    return select(_key(kind).label("key"), SiteStat.visitors.label("visitors")).where(*clauses)


def day_source(q, kind, table, column):
    """The rows of a day-based dimension for q.first_day … q.last_day (UTC days)."""
    if path_filtered(q):
        return Source(table, getattr(table, column), table.visitors,
                      and_(table.site_id == q.site_id, table.day >= q.first_day,
                           table.day <= q.last_day, *path_clauses(q, table.path_id)))
    rows = site_rows(q, kind, q.first_day, q.last_day).subquery()
    return Source(rows, rows.c.key, rows.c.visitors, true())


def hour_source(q, kind, table, column):
    """The rows of an hour-precise statistic (paths, referrers) for q.start … q.end: whole
    days from SiteStat, the edge hours from the hourly per-path ``table``."""
    def hourly(start, end):
        return (select(cast(getattr(table, column), Integer).label("key"),
                       table.visitors.label("visitors"))
                .where(table.site_id == q.site_id, table.hour >= start, table.hour <= end,
                       *path_clauses(q, table.path_id)))

    if path_filtered(q) and kind != "p":
        rows = hourly(q.start, q.end).subquery()
        return Source(rows, rows.c.key, rows.c.visitors, true())
    days, edges = whole_days(q.start, q.end)
    parts = [hourly(start, end) for start, end in edges]
    if days:
        parts.append(site_rows(q, kind, *days, keys=q.include_paths if kind == "p" else None,
                               skip=q.exclude_paths if kind == "p" else ()))
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    return Source(rows, rows.c.key, rows.c.visitors, true())

