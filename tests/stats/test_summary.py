"""The dashboard's read side (app/stats/summary.py) on hits seeded through the real pipeline:
GoatCounter's period and grouping rules, the filter box, summary numbers and their change (the
same figures the GoatCounter and Umami statistics give), paths with change, visitors right
now and the hits that were filtered out."""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from app import clock
from app.ingest.hit_in import HitIn
from app.stats import service, summary, umami
from app.stats.query import StatsQuery

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:80.0) Gecko/20100101 Firefox/80.0"
WEEK = (datetime(2020, 6, 11), datetime(2020, 6, 18, 23, 59, 59))


def at(*args):
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def hit(site, path, when, **fields):
    fields.setdefault("family", "gc-api")
    fields.setdefault("user_agent", FIREFOX)
    if "session" not in fields:
        fields.setdefault("no_session", True)
    return HitIn(site_id=site.id, path=path, created_at=when, **fields)


def query(site, start=WEEK[0], end=WEEK[1], **kwargs):
    return StatsQuery(site_id=site.id, start=start, end=end, **kwargs)


# --- periods and grouping ---------------------------------------------------------------------

@pytest.mark.parametrize("period, expected", [
    ("day", (date(2020, 12, 1), date(2020, 12, 2))),
    ("week", (date(2020, 11, 25), date(2020, 12, 2))),
    ("month", (date(2020, 11, 2), date(2020, 12, 2))),
    ("quarter", (date(2020, 9, 2), date(2020, 12, 2))),
    ("half-year", (date(2020, 6, 2), date(2020, 12, 2))),
    ("year", (date(2019, 12, 2), date(2020, 12, 2))),
    ("0", (date(2020, 12, 2), date(2020, 12, 2))),
    ("30", (date(2020, 11, 2), date(2020, 12, 2))),
])
def test_period_quick_links(period, expected):
    assert summary.period_range(period, date(2020, 12, 2)) == expected


def test_month_back_from_the_18th_and_month_ends():
    assert summary.period_range("month", date(2020, 1, 18))[0] == date(2019, 12, 18)
    assert summary.period_range("month", date(2020, 3, 31))[0] == date(2020, 2, 29)


@pytest.mark.parametrize("period", ["fortnight", "", "-1", "99999", "week; drop"])
def test_unknown_periods_are_refused(period):
    with pytest.raises(ValueError):
        summary.period_range(period, date(2020, 12, 2))


def test_steps_move_the_range():
    first, last = date(2020, 1, 31), date(2020, 2, 29)
    assert summary.step(first, last, "day", forward=False) == (date(2020, 1, 30), date(2020, 2, 28))
    assert summary.step(first, last, "week", forward=True) == (date(2020, 2, 7), date(2020, 3, 7))
    assert summary.step(first, last, "month", forward=False) == (date(2019, 12, 31), date(2020, 1, 29))
    assert summary.step(first, last, "year", forward=True) == (date(2021, 1, 31), date(2021, 2, 28))
    with pytest.raises(ValueError):
        summary.step(first, last, "decade", forward=True)


@pytest.mark.parametrize("days, allowed", [
    (1, ("hour",)), (6, ("hour",)), (7, ("hour", "day")), (90, ("hour", "day")),
    (91, ("day", "week")), (364, ("day", "week")), (365, ("day", "week", "month")),
])
def test_groupings_allowed_by_range_length(days, allowed):
    first = date(2020, 1, 1)
    assert summary.allowed_groups(first, first + timedelta(days=days - 1)) == allowed


def test_group_choice_url_then_saved_then_default():
    week = (date(2020, 11, 25), date(2020, 12, 2))
    year = (date(2019, 12, 2), date(2020, 12, 2))
    assert summary.pick_group(*week, wanted="day") == "day"
    assert summary.pick_group(*week, wanted="month", saved="day") == "day"
    assert summary.pick_group(*week, wanted="month", saved="week") == "hour"
    assert summary.pick_group(*year) == "day"
    assert summary.pick_group(*year, wanted="month") == "month"


def test_previous_period_has_equal_length(site):
    q = query(site)
    before = summary.previous(q)
    assert (before.start, before.end) == (datetime(2020, 6, 3), datetime(2020, 6, 10, 23, 59, 59))


# --- the filter box ---------------------------------------------------------------------------

def test_parse_filter_keywords():
    flt = summary.parse_filter("  Blog at:start IN:TITLE is:event :not  news ")
    assert flt == summary.Filter(text="Blog news", at_start=True, in_title=True, event=True,
                                 negate=True)
    assert summary.parse_filter("").empty and not summary.parse_filter("is:pageview").empty


@pytest.fixture
def paths(site, store_hits):
    store_hits(hit(site, "/blog/one", at(2020, 6, 12, 1), title="First post"),
               hit(site, "/blog/two", at(2020, 6, 12, 2), title="Blog archive"),
               hit(site, "/about", at(2020, 6, 12, 3), title="About the blog"),
               hit(site, "/a_b%c", at(2020, 6, 12, 4), title=""),
               hit(site, "signup", at(2020, 6, 12, 5), kind="event"))
    return {p.path: p.id for p in service.paths(site.id, limit=100).rows}


def _names(ids, paths):
    names = {v: k for k, v in paths.items()}
    return sorted(names[i] for i in ids)


@pytest.mark.parametrize("text, include, exclude", [
    ("blog", ["/about", "/blog/one", "/blog/two"], None),
    ("BLOG in:path", ["/blog/one", "/blog/two"], None),
    ("blog in:title", ["/about", "/blog/two"], None),
    ("/blog at:start", ["/blog/one", "/blog/two"], None),
    ("one at:end", ["/blog/one"], None),
    ("/about at:start at:end", ["/about"], None),
    ("/abo at:start at:end", [], None),
    ("is:event", ["signup"], None),
    ("is:pageview blog", ["/about", "/blog/one", "/blog/two"], None),
    ("blog :not", None, ["/about", "/blog/one", "/blog/two"]),
    ("_b%", ["/a_b%c"], None),  # LIKE wildcards are matched literally
    ("nothing-matches", [], None),
])
def test_filter_box_to_path_ids(site, paths, text, include, exclude):
    got_include, got_exclude = summary.filter_paths(site.id, text)
    assert (None if got_include is None else _names(got_include, paths)) == include
    assert (_names(got_exclude, paths) if exclude is not None else got_exclude) == (exclude or ())


def test_empty_filter_selects_everything(site, paths):
    assert summary.filter_paths(site.id, "  ") == (None, ())


def test_filter_is_per_site(site, paths, store_hits):
    from app import accounts
    other = accounts.create_site("other.example")
    store_hits(hit(other, "/blog/elsewhere", at(2020, 6, 12, 1)))
    include, _ = summary.filter_paths(site.id, "elsewhere")
    assert include == ()


# --- summary numbers --------------------------------------------------------------------------

@pytest.fixture
def visits(site, store_hits):
    """This week: session s1 views /a, /b and /a again within an hour (one visit of 3
    pageviews, 10 minutes), s2 bounces on /a, s3 bounces on /c; an event. Previous week:
    s4 bounces on /a."""
    store_hits(hit(site, "/a", at(2020, 6, 12, 9, 0), session="s1"),
               hit(site, "/b", at(2020, 6, 12, 9, 5), session="s1"),
               hit(site, "/a", at(2020, 6, 12, 9, 10), session="s1"),
               hit(site, "/a", at(2020, 6, 13, 10), session="s2"),
               hit(site, "/c", at(2020, 6, 14, 11), session="s3"),
               hit(site, "signup", at(2020, 6, 14, 11, 1), session="s3", kind="event"),
               hit(site, "/a", at(2020, 6, 5, 8), session="s4"))


def test_summary_numbers_match_the_api_figures(site, visits):
    q = query(site)
    numbers = summary.summary(q)
    umami_figures = umami.summary(q)
    assert numbers.visitors.value == service.totals(q).total == 5
    assert numbers.pageviews.value == umami_figures["pageviews"] == 5
    # Umami's dashboard: bounce rate = min(uniques, bounces) / uniques (2 of 3 sessions).
    assert numbers.bounce_rate.value == pytest.approx(2 / 3)
    # totaltime / (pageviews − bounces) = 600 s / 3.
    assert numbers.visit_time.value == pytest.approx(600 / 3)
    assert not numbers.site_wide


def test_summary_change_versus_previous_period(site, visits):
    numbers = summary.summary(query(site))
    assert (numbers.visitors.previous, numbers.pageviews.previous) == (1, 1)
    assert numbers.visitors.change == pytest.approx(400)
    assert numbers.bounce_rate.previous == 1 and numbers.bounce_rate.change == pytest.approx(-100 / 3)
    assert numbers.visit_time.previous == 0 and numbers.visit_time.change is None


def test_summary_with_a_path_filter(site, visits):
    include, _ = summary.filter_paths(site.id, "/a at:start at:end")
    q = query(site, include_paths=include)
    numbers = summary.summary(q)
    assert numbers.visitors.value == service.totals(q).total == 2
    assert numbers.pageviews.value == 3
    assert numbers.site_wide  # visits are not per path
    assert numbers.bounce_rate.value == pytest.approx(2 / 3)
    nothing = summary.summary(query(site, include_paths=()))
    assert (nothing.visitors.value, nothing.pageviews.value) == (0, 0)


def test_summary_of_an_empty_site(site):
    numbers = summary.summary(query(site))
    assert (numbers.visitors.value, numbers.pageviews.value, numbers.bounce_rate.value,
            numbers.visit_time.value) == (0, 0, 0, 0)
    assert numbers.visitors.change is None


def test_paths_with_change(site, visits):
    rows, more = summary.paths_with_change(query(site, limit=2))
    assert len(rows) == 2
    assert (rows[0].stats.path, rows[0].stats.count, rows[0].previous) == ("/a", 2, 1)
    assert (rows[1].stats.count, rows[1].previous, rows[1].change) == (1, 0, None)
    assert rows[0].change == pytest.approx(100)
    assert more is True
    assert [r.stats.count for r in rows] == [p.count for p in service.hits(query(site, limit=2)).hits]
    earlier = summary.previous(query(site))
    ids = [r.stats.path_id for r in rows]
    assert [summary.path_visitors(earlier, ids).get(i, 0) for i in ids] == [
        next((p.count for p in service.hits(replace(earlier, include_paths=(i,))).hits), 0)
        for i in ids]


# --- realtime and dropped hits ----------------------------------------------------------------

def test_visitors_now(site, store_hits):
    now = datetime(2020, 6, 18, 12, 0)
    store_hits(hit(site, "/a", at(2020, 6, 18, 11, 57), session="x"),
               hit(site, "/b", at(2020, 6, 18, 11, 58), session="x"),
               hit(site, "/a", at(2020, 6, 18, 11, 59), session="y"),
               hit(site, "/a", at(2020, 6, 18, 11, 50), session="z"))
    assert summary.visitors_now(site.id, now) == umami.active_visitors(site.id, now) == 2


@pytest.fixture
def frozen():
    yield clock.freeze
    clock.freeze(None)


def test_dropped_hits_by_reason(site, store_hits, frozen):
    """Dropped hits are logged with the time they were processed."""
    when = at(2020, 6, 12, 10)
    googlebot = "Googlebot/2.1 (+http://www.google.com/bot.html)"
    frozen(datetime(2020, 6, 1))  # before the range
    store_hits(hit(site, "/a", when, drop="ignored-ip"))
    frozen(datetime(2020, 6, 12, 10))
    store_hits(hit(site, "/a", when, user_agent=googlebot),
               hit(site, "/a", when + 1, user_agent=googlebot),
               hit(site, "/b", when + 2, user_agent="curl/7.0", bot=3),
               hit(site, "/a", when + 3, referrer="http://localhost/spam"),
               hit(site, "/a", when + 4, drop="ignored-ip"),
               hit(site, "/a", when + 5, drop="dnt", referrer="https://private.example/"),
               hit(site, "", when + 6),
               hit(site, "/ok", when + 7))
    dropped = summary.dropped_hits(site.id, *WEEK)
    assert dropped.counts == {"bot": 3, "ignored-ip": 1, "spam": 1, "invalid": 1, "dnt": 1}
    assert dropped.total == 7
    assert dropped.user_agents[0] == (googlebot, 2)
    assert ("http://localhost/spam", 1) in dropped.referrers
    assert all("private.example" not in text for text, _ in dropped.referrers)  # DNT keeps nothing
    assert summary.dropped_hits(site.id, datetime(2020, 5, 31), datetime(2020, 6, 2)).total == 1


def test_umami_summary_equals_visits_counted_from_the_raw_hits(app, site, store_hits):
    """Random hits (sessions, hits without one, events) over six hours: for random ranges
    with partial edge hours, umami.summary (whole hours from visit_hours, the edges summed in
    SQL) gives what counting visits (session × UTC hour) over the raw hits gives."""
    import random

    rnd = random.Random(7)
    naive, hits = spread_hits(site, rnd, seconds=6 * 3600, count=300, visitors=25, lone=0.15,
                              events=0.1)
    store_hits(*hits)
    rows = raw_pageviews(site)
    assert any(s is None for s, _ in rows) and len({s for s, _ in rows}) > 10

    def expected(start, end):
        return umami_from_raw(rows, start, end)
    ranges = [(naive, naive + timedelta(hours=6))]
    for _ in range(20):
        start = naive + timedelta(seconds=rnd.randrange(3 * 3600))
        ranges.append((start, start + timedelta(seconds=rnd.randrange(1, 4 * 3600))))
    for start, end in ranges:
        assert umami.summary(query(site, start, end)) == expected(start, end), (start, end)


def raw_pageviews(site):
    """(session id, created_at) of the site's stored pageviews."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Hit, Path
    return db.session.execute(select(Hit.session_id, Hit.created_at).join(
        Path, Path.id == Hit.path_id).where(Hit.site_id == site.id, Path.event.is_(False))).all()


def umami_from_raw(rows, start, end):
    """Umami's summary (spec/umami.md §7.2) counted from raw (session id, created_at) rows."""
    visits, sessions, sessionless = {}, set(), 0
    for n, (session_id, created) in enumerate(r for r in rows if start <= r[1] <= end):
        key = (session_id if session_id is not None else f"none-{n}",
               created.replace(minute=0, second=0, microsecond=0))
        first, last, count = visits.get(key, (created, created, 0))
        visits[key] = (min(first, created), max(last, created), count + 1)
        if session_id is None:
            sessionless += 1
        else:
            sessions.add(session_id)
    return {"pageviews": sum(v[2] for v in visits.values()),
            "uniques": len(sessions) + sessionless,
            "bounces": sum(1 for v in visits.values() if v[2] == 1),
            "totaltime": sum(int((v[1] - v[0]).total_seconds()) for v in visits.values())}


def visit_numbers_rebuilt(site):
    """(gaps, visit_hours) as computed from scratch over the site's visits: what the persister's
    incremental upkeep must equal."""
    from sqlalchemy import case, func, select

    from app.extensions import db
    from app.ingest import visits
    from app.models import Visit, VisitHour
    gaps, previous = {}, {}
    for session_id, hour in db.session.execute(
            select(Visit.session_id, Visit.hour).where(Visit.site_id == site.id)
            .order_by(Visit.session_id, Visit.hour)):
        before = previous.get(session_id)
        gaps[(session_id, hour)] = None if before is None else \
            int((hour - before) / timedelta(hours=1))
        previous[session_id] = hour
    seconds = visits.seconds_between(Visit.first_at, Visit.last_at)
    fresh = {tuple(row) for row in db.session.execute(
        select(Visit.hour, func.sum(Visit.pageviews),
               func.sum(case((Visit.pageviews == 1, 1), else_=0)),
               func.sum(case((Visit.pageviews > 1, seconds), else_=0)),
               func.sum(case((Visit.gap_hours.is_(None), 1), else_=0)))
        .where(Visit.site_id == site.id).group_by(Visit.hour))}
    kept = {(row.hour, row.pageviews, row.bounces, row.seconds, row.sessions)
            for row in db.session.scalars(select(VisitHour).where(VisitHour.site_id == site.id))}
    stored = dict(((s, h), g) for s, h, g in db.session.execute(
        select(Visit.session_id, Visit.hour, Visit.gap_hours).where(Visit.site_id == site.id)))
    return gaps, stored, fresh, kept


def spread_hits(site, rnd, days=6, count=500, seconds=None, visitors=30, lone=0.1, events=0.08):
    """Hits of ``visitors`` visitors over ``days`` days (or ``seconds``), with gaps of minutes to
    days within a visitor's session (the supplied session string keeps it), a share ``lone``
    without a session and ``events`` events. Returns (naive UTC start, hits)."""
    base = datetime(2021, 4, 20, 8, tzinfo=timezone.utc)
    hits = []
    for _ in range(count):
        when = base + timedelta(seconds=rnd.randrange(seconds or days * 86400))
        fields = {"no_session": True} if rnd.random() < lone else {
            "session": f"visitor-{rnd.randrange(visitors)}"}
        if rnd.random() < events:
            fields["kind"] = "event"
        path = "signup" if fields.get("kind") else f"/p{rnd.randrange(4)}"
        hits.append(HitIn(site_id=site.id, path=path, created_at=when.timestamp(),
                          family="gc-api", user_agent=FIREFOX, **fields))
    return base.replace(tzinfo=None), hits


def random_ranges(rnd, base, days, n=40):
    ranges = [(base, base + timedelta(days=days))]
    for _ in range(n):
        start = base + timedelta(seconds=rnd.randrange(days * 86400))
        length = rnd.choice((3600, 6 * 3600, 86400, 3 * 86400, days * 86400))
        ranges.append((start, start + timedelta(seconds=rnd.randrange(1, length))))
        hour = start.replace(minute=0, second=0)  # whole hours only: no raw edges
        ranges.append((hour, hour + timedelta(hours=rnd.randrange(1, days * 24)) - SECOND))
    return ranges


SECOND = timedelta(seconds=1)


def test_umami_summary_over_days_with_late_batches_and_long_gaps(app, site, store_hits):
    """Sessions with gaps of up to days between visits, stored in batches that arrive out of
    time order (a later hour before an earlier one, as two workers or an import can): the
    hourly visit numbers kept by the persister equal a recount from scratch, and Umami's
    summary over random ranges — long ones, whole hours, ranges starting inside a session —
    equals counting the raw hits."""
    import random
    rnd = random.Random(11)
    base, hits = spread_hits(site, rnd)
    batches = [hits[n:n + 40] for n in range(0, len(hits), 40)]
    rnd.shuffle(batches)
    for batch in batches:
        store_hits(*batch)
    gaps, stored, fresh, kept = visit_numbers_rebuilt(site)
    assert stored == gaps and kept == fresh
    assert sum(1 for g in gaps.values() if g and g >= 10) > 5  # long gaps: their own index
    rows = raw_pageviews(site)
    for start, end in random_ranges(rnd, base, 6):
        assert umami.summary(query(site, start, end)) == umami_from_raw(rows, start, end), \
            (start, end)


def test_a_late_batch_and_a_batch_of_the_hour_it_changes_do_not_cross(app, site, store_hits):
    """A late batch (a session's earlier visit, arriving after its later one) changes that
    later visit's hour; a second persister writes another session's visit into the same hour
    at the same time. The second waits for the first to commit (PostgreSQL: the hour's row;
    SQLite: its one writer), and the hour's numbers hold both changes: the late visit's
    session no longer starts at 12:00, the other session does."""
    import threading
    import uuid as uuid_lib

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app.extensions import db
    from app.ingest import ingest
    from app.ingest.buffer import Batch
    from app.ingest.persist import persist_batch

    def visit_at(session, path, hour, minute):
        when = datetime(2021, 4, 20, hour, minute, tzinfo=timezone.utc).timestamp()
        return HitIn(site_id=site.id, path=path, created_at=when, family="gc-api",
                     user_agent=FIREFOX, session=session)

    store_hits(visit_at("late", "/a", 12, 5))
    late = Batch(id=uuid_lib.uuid4().hex, records=[visit_at("late", "/a", 10, 5).to_wire()])
    other = Batch(id=uuid_lib.uuid4().hex, records=[visit_at("other", "/b", 12, 20).to_wire()])
    ready, release, errors = threading.Event(), threading.Event(), []

    def hold(_session):  # the late batch waits at its commit, its writes done
        if threading.current_thread().name == "late":
            ready.set()
            release.wait(10)

    def run(batch):
        with app.app_context():
            try:
                persist_batch(ingest(), batch)
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    event.listen(Session, "before_commit", hold)
    try:
        first = threading.Thread(target=run, args=(late,), name="late")
        first.start()
        assert ready.wait(10)
        second = threading.Thread(target=run, args=(other,), name="other")
        second.start()
        second.join(1.5)
        waited = second.is_alive()
        release.set()
        first.join(10)
        second.join(10)
    finally:
        release.set()
        event.remove(Session, "before_commit", hold)
    assert not errors and waited
    db.session.rollback()
    gaps, stored, fresh, kept = visit_numbers_rebuilt(site)
    assert stored == gaps and kept == fresh and len(stored) == 3
    rows = raw_pageviews(site)
    day = (datetime(2021, 4, 20), datetime(2021, 4, 20, 23, 59, 59))
    assert umami.summary(query(site, *day)) == umami_from_raw(rows, *day)
    assert umami.summary(query(site, *day))["uniques"] == 2
