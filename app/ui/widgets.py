"""The dashboard's widget registry: each widget is one entry (key, title, default settings and a
loader returning plain data for its template ``partials/widgets/<key>.html``), served by the
one partial route in dashboard.py. Loaders read the stats service and app/stats/summary.py
only, so a widget shows the numbers the APIs answer for the same query."""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from app.clock import utcnow
from app.stats import dimensions, service, summary
from app.stats.query import StatsQuery

MAX_LIMIT = 200  # rows a "show more" can grow a list to


@dataclass
class Context:
    """What a loader reads: the site, the dashboard's query (range, time zone, path filter,
    grouping), the widget's settings (defaults merged with the user's) and the widget's own
    arguments from its partial URL (``drill``: a row's key; ``more``: pages shown, ≥ 1)."""
    site: object
    query: StatsQuery
    settings: dict
    drill: str = ""
    more: int = 1
    now: datetime = field(default_factory=utcnow)
    week_start: int = 0  # the reader's first day of the week: 0 Monday … 6 Sunday


@dataclass(frozen=True)
class Widget:
    key: str
    title: str
    load: Callable[[Context], dict]
    defaults: dict = field(default_factory=dict)
    refresh: int = 0           # seconds between self-refreshes (0: loads once)
    dimension: str = ""        # for bar lists: the stats dimension it shows
    members_only: bool = False  # not on public and secret-link dashboards

    @property
    def template(self):
        return f"partials/widgets/{self.key}.html"


@dataclass(frozen=True)
class Bucket:
    """One bar of a chart: its first local day (and hour for hourly charts), visitors, and
    whether it lies in the future."""
    day: object
    hour: int | None
    value: int
    future: bool = False
    last_day: object = None


def buckets(days, group, today=None, week_start=0):
    """Chart bars of Day objects for ``group``: 24 per day (hour), one per day, one per
    calendar week (week: a bar starts on each ``week_start`` weekday, 0 Monday … 6 Sunday, as
    the reader's settings say; the first bar starts at the range start), or one per month
    segment (month). A bar's value is the sum of its days' visitors, as in the API's Day
    objects (spec §10.3), whose weekly values are 7-day chunks from the range start instead."""
    if group == "hour":
        return [Bucket(d.day, h, v, future=bool(today and d.day > today), last_day=d.day)
                for d in days for h, v in enumerate(d.hourly)]
    if group == "day":
        return [Bucket(d.day, None, d.daily, future=bool(today and d.day > today),
                       last_day=d.day) for d in days]
    starts = [n for n, d in enumerate(days) if n == 0 or (
        d.day.weekday() == week_start if group == "week" else d.day.day == 1)]
    result = []
    for i, n in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(days)
        result.append(Bucket(days[n].day, None, sum(d.daily for d in days[n:end]),
                             future=bool(today and days[n].day > today),
                             last_day=days[end - 1].day))
    return result


def _today(ctx):
    return (ctx.now + ctx.query.shift).date()


def _limit(ctx, name):
    return min(max(int(ctx.settings.get(name) or 6), 1) * max(ctx.more, 1), MAX_LIMIT)


def _summary(ctx):
    numbers = summary.summary(ctx.query)
    empty = not any((numbers.visitors.value, numbers.visitors.previous,
                     numbers.pageviews.value, numbers.pageviews.previous))
    return {"summary": numbers, "empty": empty}


def _realtime(ctx):
    return {"visitors": summary.visitors_now(ctx.site.id, ctx.now)}


def _totalpages(ctx):
    totals = service.totals(ctx.query)
    bars = buckets(totals.stats, ctx.query.group, _today(ctx), ctx.week_start)
    return {"totals": totals, "bars": bars, "max": max((b.value for b in bars), default=0),
            "empty": not totals.total}


def _pages(ctx):
    q = ctx.query.page(limit=_limit(ctx, "limit_pages"), offset=0)
    rows, more = summary.paths_with_change(q)
    refs, drill_id = None, None
    if ctx.drill:
        drill_id = _path_id(ctx.drill)
        refs = service.path_refs(ctx.query.page(limit=_limit(ctx, "limit_refs"), offset=0),
                                 drill_id)
    today = _today(ctx)
    charts = {r.stats.path_id: buckets(r.stats.stats, ctx.query.group, today, ctx.week_start)
              for r in rows}
    return {"rows": rows, "more": more, "path_charts": charts, "refs": refs, "drill_id": drill_id,
            "empty": not rows}


def _path_id(value):
    from app.exceptions import ValidationError
    if not value.isdigit() or int(value) > 2**31 - 1:
        raise ValidationError.single("path", "must be a whole number")
    return int(value)


def _bar_list(ctx, name):
    """A breakdown with its total (the denominator of the percentages: visitors over the
    whole UTC days of the range for day-based dimensions, over the range's hours else)."""
    q = ctx.query
    page = service.breakdown(q.page(limit=_limit(ctx, "limit"), offset=0), name,
                             link_domain=ctx.site.link_domain)
    rows = page.rows
    if name == "sizes" and ctx.settings.get("sort-count"):
        rows = sorted(rows, key=lambda row: -row.count)
    total = service.total_visitors(q, whole_days_only=dimensions.get(name).day_based)
    drilled = None
    if ctx.drill and dimensions.get(name).drill is not None:
        drilled = service.drilldown(q.page(limit=MAX_LIMIT, offset=0), name, ctx.drill)
    return {"rows": rows, "more": page.more, "total": total, "drill": ctx.drill,
            "drilled": drilled, "has_drill": dimensions.get(name).drill is not None,
            "empty": not any(row.count for row in rows)}


def _filtered(ctx):
    dropped = summary.dropped_hits(ctx.site.id, ctx.query.start, ctx.query.end)
    return {"dropped": dropped, "reasons": REASON_LABELS, "empty": not dropped.total,
            "kept_since": ctx.now - timedelta(days=30)}


REASON_LABELS = {"bot": "Bots and crawlers", "ignored-ip": "Ignored IP addresses",
                 "spam": "Referrer spam", "invalid": "Invalid requests",
                 "dnt": "Do-Not-Track / Global Privacy Control"}


def _bars(name):
    return lambda ctx: _bar_list(ctx, name)


WIDGETS = {w.key: w for w in (
    Widget("summary", "Summary", _summary),
    Widget("realtime", "Right now", _realtime, refresh=30),
    Widget("totalpages", "Total pageviews", _totalpages,
           {"align": False, "no-events": False, "style": "line"}),
    Widget("pages", "Paths", _pages, {"limit_pages": 10, "limit_refs": 10, "style": "line"}),
    Widget("toprefs", "Top referrers", _bars("toprefs"), {"key": None, "limit": 6},
           dimension="toprefs"),
    Widget("campaigns", "Campaigns", _bars("campaigns"), {"key": None, "limit": 6},
           dimension="campaigns"),
    Widget("browsers", "Browsers", _bars("browsers"), {"key": None, "limit": 6},
           dimension="browsers"),
    Widget("systems", "Systems", _bars("systems"), {"key": None, "limit": 6},
           dimension="systems"),
    Widget("locations", "Locations", _bars("locations"), {"key": "", "limit": 6},
           dimension="locations"),
    Widget("languages", "Languages", _bars("languages"), {"limit": 6}, dimension="languages"),
    Widget("sizes", "Screen sizes", _bars("sizes"), {"key": None, "sort-count": False},
           dimension="sizes"),
    Widget("filtered", "What was filtered", _filtered, members_only=True),
)}


def get(key):
    return WIDGETS.get(key)


def layout(user_widgets):
    """The widgets a user sees, in their order, with their settings: ``user_widgets`` is
    the settings' ``widgets`` list ([{"n": key, "s": {…}}], GoatCounter's shape); empty
    means every widget in registry order. Unknown keys are skipped."""
    chosen = []
    for entry in user_widgets or []:
        if not isinstance(entry, dict):
            continue
        widget = WIDGETS.get(entry.get("n"))
        if widget is not None and widget.key not in [w.key for w, _ in chosen]:
            chosen.append((widget, settings_for(widget, entry.get("s"))))
    if not chosen:
        chosen = [(w, dict(w.defaults)) for w in WIDGETS.values()]
    return chosen


def settings_for(widget, saved):
    """The widget's defaults overlaid with the user's saved values for the same keys."""
    merged = dict(widget.defaults)
    if isinstance(saved, dict):
        merged.update({k: v for k, v in saved.items() if k in widget.defaults})
    return merged
