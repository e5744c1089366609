"""What the dashboard reads besides the stats service: GoatCounter's period and grouping rules
(spec §14), the filter box turned into path ids, summary numbers with their change versus the
previous period, paths with their change, visitors right now and the hits that were filtered.
Explicit arguments, plain data; ranges are naive UTC datetimes, both ends inclusive."""
import re
from calendar import monthrange
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sqlalchemy import and_, func, literal, not_, or_, select

from app.extensions import db
from app.models import BotHit, HitCount, Path
from app.stats import service, sql, umami

SECOND = timedelta(seconds=1)
PERIODS = {"day": ("days", 1), "week": ("days", 7), "month": ("months", 1),
           "quarter": ("months", 3), "half-year": ("months", 6), "year": ("months", 12)}
STEPS = ("day", "week", "month", "year")
REASONS = ("bot", "ignored-ip", "spam", "invalid", "dnt")
KEYWORDS = ("at:start", "at:end", "in:path", "in:title", "is:event", "is:pageview", ":not")


# --- periods and grouping (spec §14) ----------------------------------------------------------

def months_back(day: date, months: int):
    """``day`` moved ``months`` back (or forward when negative), clamped to the month's end."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def period_range(period: str, today: date):
    """(first, last) local dates of a quick-link period ending today: "week" from 2020-12-02
    is 2020-11-25 … 2020-12-02; a number N is N days back (0 = today only). ValueError for
    anything else."""
    if period.isdigit() and len(period) <= 4:
        return today - timedelta(days=int(period)), today
    try:
        unit, amount = PERIODS[period]
    except KeyError:
        raise ValueError(f"unknown period {period!r}") from None
    if unit == "days":
        return today - timedelta(days=amount), today
    return months_back(today, amount), today


def step(first: date, last: date, unit: str, forward: bool):
    """The range moved one ``unit`` (day, week, month, year) back or forward."""
    if unit not in STEPS:
        raise ValueError(f"unknown step {unit!r}")
    sign = 1 if forward else -1
    if unit in ("day", "week"):
        shift = timedelta(days=sign * (1 if unit == "day" else 7))
        return first + shift, last + shift
    months = -sign * (1 if unit == "month" else 12)
    return months_back(first, months), months_back(last, months)


def allowed_groups(first: date, last: date):
    """Groupings allowed for the local days first … last (d = end − start in fractional
    days): d ≤ 6 hour; d < 90 hour, day; d < 364 day, week; else day, week, month."""
    d = (last - first).days + 1 - 1 / 86400
    if d <= 6:
        return ("hour",)
    if d < 90:
        return ("hour", "day")
    if d < 364:
        return ("day", "week")
    return ("day", "week", "month")


def pick_group(first: date, last: date, wanted=None, saved=None):
    """``wanted`` (the URL) if allowed, else ``saved`` if allowed, else hour below 90 days
    and day above."""
    allowed = allowed_groups(first, last)
    for group in (wanted, saved):
        if group in allowed:
            return group
    return "hour" if (last - first).days + 1 < 90 else "day"


def previous(q):
    """The query for the period of equal length just before ``q``'s."""
    length = q.end - q.start + SECOND
    return replace(q, start=q.start - length, end=q.start - SECOND)


# --- the filter box ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    """A parsed filter: the text to look for and GoatCounter's keywords."""
    text: str = ""
    at_start: bool = False
    at_end: bool = False
    in_path: bool = False
    in_title: bool = False
    event: bool | None = None
    negate: bool = False

    @property
    def empty(self):
        return not self.text and self.event is None


# The filter box's keywords (GoatCounter spec §14) and the Filter field each one sets.
FILTER_KEYWORDS = {"at:start": ("at_start", True), "at:end": ("at_end", True),
                   "in:path": ("in_path", True), "in:title": ("in_title", True),
                   "is:event": ("event", True), "is:pageview": ("event", False),
                   ":not": ("negate", True)}


def parse_filter(value: str):
    """The filter box's text as a Filter: words that are keywords set flags, the others
    (joined by single spaces) are the text matched case-insensitively."""
    flags, words = {}, []
    for word in (value or "").split():
        keyword = FILTER_KEYWORDS.get(word.lower())
        if keyword:
            flags[keyword[0]] = keyword[1]
        else:
            words.append(word)
    return Filter(text=" ".join(words)[:500], **flags)


def _like(text, at_start, at_end):
    escaped = re.sub(r"([\\%_])", r"\\\1", text.lower())
    return ("" if at_start else "%") + escaped + ("" if at_end else "%")


def filter_paths(site_id: int, value: str):
    """(include_paths, exclude_paths) for StatsQuery from the filter box's text: None and ()
    when it is empty; with ``:not`` the matching paths are excluded instead."""
    flt = parse_filter(value)
    if flt.empty:
        return None, ()
    clauses = [Path.site_id == site_id]
    if flt.text:
        pattern = _like(flt.text, flt.at_start, flt.at_end)
        columns = [column for column, wanted in ((Path.path, flt.in_path),
                                                 (Path.title, flt.in_title)) if wanted] \
            or [Path.path, Path.title]
        clauses.append(or_(*(func.lower(column).like(pattern, escape="\\")
                             for column in columns)))
    if flt.event is not None:
        clauses.append(Path.event.is_(flt.event))
    ids = tuple(db.session.scalars(select(Path.id).where(*clauses).order_by(Path.id)))
    if flt.negate:
        return None, ids
    return ids, ()


# --- summary numbers --------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    """A figure now and in the previous period; ``change`` in percent, None when the
    previous value was 0."""
    value: float
    previous: float

    @property
    def change(self):
        if not self.previous:
            return None
        return (self.value - self.previous) / self.previous * 100


@dataclass(frozen=True)
class Summary:
    """Visitors (GoatCounter's: first visits, as /api/v0/stats/total), pageviews, bounce
    rate (0–1, Umami's min(uniques, bounces) / uniques) and average visit time in seconds
    (Umami's totaltime / (pageviews − bounces)). ``site_wide``: a path filter was set, and
    bounce rate and visit time (which are per visit, not per path) cover the whole site."""
    visitors: Number
    pageviews: Number
    bounce_rate: Number
    visit_time: Number
    site_wide: bool


def _filtered(q):
    return q.include_paths is not None or bool(q.exclude_paths)


def _pageviews(q):
    """Pageviews (events excluded) of the included paths in the hours of ``q``."""
    clauses = [HitCount.site_id == q.site_id, HitCount.hour >= q.start, HitCount.hour <= q.end,
               Path.event.is_(False)]
    if q.include_paths is not None:
        clauses.append(HitCount.path_id.in_(q.include_paths) if q.include_paths
                       else literal(False))
    if q.exclude_paths:
        clauses.append(not_(HitCount.path_id.in_(q.exclude_paths)))
    return int(db.session.scalar(
        select(func.coalesce(func.sum(HitCount.pageviews), 0))
        .join(Path, Path.id == HitCount.path_id).where(and_(*clauses))))


def _figures(q):
    site = umami.summary(replace(q, include_paths=None, exclude_paths=()))
    pageviews = _pageviews(q) if _filtered(q) else site["pageviews"]
    uniques, bounces = site["uniques"], site["bounces"]
    bounce_rate = min(uniques, bounces) / uniques if uniques else 0
    visits_with_time = site["pageviews"] - bounces
    visit_time = site["totaltime"] / visits_with_time if visits_with_time > 0 else 0
    return service.total_visitors(q), pageviews, bounce_rate, visit_time


def summary(q):
    """The summary numbers of ``q``'s range and of the equally long period before it."""
    now, before = _figures(q), _figures(previous(q))
    return Summary(*(Number(a, b) for a, b in zip(now, before)), site_wide=_filtered(q))


# --- paths with their change ------------------------------------------------------------------

@dataclass(frozen=True)
class PathChange:
    stats: service.PathStats
    previous: int

    @property
    def change(self):
        return Number(self.stats.count, self.previous).change


def paths_with_change(q):
    """service.hits(q) with each path's visitors in the previous period; (rows, more). The
    Days carry no hours unless q.group is "hour" (service.hits' ``hourly``)."""
    page = service.hits(q, hourly=False)
    before = path_visitors(previous(q), [p.path_id for p in page.hits])
    return [PathChange(p, before.get(p.path_id, 0)) for p in page.hits], page.more


def path_visitors(q, path_ids):
    """{path id: visitors in q's hours} for ``path_ids`` (whatever q's path selection) — the
    counts service.hits gives, without its Day objects: whole days from the site-wide daily
    and monthly rows, only the edge hours from hit_counts (sql.hour_source)."""
    if not path_ids:
        return {}
    src = sql.hour_source(replace(q, include_paths=None, exclude_paths=()), "p", HitCount,
                          "path_id", keys=list(path_ids))
    count = func.sum(src.visitors)
    return {int(path_id): int(n) for path_id, n in db.session.execute(
        select(src.key, count).select_from(src.table).where(src.where).group_by(src.key))}


# --- realtime and what was filtered -----------------------------------------------------------

def visitors_now(site_id: int, now):
    """Visitors (distinct sessions, and pageviews without one) in the 5 minutes up to ``now``
    (naive UTC) — the number Umami's /active answers."""
    return umami.active_visitors(site_id, now)


@dataclass(frozen=True)
class Dropped:
    """Hits not counted in a range: ``counts`` per reason (every reason, 0 included), the
    top user agents of bots and the top referrers of spam hits, as (text, count)."""
    counts: dict
    user_agents: list
    referrers: list

    @property
    def total(self):
        return sum(self.counts.values())


def dropped_hits(site_id: int, start, end, limit=5):
    """What ingest dropped for ``site_id`` between ``start`` and ``end`` (naive UTC,
    inclusive). Dropped hits are kept 30 days, so older ranges show less."""
    scope = (BotHit.site_id == site_id, BotHit.created_at >= start, BotHit.created_at <= end)
    counts = dict.fromkeys(REASONS, 0)
    for reason, n in db.session.execute(
            select(BotHit.reason, func.count()).where(*scope).group_by(BotHit.reason)):
        counts[reason] = counts.get(reason, 0) + int(n)

    def top(column):
        n = func.count()
        return [(text, int(count)) for text, count in db.session.execute(
            select(column, n).where(*scope, column != "").group_by(column)
            .order_by(n.desc(), column).limit(limit))]
    return Dropped(counts=counts, user_agents=top(BotHit.user_agent),
                   referrers=top(BotHit.referrer))
