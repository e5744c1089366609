"""Top referrers from the top of each month's rows (dimensions.top_refs, sql.top_candidates)
give exactly the rows of the full sum over every referrer, on long-tailed traffic over partial
months, edge hours, the site's own referrers excluded, ties and deeper pages; and the fast way
is really taken on such traffic."""
import dataclasses
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.ingest.hit_in import HitIn
from app.stats import dimensions, service, sql
from app.stats.query import StatsQuery
from app.models import RefCount

FIRST = datetime(2026, 1, 20, 7)           # partial January … partial June
DAYS = 140
OWN = "own.example"
PAGES = ((6, 0), (1, 0), (10, 0), (6, 6), (3, 17), (20, 40))


def referrer(rng):
    """A long tail: a few referrers bring most visitors, hundreds bring one or two."""
    if rng.random() < 0.08:
        return f"https://{OWN}/page{rng.randrange(3)}"
    return f"https://r{min(int(rng.paretovariate(0.9)), 500)}.example/"


def store_spread(site, store_hits, rng, path, referrer=lambda rng: ""):
    """3,000 hits without a session over the DAYS from FIRST, ``path(rng)`` and
    ``referrer(rng)`` choosing each one's path and referrer."""
    hits = []
    for _ in range(3000):
        when = FIRST + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        hits.append(HitIn(site_id=site.id, path=path(rng), family="gc-api", no_session=True,
                          referrer=referrer(rng),
                          created_at=when.replace(tzinfo=timezone.utc).timestamp()))
    store_hits(*hits)
    return site


@pytest.fixture
def long_tail(site, store_hits):
    return store_spread(site, store_hits, random.Random(5), lambda rng: f"/p{rng.randrange(4)}",
                        referrer)


def ranges():
    rng = random.Random(3)
    yield FIRST - timedelta(days=1), FIRST + timedelta(days=DAYS + 1)   # everything
    yield datetime(2026, 2, 1), datetime(2026, 4, 30, 23, 59, 59)       # whole months only
    yield datetime(2026, 3, 4, 5), datetime(2026, 3, 4, 9)              # a few hours
    for _ in range(10):
        start = FIRST + timedelta(hours=rng.randrange(24 * 40))
        yield start, start + timedelta(hours=rng.randrange(24, 24 * 100),
                                       minutes=rng.randrange(60), seconds=59)


def full_page(q, link_domain=""):
    """What breakdown answered before top_refs: the sum over every referrer, paged."""
    rows = service.db.session.execute(
        dimensions._toprefs(q, link_domain).limit(q.limit + 1).offset(q.offset)).all()
    return service.Page(rows=[dimensions._ref_row(*row) for row in rows[:q.limit]],
                        more=len(rows) > q.limit)


def all_totals(q):
    src = sql.hour_source(q, "r", RefCount, "ref_id")
    count = func.sum(src.visitors)
    return dict(service.db.session.execute(
        select(src.key, count).select_from(src.table).where(src.where).group_by(src.key)).all())


@pytest.mark.parametrize("top_min", [50, 1])
def test_top_refs_equal_the_full_sum(long_tail, monkeypatch, top_min):
    monkeypatch.setattr(sql, "TOP_MIN", top_min)
    taken = fallback = 0
    for start, end in ranges():
        for limit, offset in PAGES:
            q = StatsQuery(site_id=long_tail.id, start=start, end=end, limit=limit,
                           offset=offset)
            for link in ("", OWN, "https://r1.example/"):
                fast = dimensions.top_refs(q, link)
                taken, fallback = taken + (fast is not None), fallback + (fast is None)
                assert service.breakdown(q, "toprefs", link) == full_page(q, link), \
                    (start, end, limit, offset, link)
    assert taken > fallback > 0 if top_min == 1 else taken > 0


@pytest.mark.parametrize("m", [1, 2, 5, 40])
def test_candidates_bounds_hold(long_tail, m):
    for start, end in ranges():
        q = StatsQuery(site_id=long_tail.id, start=start, end=end)
        found = sql.top_candidates(q, "r", m)
        totals = all_totals(q)
        for key in found.upper:
            assert found.lower[key] <= totals.get(key, 0) <= found.upper[key], (start, end, m)
        assert all(n <= found.bound for key, n in totals.items() if key not in found.upper), \
            (start, end, m)
        assert len(found.upper) <= m * len(sql.months(start.date(), end.date()))
        keys = sorted(found.upper)[::2]
        assert sql.key_totals(q, "r", RefCount, "ref_id", keys) == \
            {key: totals[key] for key in keys if key in totals}


def test_the_fast_way_is_taken_on_a_long_tail(long_tail):
    q = StatsQuery(site_id=long_tail.id, start=FIRST, end=FIRST + timedelta(days=DAYS),
                   limit=6)
    found = sql.top_candidates(q, "r", sql.TOP_MIN)
    assert found.bound > 0 and len(found.upper) < len(all_totals(q))  # a tail left unread
    fast = dimensions.top_refs(q, OWN)
    assert fast is not None and len(fast) == 7
    assert [row[4] for row in fast] == [
        row[4] for row in service.db.session.execute(dimensions._toprefs(q, OWN).limit(7))]


def test_a_flat_tail_falls_back_to_the_full_sum(site, store_hits):
    # 80 referrers with one visitor each in one month: no referrer is above the bound of 1.
    when = datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp()
    store_hits(*[HitIn(site_id=site.id, path="/", family="gc-api", no_session=True,
                       referrer=f"https://flat{n}.example/", created_at=when + n)
                 for n in range(80)])
    q = StatsQuery(site_id=site.id, start=datetime(2026, 3, 1),
                   end=datetime(2026, 3, 31, 23, 59, 59), limit=6)
    assert dimensions.top_refs(q) is None
    page = service.breakdown(q, "toprefs")
    assert page == full_page(q) and len(page.rows) == 6 and page.more


def test_few_referrers_need_no_bound(site, store_hits):
    # Fewer rows than the top read of each month: every referrer is a candidate (bound 0),
    # so even a page past the end is answered by the fast way.
    when = datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp()
    store_hits(*[HitIn(site_id=site.id, path="/", family="gc-api", no_session=True,
                       referrer=f"https://few{n % 4}.example/", created_at=when + n * 3600)
                 for n in range(30)])
    for limit, offset in ((2, 0), (2, 2), (5, 3), (5, 10)):
        q = StatsQuery(site_id=site.id, start=datetime(2026, 3, 10, 2),
                       end=datetime(2026, 4, 2), limit=limit, offset=offset)
        assert dimensions.top_refs(q) is not None
        assert service.breakdown(q, "toprefs") == full_page(q)


def test_path_filters_and_deep_pages_read_the_full_sum(long_tail):
    q = StatsQuery(site_id=long_tail.id, start=FIRST, end=FIRST + timedelta(days=60))
    assert dimensions.top_refs(q.page(offset=sql.TOP_MAX)) is None
    paths = service.path_ids_by_name(long_tail.id, ["/p1", "/p2"])
    filtered = StatsQuery(site_id=long_tail.id, start=FIRST, end=FIRST + timedelta(days=60),
                          include_paths=paths)
    assert dimensions.top_refs(filtered) is None
    assert service.breakdown(filtered, "toprefs") == full_page(filtered)


def test_ties_at_the_bound_fall_back(site, store_hits, monkeypatch):
    # One clear head, then 20 referrers with one visitor each: the month's 4th row (the bound)
    # is one of them, chosen among equals by the index. The second row is the tied referrer
    # with the lowest id, which only the full sum knows.
    monkeypatch.setattr(sql, "TOP_MIN", 1)
    when = datetime(2026, 3, 10, tzinfo=timezone.utc).timestamp()
    store_hits(*[HitIn(site_id=site.id, path="/", family="gc-api", no_session=True,
                       referrer=f"https://tie{n}.example/", created_at=when + n)
                 for n in range(20)])
    store_hits(*[HitIn(site_id=site.id, path="/", family="gc-api", no_session=True,
                       referrer="https://head.example/", created_at=when + 100 + n)
                 for n in range(5)])
    q = StatsQuery(site_id=site.id, start=datetime(2026, 3, 1),
                   end=datetime(2026, 3, 31, 23, 59, 59), limit=1)   # 2 rows: M = 4
    found = sql.top_candidates(q, "r", 4)
    assert found.bound == 1 and len(found.upper) == 4
    assert dimensions.top_refs(q) is None
    page = service.breakdown(q, "toprefs")
    assert page == full_page(q) and [r.name for r in page.rows] == ["https://head.example"]
    assert service.breakdown(q.page(limit=2), "toprefs").rows[1].name == "https://tie0.example"


@pytest.fixture
def many_paths(site, store_hits):
    """Hits on a long tail of paths (a few popular, hundreds seen once or twice: many ties)."""
    return store_spread(site, store_hits, random.Random(9),
                        lambda rng: f"/p{min(int(rng.paretovariate(0.8)), 600)}")


@pytest.mark.parametrize("top_min", [50, 1])
def test_the_paths_ranking_equals_the_full_sum(many_paths, monkeypatch, top_min):
    """service.hits' ranking from the top of each month's rows gives the paths, counts and
    order (ties: newest path first) of summing every path, for the dashboard's list lengths
    and the API's, and is really taken on a long-tailed year."""
    monkeypatch.setattr(sql, "TOP_MIN", top_min)
    taken = 0
    for start, end in ranges():
        for limit in (1, 6, 10, 20, 60):
            q = StatsQuery(site_id=many_paths.id, start=start, end=end, limit=limit, group="day")
            fast = service._top_paths(q)
            taken += fast is not None
            with monkeypatch.context() as patch:
                patch.setattr(service, "_top_paths", lambda q: None)
                full = service.hits(q, hourly=False)
            got = service.hits(q, hourly=False)
            assert [(p.path_id, p.count) for p in got.hits] == \
                [(p.path_id, p.count) for p in full.hits], (start, end, limit)
            assert got.more == full.more
            if fast is not None:
                assert [key for key, _ in fast][:limit] == [p.path_id for p in full.hits]
    assert taken > 10


def test_the_paths_ranking_falls_back_for_path_filters_and_long_lists(many_paths):
    q = StatsQuery(site_id=many_paths.id, start=FIRST, end=FIRST + timedelta(days=DAYS),
                   limit=10, group="day")
    assert service._top_paths(q) is not None
    assert service._top_paths(q.page(limit=sql.TOP_MAX)) is None
    assert service._top_paths(dataclasses.replace(q, exclude_paths=(1,))) is None
