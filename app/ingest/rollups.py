"""Rollups from hit rows: add a batch's hits to every rollup (the persister), or rebuild a
site's rollups and visits from its raw hits (after imports and repairs); and settle a month's
site-wide rows after some of its daily rows were deleted (data retention)."""
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import delete, func, select, update

from app.extensions import db
from app.ingest import visits as visit_numbers
from app.ingest.store import upsert_add
from app.models import (BrowserStat, CampaignStat, Hit, HitCount, LanguageStat, LocationStat,
                        Path, Ref, RefCount, SiteHour, SiteStat, SizeStat, SystemStat, Visit,
                        VisitHour)

DAY_TABLES = (("browser", BrowserStat, "browser_id"), ("system", SystemStat, "system_id"),
              ("location", LocationStat, "location"), ("size", SizeStat, "width"),
              ("language", LanguageStat, "language"))
HOUR_TABLES = (HitCount, RefCount, Visit, VisitHour, SiteHour)
# SiteStat kinds: which hit column each one counts (visitors, i.e. first visits).
SITE_KINDS = (("p", "path_id"), ("r", "ref_id"), ("b", "browser_id"), ("s", "system_id"),
              ("l", "location"), ("z", "width"), ("g", "language"), ("c", "campaign_id"))


def add_to_rollups(rows):
    """Add hits to the rollups. Each row is a hits-table dict plus ``event`` (bool) and
    ``campaign_ref`` (the campaign source text). Hour buckets and days are UTC."""
    hours, refs = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])  # visitors, views
    day_stats = {name: Counter() for name in ("browser", "system", "location", "size",
                                              "language", "campaign")}
    visits = {}
    site_hours = defaultdict(lambda: [0, 0, 0, 0])  # visitors, views, event visitors, lone views
    site_stats = Counter()
    for row in rows:
        site, path, first = row["site_id"], row["path_id"], int(row["first_visit"])
        created = row["created_at"]
        hour, day = created.replace(minute=0, second=0, microsecond=0), created.date()
        for counts in (hours[(site, path, hour)], refs[(site, path, row["ref_id"], hour)]):
            counts[0] += first
            counts[1] += 1
        totals = site_hours[(site, hour)]
        totals[0], totals[1] = totals[0] + first, totals[1] + 1
        if first:
            totals[2] += int(bool(row["event"]))
            _count_site_stats(site_stats, site, day, row)
            if row["browser_id"]:
                day_stats["browser"][(site, path, day, row["browser_id"])] += 1
            if row["system_id"]:
                day_stats["system"][(site, path, day, row["system_id"])] += 1
            day_stats["location"][(site, path, day, row["location"])] += 1
            day_stats["size"][(site, path, day, row["width"] or 0)] += 1
            day_stats["language"][(site, path, day, row["language"])] += 1
            if row["campaign_id"]:
                day_stats["campaign"][(site, path, day, row["campaign_id"],
                                       row["campaign_ref"])] += 1
        if not row["session_id"] and not row["event"]:
            totals[3] += 1
        elif row["session_id"] and not row["event"]:
            visit = visits.setdefault((row["session_id"], hour), {
                "session_id": row["session_id"], "hour": hour, "site_id": site, "pageviews": 0,
                "first_at": created, "last_at": created})
            visit["pageviews"] += 1
            visit["first_at"] = min(visit["first_at"], created)
            visit["last_at"] = max(visit["last_at"], created)

    for table, columns, counts in ((HitCount, ("site_id", "path_id", "hour"), hours),
                                   (RefCount, ("site_id", "path_id", "ref_id", "hour"), refs)):
        upsert_add(table.__table__, columns,
                   [dict(zip(columns, key), visitors=value[0], pageviews=value[1])
                    for key, value in counts.items()], add=("visitors", "pageviews"))
    for name, table, column in DAY_TABLES:
        columns = ("site_id", "path_id", "day", column)
        upsert_add(table.__table__, columns,
                   [dict(zip(columns, key), visitors=n) for key, n in day_stats[name].items()],
                   add=("visitors",))
    columns = ("site_id", "path_id", "day", "campaign_id", "ref")
    upsert_add(CampaignStat.__table__, columns,
               [dict(zip(columns, key), visitors=n) for key, n in day_stats["campaign"].items()],
               add=("visitors",))
    upsert_add(SiteHour.__table__, ("site_id", "hour"),
               [{"site_id": site, "hour": hour, "visitors": v, "pageviews": p,
                 "event_visitors": e, "lone_pageviews": n}
                for (site, hour), (v, p, e, n) in site_hours.items()],
               add=("visitors", "pageviews", "event_visitors", "lone_pageviews"))
    columns = ("site_id", "kind", "span", "period", "key")
    upsert_add(SiteStat.__table__, columns,
               [dict(zip(columns, key), visitors=n) for key, n in site_stats.items()],
               add=("visitors",))
    visit_numbers.write(list(visits.values()))  # last: under the sites' visit locks


def _count_site_stats(counter, site, day, row):
    """Add one first visit to the site-wide day and month rows of every kind it has a value
    for (browser/system/campaign only when known; location/language/width "" or 0 = unknown)."""
    month = day.replace(day=1)
    for kind, column in SITE_KINDS:
        value = row[column]
        if kind in "bsc" and not value:
            continue
        key = str(value or 0) if kind == "z" else str(value if value is not None else "")
        counter[(site, kind, "d", day, key)] += 1
        counter[(site, kind, "m", month, key)] += 1


def rebuild(site_id, since=None, chunk=5000, progress=None):
    """Recompute a site's rollups and visits from its raw hits, from the first day of the UTC
    month of ``since`` (a date; None = everything: monthly rows are always rebuilt whole), in
    one transaction. Returns the number of hits read."""
    start = datetime.combine(since.replace(day=1), time()) if since else None
    for table in HOUR_TABLES:
        query = delete(table).where(table.site_id == site_id)
        if start:
            query = query.where(table.hour >= start)
        db.session.execute(query)
    for table in (*(t for _, t, _ in DAY_TABLES), CampaignStat):
        query = delete(table).where(table.site_id == site_id)
        if start:
            query = query.where(table.day >= start.date())
        db.session.execute(query)
    query = delete(SiteStat).where(SiteStat.site_id == site_id)
    if start:
        query = query.where(SiteStat.period >= start.date())
    db.session.execute(query)
    columns = [c for c in Hit.__table__.c if c.name not in ("url_id", "referrer_url_id",
                                                             "city_id", "event_type", "ip")]
    query = (select(*columns, Path.event, Ref.ref.label("campaign_ref"))
             .join(Path, Path.id == Hit.path_id).join(Ref, Ref.id == Hit.ref_id)
             .where(Hit.site_id == site_id).order_by(Hit.id))
    if start:
        query = query.where(Hit.created_at >= start)
    total, last_id = 0, 0
    while True:
        rows = [dict(row._mapping) for row in db.session.execute(
            query.where(Hit.id > last_id).limit(chunk))]
        if not rows:
            break
        add_to_rollups(rows)
        total, last_id = total + len(rows), rows[-1]["id"]
        if progress:
            progress(total)
    db.session.commit()
    return total


def settle_month(site_id, month, kind):
    """Make a site's monthly site_stats rows of one ``kind`` for ``month`` (a date: the month's
    first day) equal the sums of its daily rows of that month again, after daily rows were
    deleted (data retention): a monthly row whose daily rows are all gone is deleted, the
    others get their daily sum. Daily rows are only ever removed, never added without their
    monthly row, so no monthly row is missing. Returns the number of monthly rows deleted or
    changed (0 when they already agree); does not commit.

    Set-based (one grouped sum, joined), whatever the number of keys. On PostgreSQL the monthly
    rows are locked first, so a persister adding a hit of that month meanwhile has either
    committed before the sums are read or adds to the settled rows afterwards; on SQLite the
    DELETE opens the transaction with the database's write lock, so both writes see one state."""
    end = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    stats, daily = SiteStat.__table__, SiteStat.__table__.alias("daily")
    monthly = (stats.c.site_id == site_id, stats.c.kind == kind, stats.c.span == "m",
               stats.c.period == month)
    days = (daily.c.site_id == site_id, daily.c.kind == kind, daily.c.span == "d",
            daily.c.period >= month, daily.c.period < end)
    db.session.execute(select(stats.c.key).where(*monthly).order_by(stats.c.key)
                       .with_for_update())
    gone = db.session.execute(delete(stats).where(
        *monthly, stats.c.key.not_in(select(daily.c.key).where(*days))))
    sums = (select(daily.c.key, func.sum(daily.c.visitors).label("visitors"))
            .where(*days).group_by(daily.c.key).subquery("sums"))
    changed = db.session.execute(
        update(stats).where(*monthly, stats.c.key == sums.c.key,
                            stats.c.visitors != sums.c.visitors)
        .values(visitors=sums.c.visitors))
    return gone.rowcount + changed.rowcount
