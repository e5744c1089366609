"""The stats service on hits seeded through the real pipeline: totals and Day objects, paths
ranked with their charts, referrers, every dimension's breakdown and drill-down, time zones."""
from datetime import date, datetime, timezone

import pytest

from app.exceptions import ValidationError
from app.ingest.hit_in import HitIn
from app.stats import service
from app.stats.query import StatsQuery, zone_offset

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/106.0.0.0 Safari/537.36")


def at(*args):
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def hit(site, path, when, **fields):
    fields.setdefault("family", "gc-api")
    if fields["family"] == "gc":  # /count: an empty User-Agent is a bot (spec §11.6)
        fields.setdefault("user_agent", FIREFOX.format(80))
    fields.setdefault("no_session", True)
    return HitIn(site_id=site.id, path=path, created_at=when, **fields)


def query(site, start, end, **kwargs):
    return StatsQuery(site_id=site.id, start=start, end=end, **kwargs)


WEEK = (datetime(2020, 6, 11), datetime(2020, 6, 18, 23, 59, 59))


def test_days_carry_hourly_daily_weekly_and_monthly(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 18, 12, 13)))
    q = query(site, *WEEK)
    days = service.totals(q).stats
    assert [d.day for d in days] == [date(2020, 6, d) for d in range(11, 19)]
    assert days[-1].hourly[12] == 1 and days[-1].daily == 1
    assert sum(d.daily for d in days[:-1]) == 0
    assert [d.weekly for d in days] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert [d.monthly for d in days] == [1, 0, 0, 0, 0, 0, 0, 0]


def test_a_month_boundary_starts_a_new_monthly_segment(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 29, 1)), hit(site, "/b", at(2020, 7, 2, 1)))
    q = query(site, datetime(2020, 6, 28), datetime(2020, 7, 3, 23, 59, 59), group="month")
    days = service.totals(q).stats
    assert {d.day: d.monthly for d in days if d.monthly} == {date(2020, 6, 28): 1,
                                                            date(2020, 7, 1): 1}
    assert service.hits(q).hits[0].max == 1


def test_totals_split_events_and_count_only_first_visits(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 12, 9), session="s1", no_session=False),
               hit(site, "/a", at(2020, 6, 12, 9, 5), session="s1", no_session=False),
               hit(site, "/b", at(2020, 6, 12, 9, 6), session="s1", no_session=False),
               hit(site, "signup", at(2020, 6, 13, 10), kind="event"))
    totals = service.totals(query(site, *WEEK))
    assert (totals.total, totals.total_events, totals.total_utc) == (3, 1, 3)


def test_hits_rank_by_visitors_then_newest_path_and_page(site, store_hits):
    store_hits(*[hit(site, f"/{n}", at(2020, 6, 18, 12)) for n in range(1, 6)],
               hit(site, "/2", at(2020, 6, 17, 3)))
    page = service.hits(query(site, *WEEK, limit=3))
    assert [p.path for p in page.hits] == ["/2", "/5", "/4"]
    assert [p.count for p in page.hits] == [2, 1, 1]
    assert page.total == 4 and page.more is True
    ids = tuple(p.path_id for p in page.hits)
    rest = service.hits(query(site, *WEEK, limit=3, exclude_paths=ids))
    assert [p.path for p in rest.hits] == ["/3", "/1"] and rest.more is False
    only = service.path_ids_by_name(site.id, ["/3", "/NOPE"])
    assert [p.path for p in service.hits(query(site, *WEEK, include_paths=only)).hits] == ["/3"]
    assert service.hits(query(site, *WEEK, include_paths=())).hits == []


def test_group_decides_max(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 12, 3)), hit(site, "/b", at(2020, 6, 12, 4)),
               hit(site, "/a", at(2020, 6, 13, 3)))
    assert service.hits(query(site, *WEEK, group="hour")).hits[0].max == 1
    assert service.hits(query(site, *WEEK, group="day")).hits[0].max == 1
    assert service.hits(query(site, *WEEK, group="week")).hits[0].max == 2


def test_time_zone_offset_moves_hours_onto_local_days(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 17, 23, 30)))
    q = query(site, datetime(2020, 6, 17, 22), datetime(2020, 6, 18, 21, 59, 59), tz_offset=120)
    days = service.totals(q).stats
    assert [d.day for d in days] == [date(2020, 6, 18)]
    assert days[0].hourly[1] == 1
    west = service.totals(query(site, *WEEK, tz_offset=-300)).stats
    assert [d.day for d in west][0] == date(2020, 6, 10)
    assert {d.day: d.hourly.index(1) for d in west if d.daily} == {date(2020, 6, 17): 18}


def test_zone_offset_reads_goatcounter_zone_names():
    summer = datetime(2020, 6, 18, 12)
    assert zone_offset("NL.Europe/Amsterdam", summer) == 120
    assert zone_offset("NL.Europe/Amsterdam", datetime(2020, 1, 18)) == 60
    assert zone_offset(".UTC", summer) == 0
    assert zone_offset("US.America/New_York", summer) == -240
    assert zone_offset("XX.Not/AZone", summer) == 0


def test_browsers_group_versions_and_drill_down(site, store_hits):
    hits = [hit(site, f"/{i}", at(2020, 6, 18, 12),
                user_agent=FIREFOX.format(i) if i < 20 or i % 2 == 0 else CHROME_WIN)
            for i in range(50)]
    store_hits(*hits)
    q = query(site, *WEEK)
    rows = service.breakdown(q, "browsers").rows
    assert [(r.id, r.name, r.count) for r in rows] == [("Firefox", "Firefox", 35),
                                                       ("Chrome", "Chrome", 15)]
    drill = service.drilldown(q.page(limit=3), "browsers", "firefox")
    assert [(r.name, r.count) for r in drill.rows] == [("Firefox 0", 1), ("Firefox 1", 1),
                                                      ("Firefox 10", 1)]
    assert drill.more is True
    systems = service.breakdown(q, "systems").rows
    assert {r.name: r.count for r in systems} == {"Linux": 35, "Windows": 15}
    assert [r.name for r in service.drilldown(q, "systems", "WINDOWS").rows] == ["Windows 10"]


def test_locations_fold_regions_and_unknown(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 18, 1), location="US-TX"),
               hit(site, "/b", at(2020, 6, 18, 1), location="US"),
               hit(site, "/c", at(2020, 6, 18, 1), location="NL"),
               hit(site, "/d", at(2020, 6, 18, 1)))
    q = query(site, *WEEK)
    rows = service.breakdown(q, "locations").rows
    assert rows[0].id == "US" and rows[0].count == 2
    assert {(r.id, r.count) for r in rows[1:]} == {("NL", 1), ("(unknown)", 1)}
    assert next(r for r in rows if r.id == "(unknown)").name == "(unknown)"
    regions = service.drilldown(q, "locations", "us").rows
    assert sorted(r.count for r in regions) == [1, 1] and "" in {r.name for r in regions}


def test_sizes_always_five_buckets_and_widths_drill_down(site, store_hits):
    store_hits(*[hit(site, f"/{w}", at(2020, 6, 18, 1), width=w)
                 for w in (360, 412, 800, 1280, 1920, 2560, 0)])
    q = query(site, *WEEK)
    page = service.breakdown(q, "sizes")
    assert [(r.id, r.count) for r in page.rows] == [
        ("phone", 2), ("tablet", 1), ("desktop", 2), ("desktophd", 1), ("unknown", 1)]
    assert page.more is False
    drill = service.drilldown(q, "sizes", "phone").rows
    assert [r.name for r in drill] == ["↔\ufe0e 360px", "↔\ufe0e 412px"]
    with pytest.raises(ValidationError):
        service.drilldown(q, "sizes", "watch")


def test_campaigns_languages_and_toprefs(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 18, 1), query="utm_campaign=spring&utm_source=news",
                   family="gc", referrer="https://news.example/x"),
               hit(site, "/b", at(2020, 6, 18, 1), referrer="https://news.example/x",
                   family="gc"),
               hit(site, "/c", at(2020, 6, 18, 1), referrer="https://mysite.example/p",
                   family="gc"))
    q = query(site, *WEEK)
    campaigns = service.breakdown(q, "campaigns").rows
    assert [(r.name, r.count) for r in campaigns] == [("spring", 1)]
    assert campaigns[0].id.isdigit()
    sources = service.drilldown(q, "campaigns", campaigns[0].id).rows
    assert [r.count for r in sources] == [1]
    with pytest.raises(ValidationError):
        service.drilldown(q, "campaigns", "abc")
    refs = service.breakdown(q, "toprefs").rows
    # The campaign's source replaces its referrer (spec §11.3).
    assert {(r.name, r.count, r.ref_scheme) for r in refs} == {
        ("news.example/x", 1, "h"), ("news", 1, "c"), ("mysite.example/p", 1, "h")}
    own = service.breakdown(q, "toprefs", link_domain="mysite.example").rows
    assert all(not r.name.startswith("mysite.example") for r in own)
    paths = service.drilldown(q, "toprefs", "NEWS.example/x").rows
    assert [r.name for r in paths] == ["/b"]
    languages = service.breakdown(q, "languages").rows
    assert [(r.id, r.name, r.count) for r in languages] == [("(unknown)", "(unknown)", 3)]
    with pytest.raises(ValidationError):
        service.drilldown(q, "languages", "eng")
    with pytest.raises(ValidationError):
        service.breakdown(q, "cities")


def test_path_refs_and_paths_list(site, store_hits):
    store_hits(hit(site, "/a", at(2020, 6, 18, 1), referrer="https://one.example/",
                   family="gc"),
               hit(site, "/a", at(2020, 6, 18, 2), family="gc"),
               hit(site, "/b", at(2020, 6, 18, 2), family="gc"))
    q = query(site, *WEEK)
    path_a = service.path_ids_by_name(site.id, ["/a"])[0]
    refs = service.path_refs(q, path_a)
    assert {(r.name, r.ref_scheme) for r in refs.rows} == {("one.example", "h"), ("", "o")}
    assert service.path_refs(q, 999999).rows == []
    page = service.paths(site.id, limit=1)
    assert [p.path for p in page.rows] == ["/a"] and page.more is True
    assert [p.path for p in service.paths(site.id, after=page.rows[0].id).rows] == ["/b"]
    assert service.path_counts(site.id, "/A", None, None) == (2, 2)
    assert service.path_counts(site.id, None, None, None) == (3, 3)
    assert service.path_counts(site.id, "/missing", None, None) is None
