"""The site-wide rollups (site_hours, site_stats with daily and monthly rows) give exactly the
numbers of the per-path rollups, for ranges that cut months and days anywhere."""
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.ingest.hit_in import HitIn
from app.models import HitCount, Path, SiteHour, SiteStat
from app.stats import dimensions, service, summary
from app.stats.query import StatsQuery
from app.stats.sql import period_clause, whole_days

UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/{0}.0.0.0 Safari/537.36"]
FIRST = datetime(2026, 8, 20)


@pytest.fixture
def seeded(site, store_hits):
    rng = random.Random(7)
    hits = []
    for n in range(400):
        when = FIRST + timedelta(hours=rng.randrange(0, 24 * 80), minutes=rng.randrange(60))
        hits.append(HitIn(
            site_id=site.id, path=f"/p{int(rng.paretovariate(1.2)) % 30}",
            kind="event" if rng.random() < 0.05 else "pageview", family="gc",
            user_agent=rng.choice(UAS).format(rng.randrange(100, 104)),
            ip=f"198.51.100.{rng.randrange(40)}", width=rng.choice([0, 360, 800, 1440, 2560]),
            location=rng.choice(["", "NL", "US-TX", "US-CA", "DE"]),
            referrer=rng.choice(["", "https://a.example/", "https://b.example/x"]),
            query="utm_campaign=sale&utm_source=mail" if rng.random() < 0.1 else "",
            created_at=when.replace(tzinfo=timezone.utc).timestamp()))
    store_hits(*hits)
    return site


def ranges():
    rng = random.Random(11)
    yield FIRST - timedelta(days=3), FIRST + timedelta(days=90)  # everything, whole months
    yield datetime(2026, 9, 1), datetime(2026, 9, 30, 23, 59, 59)  # exactly one month
    for _ in range(12):
        start = FIRST + timedelta(hours=rng.randrange(0, 24 * 60))
        yield start, start + timedelta(hours=rng.randrange(1, 24 * 45), minutes=rng.randrange(60))


def all_paths(site_id):
    return tuple(service.db.session.scalars(select(Path.id).where(Path.site_id == site_id)))


@pytest.mark.parametrize("name", list(dimensions.DIMENSIONS))
def test_breakdowns_agree_with_the_per_path_rollups(seeded, name):
    paths = all_paths(seeded.id)
    for start, end in ranges():
        site_wide = StatsQuery(site_id=seeded.id, start=start, end=end, limit=100)
        per_path = StatsQuery(site_id=seeded.id, start=start, end=end, limit=100,
                              include_paths=paths)
        assert service.breakdown(site_wide, name) == service.breakdown(per_path, name), \
            (name, start, end)


def test_ranking_and_totals_agree_with_hourly_sums(seeded):
    for start, end in ranges():
        expected = dict(service.db.session.execute(
            select(HitCount.path_id, func.sum(HitCount.visitors))
            .where(HitCount.site_id == seeded.id, HitCount.hour >= start, HitCount.hour <= end)
            .group_by(HitCount.path_id).having(func.sum(HitCount.visitors) > 0)).all())
        q = StatsQuery(site_id=seeded.id, start=start, end=end, limit=100)
        assert {p.path_id: p.count for p in service.hits(q).hits} == expected, (start, end)
        totals = service.totals(q)
        assert totals.total == sum(expected.values())
        filtered = service.totals(StatsQuery(site_id=seeded.id, start=start, end=end,
                                             include_paths=all_paths(seeded.id)))
        assert (filtered.total, filtered.total_events, filtered.total_utc) == (
            totals.total, totals.total_events, totals.total_utc)
        assert filtered.stats == totals.stats
        for whole in (False, True):
            expected_total = totals.total_utc if whole else totals.total
            assert service.total_visitors(q, whole) == expected_total
            assert service.total_visitors(replace(q, include_paths=all_paths(seeded.id)),
                                          whole) == expected_total


def test_monthly_rows_sum_their_days(seeded, db):
    daily, monthly = {}, {}
    for kind, span, period, key, visitors in db.session.execute(
            select(SiteStat.kind, SiteStat.span, SiteStat.period, SiteStat.key, SiteStat.visitors)):
        target = daily if span == "d" else monthly
        entry = (kind, key, period.year, period.month)
        target[entry] = target.get(entry, 0) + visitors
    assert daily == monthly
    assert {kind for kind, *_ in monthly} == set("prbszlgc")
    hours = db.session.scalar(select(func.sum(SiteHour.visitors)))
    assert hours == db.session.scalar(select(func.sum(HitCount.visitors))) > 0


def test_period_clause_and_whole_days_split_ranges():
    days, edges = whole_days(datetime(2026, 9, 3, 5), datetime(2026, 9, 10, 2, 30))
    assert days == (datetime(2026, 9, 4).date(), datetime(2026, 9, 9).date())
    assert edges == [(datetime(2026, 9, 3, 5), datetime(2026, 9, 3, 23, 59, 59)),
                     (datetime(2026, 9, 10), datetime(2026, 9, 10, 2, 30))]
    assert whole_days(datetime(2026, 9, 3, 5), datetime(2026, 9, 3, 9)) == (
        None, [(datetime(2026, 9, 3, 5), datetime(2026, 9, 3, 9))])
    assert whole_days(datetime(2026, 9, 3), datetime(2026, 9, 3, 23, 0)) == (
        (datetime(2026, 9, 3).date(),) * 2, [])
    clause = str(period_clause(datetime(2026, 8, 15).date(), datetime(2026, 11, 2).date())
                 .compile(compile_kwargs={"literal_binds": True}))
    assert "'2026-08-15'" in clause and "'2026-08-31'" in clause  # the partial first month
    assert "'2026-09-01'" in clause and "'2026-10-01'" in clause  # whole months
    assert "'2026-11-01'" in clause and "'2026-11-02'" in clause  # the partial last month


@pytest.mark.parametrize("tz_offset", [0, 330, -480, 60, -570])
def test_days_summed_in_the_database_match_the_hours(seeded, tz_offset):
    # hits(q, hourly=False) groups hit_counts per local day in SQL; the hour groups would
    # place each hour bucket on (hour + shift).date() in Python: same daily, weekly, monthly.
    for start, end in ranges():
        for group in ("day", "week", "month"):
            q = StatsQuery(site_id=seeded.id, start=start, end=end, tz_offset=tz_offset,
                           group=group, limit=8)
            hourly, daily = service.hits(q), service.hits(q, hourly=False)
            assert [p.path_id for p in daily.hits] == [p.path_id for p in hourly.hits]
            assert (daily.total, daily.more) == (hourly.total, hourly.more)
            for fast, slow in zip(daily.hits, hourly.hits):
                assert (fast.count, fast.max) == (slow.count, slow.max), (start, end, group)
                assert all(d.hourly == [] for d in fast.stats)
                assert [(d.day, d.daily, d.weekly, d.monthly) for d in fast.stats] == \
                    [(d.day, d.daily, d.weekly, d.monthly) for d in slow.stats]
        hour_q = StatsQuery(site_id=seeded.id, start=start, end=end, tz_offset=tz_offset)
        assert service.hits(hour_q, hourly=False) == service.hits(hour_q)  # hours kept


def test_previous_period_visitors_agree_with_hourly_sums(seeded):
    ids = all_paths(seeded.id)
    for start, end in ranges():
        expected = dict(service.db.session.execute(
            select(HitCount.path_id, func.sum(HitCount.visitors))
            .where(HitCount.site_id == seeded.id, HitCount.hour >= start, HitCount.hour <= end)
            .group_by(HitCount.path_id)).all())
        for include, exclude in ((None, ()), (ids[:3], ()), (None, ids[:5])):
            q = StatsQuery(site_id=seeded.id, start=start, end=end, include_paths=include,
                           exclude_paths=exclude)
            got = summary.path_visitors(q, ids[2:20])
            assert {k: got.get(k, 0) for k in ids[2:20]} == \
                {k: expected.get(k, 0) for k in ids[2:20]}, (start, end)
    assert summary.path_visitors(q, []) == {}
