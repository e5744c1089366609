"""Raw pageviews read straight from the hits table, for the Basic API's /api/stats: one row per
pageview, or counts per (site, stored IP, path), over a half-open UTC window. Rows are fetched
in batches (a server-side cursor on PostgreSQL), so a long range never sits in memory."""
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select, tuple_

from app.extensions import db
from app.models import Browser, City, Hit, Location, Path, Site, System, Url

BATCH = 1000                   # rows fetched from the database at a time
DEFAULT_WINDOW = timedelta(hours=24)
MAX_LAST = {"h": 24 * 36600, "d": 36600}   # `last` up to about 100 years
_LAST_RE = re.compile(r"^([0-9]{1,7})([hd])$")


class InvalidWindow(ValueError):
    """A time window that cannot be read: ``message`` is the Basic API's short error text."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) in naive UTC datetimes, whole seconds."""
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Pageview:
    id: int
    site: str
    ip: str
    country: str
    region: str
    city: str
    browser: str
    os: str
    path: str
    referrer: str
    time: datetime          # naive UTC

    @property
    def key(self):
        """The position of this row in newest-first order, for keyset paging."""
        return self.time, self.id


@dataclass(frozen=True, slots=True)
class PathCount:
    site: str
    ip: str
    path: str
    count: int


def parse_last(text):
    """'24h', '7d', any '<n>h' / '<n>d' with n ≥ 1 → timedelta; raises InvalidWindow."""
    match = _LAST_RE.match(text or "")
    if not match or not 0 < int(match[1]) <= MAX_LAST[match[2]]:
        raise InvalidWindow("invalid last")
    number, unit = int(match[1]), match[2]
    return timedelta(hours=number) if unit == "h" else timedelta(days=number)


def window(now, start_date=None, end_date=None, last=None):
    """The window a request names. ``now`` is naive UTC. Dates are whole UTC days, both
    inclusive; ``last`` (a timedelta) ends now; nothing → the last 24 hours. ``start_date``
    alone runs until now. Raises InvalidWindow."""
    end = now.replace(microsecond=0) + timedelta(seconds=1)  # hits are stored to the second
    if last is not None:
        if start_date or end_date:
            raise InvalidWindow("use either last or from/to")
        return Window(end - last, end)
    if end_date and not start_date:
        raise InvalidWindow("missing from")
    if start_date:
        start = datetime.combine(start_date, time())
        if end_date:
            if start_date > end_date:
                raise InvalidWindow("from is after to")
            end = datetime.combine(end_date, time()) + timedelta(days=1)
        return Window(start, end)
    return Window(end - DEFAULT_WINDOW, end)


def _pageviews_in(site_ids, win):
    return (Hit.site_id.in_(site_ids), Hit.created_at >= win.start, Hit.created_at < win.end,
            Path.event.is_(False))


def _joined(text):
    return " ".join(part for part in text if part)


def pageviews(site_ids, win, before=None, limit=None):
    """Pageviews of ``site_ids`` in ``win``, newest first (ties by id), as Pageview rows;
    ``before`` is a Pageview.key to continue after, ``limit`` caps the number of rows.
    A generator: it holds one batch at a time."""
    if not site_ids:
        return
    stmt = (select(Hit.id, Site.cname, Hit.ip, Hit.location, Location.region_name, City.name,
                   Browser.name, Browser.version, System.name, System.version, Path.path,
                   Url.url, Hit.created_at)
            .join(Path, Path.id == Hit.path_id)
            .join(Site, Site.id == Hit.site_id)
            .outerjoin(Location, Location.code == Hit.location)
            .outerjoin(City, City.id == Hit.city_id)
            .outerjoin(Browser, Browser.id == Hit.browser_id)
            .outerjoin(System, System.id == Hit.system_id)
            .outerjoin(Url, Url.id == Hit.referrer_url_id)
            .where(*_pageviews_in(site_ids, win))
            .order_by(Hit.created_at.desc(), Hit.id.desc()))
    if before is not None:
        stmt = stmt.where(tuple_(Hit.created_at, Hit.id) < tuple_(*before))
    if limit is not None:
        stmt = stmt.limit(limit)
    for (id_, site, ip, location, region, city, browser, browser_version, system,
         system_version, path, referrer, created) in _stream(stmt):
        yield Pageview(id=id_, site=site or "", ip=ip or "",
                       country=(location or "").partition("-")[0], region=region or "",
                       city=city or "", browser=_joined((browser, browser_version)),
                       os=_joined((system, system_version)), path=path, referrer=referrer or "",
                       time=created)


def path_counts(site_ids, win, offset=0, limit=None):
    """Pageviews of ``site_ids`` in ``win`` counted per (site, stored IP, path), most counted
    first (then by site, IP and path id, so that pages of ``offset``/``limit`` are stable).
    A generator of PathCount rows: it holds one batch at a time."""
    if not site_ids:
        return
    counts = (select(Hit.site_id, Hit.ip, Hit.path_id, func.count().label("n"))
              .join(Path, Path.id == Hit.path_id)
              .where(*_pageviews_in(site_ids, win))
              .group_by(Hit.site_id, Hit.ip, Hit.path_id)
              .subquery())
    stmt = (select(Site.cname, counts.c.ip, Path.path, counts.c.n)
            .join(Site, Site.id == counts.c.site_id)
            .join(Path, Path.id == counts.c.path_id)
            .order_by(counts.c.n.desc(), counts.c.site_id, counts.c.ip.is_(None), counts.c.ip,
                      counts.c.path_id)
            .offset(offset or None))
    if limit is not None:
        stmt = stmt.limit(limit)
    for site, ip, path, count in _stream(stmt):
        yield PathCount(site=site or "", ip=ip or "", path=path, count=count)


def _stream(stmt):
    """Rows of ``stmt`` through a connection of their own (a server-side cursor on
    PostgreSQL), opened at the first row and closed with the generator: a streamed response
    can keep reading after the request's session is gone."""
    with db.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=BATCH) \
            .execute(stmt)
        try:
            for partition in result.partitions():
                yield from partition
        finally:
            result.close()
