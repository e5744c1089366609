"""Where a statistic's rows come from. A query over all paths reads the site-wide rollups
(``site_stats``: whole months from the monthly rows, partial months from the daily rows, and
for hour-precise statistics the partial days at the range's edges from the hourly per-path
tables); a query filtered by path reads the per-path rollups. Either way the dimension code sees
one ``Source``: a FROM clause, its key column, its visitors column and its WHERE clause. Also
the bound that lets a long range's top entries be read from the top of each month's rows
(``top_candidates``), and an hour bucket's local day in SQL (``local_day``)."""
import calendar
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import (Date, Integer, and_, bindparam, cast, func, literal, literal_column,
                        or_, select, true, union_all)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
from app.models import SiteStat

INT_KINDS = frozenset("prbszc")  # kinds whose key is a number (ids, widths)
# top_keys reads each month's TOP_MIN (or twice the rows wanted) most visited keys; the deepest
# row it looks for is TOP_MAX: further pages (API paging) sum every key instead of reading and
# looking up thousands of candidates.
TOP_MIN, TOP_MAX = 50, 400


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


def period_clause(first_day, last_day, listed=False):
    """SiteStat rows covering the days first_day … last_day (inclusive): the monthly rows of
    the months wholly inside, the daily rows of the rest. ``listed``: name every period (for
    a few keys: PostgreSQL then looks each (period, key) up in the primary key instead of
    reading every row of the range)."""
    whole, days = [], []
    for month in months(first_day, last_day):
        month_end = _month_end(month)
        start, end = max(first_day, month), min(last_day, month_end)
        if (start, end) == (month, month_end):
            whole.append(month)
        else:
            days.append((start, end))
    if listed:
        every_day = [start + timedelta(days=n) for start, end in days
                     for n in range((end - start).days + 1)]
        clauses = [and_(SiteStat.span == span, inline_in(SiteStat.period, periods))
                   for span, periods in (("d", every_day), ("m", whole)) if periods]
        return or_(*clauses) if clauses else literal(False)
    clauses = [and_(SiteStat.span == "d", SiteStat.period >= start, SiteStat.period <= end)
               for start, end in days]
    if whole:
        clauses.append(and_(SiteStat.span == "m", SiteStat.period >= whole[0],
                            SiteStat.period <= whole[-1]))
    return or_(*clauses) if clauses else literal(False)


def inline_in(column, values):
    """``column IN (values)`` with the values written into the SQL: a statement run often
    with bound values gets a generic plan on PostgreSQL (psycopg prepares it), and for
    lists of keys and periods that plan reads every row instead of looking each one up."""
    if not values:
        return literal(False)
    return column.in_(bindparam(None, list(values), type_=column.type, expanding=True,
                                literal_execute=True))


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


def site_rows(q, kind, first_day, last_day, keys=None, skip=(), listed=False):
    """A select of (key, visitors) SiteStat rows of ``kind`` for the days given; ``keys``/
    ``skip``: only / not these keys (path ids for kind "p"); ``listed``: see period_clause."""
    clauses = [SiteStat.site_id == q.site_id, SiteStat.kind == kind,
               period_clause(first_day, last_day, listed)]
    if keys is not None:
        clauses.append(inline_in(SiteStat.key, [str(k) for k in keys]) if listed else
                       SiteStat.key.in_([str(k) for k in keys]) if keys else literal(False))
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


def hour_source(q, kind, table, column, keys=None):
    """The rows of an hour-precise statistic (paths, referrers) for q.start … q.end: whole
    days from SiteStat, the edge hours from the hourly per-path ``table``. ``keys``: only
    these keys (ids; for kind "p" on top of q's path selection)."""
    def hourly(start, end):
        clauses = [table.site_id == q.site_id, table.hour >= start, table.hour <= end,
                   *path_clauses(q, table.path_id)]
        if keys is not None:
            clauses.append(inline_in(getattr(table, column), keys) if keys else literal(False))
        return (select(cast(getattr(table, column), Integer).label("key"),
                       table.visitors.label("visitors")).where(*clauses))

    if path_filtered(q) and kind != "p":
        rows = hourly(q.start, q.end).subquery()
        return Source(rows, rows.c.key, rows.c.visitors, true())
    days, edges = whole_days(q.start, q.end)
    parts = [hourly(start, end) for start, end in edges]
    if days:
        only = keys
        if kind == "p" and q.include_paths is not None:
            only = q.include_paths if keys is None else \
                tuple(k for k in keys if k in set(q.include_paths))
        parts.append(site_rows(q, kind, *days, keys=only,
                               skip=q.exclude_paths if kind == "p" else (),
                               listed=keys is not None))
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    return Source(rows, rows.c.key, rows.c.visitors, true())


def months(first_day, last_day):
    """The first days of the months that the days first_day … last_day touch, oldest first."""
    month, last, result = first_day.replace(day=1), last_day.replace(day=1), []
    while month <= last:
        result.append(month)
        month = _month_end(month) + timedelta(days=1)
    return result


def _month_end(month):
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


@dataclass(frozen=True)
class Candidates:
    """What the top of each month's rows says about the keys of a range (top_candidates):
    each candidate's ``lower`` and ``upper`` bound on its visitors in the range; any other
    key has at most ``bound``."""
    lower: dict
    upper: dict
    bound: int


def top_candidates(q, kind, m):
    """The keys of ``kind`` that may be among the most visited of q.start … q.end (all
    paths), found without reading the long tail: the ``m`` most visited keys of each UTC
    month the range touches (its monthly rows, through ix_site_stats_top). A key outside a
    month's top has at most that month's ``m``-th value there (0 when the month has fewer
    rows), and the range holds at most a month's total of each month it touches; so a key
    outside every top has at most the sum of those values (``bound``). A candidate's lower
    bound counts the months wholly inside the range where it is in the top."""
    parts = []
    for month in months(q.start.date(), q.end.date()):
        top = (select(SiteStat.period, _key(kind).label("key"), SiteStat.visitors)
               .where(SiteStat.site_id == q.site_id, SiteStat.kind == kind,
                      SiteStat.span == "m", SiteStat.period == month)
               .order_by(SiteStat.visitors.desc()).limit(m).subquery())
        parts.append(select(top.c.period, top.c.key, top.c.visitors))
    per_month = {}
    for period, key, visitors in db.session.execute(union_all(*parts)):
        per_month.setdefault(period, {})[int(key)] = int(visitors)
    least = {period: min(top.values()) if len(top) >= m else 0
             for period, top in per_month.items()}
    days = whole_days(q.start, q.end)[0]
    whole = {period for period in per_month
             if days and days[0] <= period and _month_end(period) <= days[1]}
    lower, upper = {}, {}
    for key in {key for top in per_month.values() for key in top}:
        lower[key] = sum(top.get(key, 0) for period, top in per_month.items()
                         if period in whole)
        upper[key] = sum(top.get(key, least[period]) for period, top in per_month.items())
    return Candidates(lower, upper, sum(least.values()))


def top_keys(q, kind, table, column, need, keep=None, newest_first=False):
    """The ``need`` most visited keys of ``kind`` in q.start … q.end (all paths) with their
    visitors, most first (ties: lowest key first, or highest with ``newest_first``), found
    from the top of each month (top_candidates: TOP_MIN rows, or twice ``need``) — fewer when
    fewer keys have visitors; None when those tops cannot prove the order, for a path filter
    (its per-path tables have no long monthly tail) and beyond TOP_MAX keys: the caller then
    sums every key. ``keep(keys)``: the candidates that may be shown (e.g. not the site's own
    referrers)."""
    if path_filtered(q) or need > TOP_MAX:
        return None
    found = top_candidates(q, kind, max(TOP_MIN, 2 * need))
    # A key with more visitors than ``bound`` is a candidate and comes before every key that
    # is not (ties included: those have at most ``bound``), so the candidates above it are
    # the list's head, in order; with bound 0 they are the whole list.
    possible = [key for key, most in found.upper.items() if most > found.bound]
    if possible and keep is not None:
        possible = keep(possible)
    # ``need`` shown keys have at least ``least`` visitors: a key that cannot reach it is not
    # among the first ``need`` and is not looked up.
    lowers = sorted((found.lower[key] for key in possible), reverse=True)
    least = lowers[need - 1] if len(lowers) >= need else 0
    totals = key_totals(q, kind, table, column,
                        sorted(key for key in possible if found.upper[key] >= least))
    sign = -1 if newest_first else 1
    above = sorted((key for key, n in totals.items() if n > found.bound),
                   key=lambda key: (-totals[key], sign * key))
    if len(above) < need and found.bound > 0:
        return None
    return [(key, totals[key]) for key in above[:need]]


def key_totals(q, kind, table, column, keys):
    """{key: visitors in q.start … q.end} of the few ``keys`` (all paths), each looked up."""
    if not keys:
        return {}
    src = hour_source(q, kind, table, column, keys=keys)
    return {int(key): int(n) for key, n in db.session.execute(
        select(src.key, func.sum(src.visitors)).select_from(src.table).where(src.where)
        .group_by(src.key))}


class local_day(FunctionElement):
    """The reader's local date of a UTC hour bucket: ``local_day(HitCount.hour, minutes)`` is
    ``(hour + minutes).date()`` in SQL, on PostgreSQL and SQLite."""
    type = Date()
    inherit_cache = True
    name = "local_day"

    def __init__(self, column, minutes):
        # The offset is written into the SQL (it is an int), so that the expression in
        # GROUP BY is the one in the SELECT list.
        super().__init__(column, literal_column(str(int(minutes))))


@compiles(local_day)
def _local_day(element, compiler, **kw):
    column, minutes = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({column} + make_interval(mins => {minutes}) AS DATE)"


@compiles(local_day, "sqlite")
def _local_day_sqlite(element, compiler, **kw):
    column, minutes = (compiler.process(c, **kw) for c in element.clauses)
    return f"date({column}, '{minutes} minutes')"
