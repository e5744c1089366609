"""StatsQuery: what every statistic is asked for — one site, a UTC range, the reader's time zone,
which paths, the grouping and a page (limit/offset). Surfaces build one; the service reads it."""
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.clock import utcnow

GROUPS = ("hour", "day", "week", "month")


@dataclass(frozen=True)
class StatsQuery:
    """``start`` and ``end`` are naive UTC datetimes, both inclusive, compared against UTC hour
    buckets (``hour >= start and hour <= end``). ``tz_offset`` is the reader's UTC offset in
    minutes, applied as GoatCounter does (spec §10.2): to place hour buckets on local days
    and to pick the local dates of the day-based statistics. ``include_paths`` None means all
    paths; an empty tuple means none (a path-name filter that matched nothing)."""
    site_id: int
    start: datetime
    end: datetime
    tz_offset: int = 0
    timezone: str = "UTC"
    include_paths: tuple[int, ...] | None = None
    exclude_paths: tuple[int, ...] = ()
    group: str = "hour"
    limit: int = 20
    offset: int = 0

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"group must be one of {GROUPS}")

    @property
    def shift(self):
        return timedelta(minutes=self.tz_offset)

    @property
    def days(self):
        """The local calendar days the range touches, oldest first (both ends inclusive)."""
        first, last = (self.start + self.shift).date(), (self.end + self.shift).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    @property
    def first_day(self):
        """Local date of ``start``: the first UTC day of the day-based statistics."""
        return (self.start + self.shift).date()

    @property
    def last_day(self):
        return (self.end + self.shift).date()

    def page(self, limit=None, offset=None):
        return replace(self, limit=self.limit if limit is None else limit,
                       offset=self.offset if offset is None else offset)


def default_range(now=None):
    """GoatCounter's default range: 00:00 UTC seven days ago … 23:59:59 UTC today (8 days)."""
    today = (now or utcnow()).date()
    return (datetime.combine(today - timedelta(days=7), time()),
            datetime.combine(today, time(23, 59, 59)))


def zone_offset(timezone_name, at=None):
    """The current UTC offset of an IANA zone in minutes (0 for unknown names).
    ``timezone_name`` may carry GoatCounter's country prefix: "NL.Europe/Amsterdam"."""
    name = zone_name(timezone_name)
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    moment = (at or utcnow()).replace(tzinfo=ZoneInfo("UTC"))
    return int(moment.astimezone(zone).utcoffset().total_seconds() // 60)


def zone_name(timezone_name):
    """"NL.Europe/Amsterdam" → "Europe/Amsterdam"; ".UTC" or "" → "UTC"."""
    name = (timezone_name or "").partition(".")[2] if "." in (timezone_name or "") \
        else (timezone_name or "")
    return name or "UTC"


def whole_days(first: date, last: date):
    """(start, end) naive UTC datetimes covering the days first … last inclusive."""
    return datetime.combine(first, time()), datetime.combine(last, time(23, 59, 59))
