"""The persister's bulk writers, on SQLite (executemany) and PostgreSQL (unnest arrays, COPY):
the same rows and the same answers on both."""
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from app.ingest import store
from app.models import BotHit, HitCount, Location, Path, Visit, VisitorSession

T0 = datetime(2026, 11, 30, 10)


def rows_of(db, table, *order):
    return [tuple(row) for row in db.session.execute(select(table.__table__).order_by(*order))]


def test_upsert_add_adds_counts_and_keeps_least_and_greatest(db, site):
    table = HitCount.__table__
    path_id = store.get_or_create(Path.__table__, ("site_id", "path_key"), {
        (site.id, "/a"): {"site_id": site.id, "path": "/a", "path_key": "/a", "title": ""}})[
        (site.id, "/a")]
    rows = [{"site_id": site.id, "path_id": path_id, "hour": T0, "visitors": 1, "pageviews": 2},
            {"site_id": site.id, "path_id": path_id, "hour": T0.replace(hour=11), "visitors": 0,
             "pageviews": 1}]
    store.upsert_add(table, ("site_id", "path_id", "hour"), rows, add=("visitors", "pageviews"))
    store.upsert_add(table, ("site_id", "path_id", "hour"), rows[:1], add=("visitors", "pageviews"))
    assert rows_of(db, HitCount, HitCount.hour) == [(site.id, path_id, T0, 2, 4),
                                                    (site.id, path_id, T0.replace(hour=11), 0, 1)]

    session = {"uuid": b"u" * 16, "site_id": site.id, "first_seen": T0, "last_seen": T0}
    store.upsert_add(VisitorSession.__table__, ("uuid",), [session],
                     least=("first_seen",), greatest=("last_seen",))
    session_id = db.session.execute(select(VisitorSession.id)).scalar_one()
    visit = {"session_id": session_id, "hour": T0, "site_id": site.id, "pageviews": 1,
             "first_at": T0.replace(minute=30), "last_at": T0.replace(minute=30)}
    store.upsert_add(Visit.__table__, ("session_id", "hour"), [visit], add=("pageviews",),
                     least=("first_at",), greatest=("last_at",))
    for minute in (10, 50, 20):
        store.upsert_add(Visit.__table__, ("session_id", "hour"), [
            dict(visit, first_at=T0.replace(minute=minute), last_at=T0.replace(minute=minute))],
            add=("pageviews",), least=("first_at",), greatest=("last_at",))
    assert rows_of(db, Visit, Visit.hour) == [
        (session_id, T0, site.id, 4, T0.replace(minute=10), T0.replace(minute=50), None)]


def test_upsert_add_returning_gives_ids_of_new_and_existing_rows(app, db, site):
    rows = [{"uuid": bytes([n]) * 16, "site_id": site.id, "first_seen": T0, "last_seen": T0}
            for n in (1, 2)]
    if db.engine.dialect.name != "postgresql":
        with pytest.raises(ValueError):
            store.upsert_add(VisitorSession.__table__, ("uuid",), rows, returning=("id", "uuid"))
        return
    first = dict((bytes(u), i) for i, u in store.upsert_add(
        VisitorSession.__table__, ("uuid",), rows[:1], returning=("id", "uuid")))
    both = dict((bytes(u), i) for i, u in store.upsert_add(
        VisitorSession.__table__, ("uuid",), rows, least=("first_seen",), returning=("id", "uuid")))
    assert set(both) == {b"\x01" * 16, b"\x02" * 16}
    assert both[b"\x01" * 16] == first[b"\x01" * 16]
    assert db.session.execute(select(VisitorSession.id).order_by(VisitorSession.id)).scalars().all() \
        == sorted(both.values())


def test_get_or_create_finds_existing_rows_and_creates_the_rest(db, site):
    def row(path):
        return {"site_id": site.id, "path": path, "path_key": path.lower(), "title": ""}
    first = store.get_or_create(Path.__table__, ("site_id", "path_key"),
                                {(site.id, "/a"): row("/a"), (site.id, "/b"): row("/b")})
    again = store.get_or_create(Path.__table__, ("site_id", "path_key"),
                                {(site.id, "/b"): row("/B"), (site.id, "/c"): row("/c")})
    assert again[(site.id, "/b")] == first[(site.id, "/b")]
    assert len({*first.values(), *again.values()}) == 3
    assert [p for (p,) in db.session.execute(select(Path.path).order_by(Path.path_key))] \
        == ["/a", "/b", "/c"]
    assert store.get_or_create(Path.__table__, ("site_id", "path_key"), {}) == {}


def test_insert_missing_leaves_existing_rows_alone(db):
    store.insert_missing(Location.__table__, ("code",), [
        {"code": "NL", "country": "NL", "region": "", "country_name": "Netherlands",
         "region_name": ""}])
    store.insert_missing(Location.__table__, ("code",), [
        {"code": "NL", "country": "NL", "region": "", "country_name": "changed", "region_name": ""},
        {"code": "DE", "country": "DE", "region": "", "country_name": "Germany",
         "region_name": ""}])
    names = dict(db.session.execute(select(Location.code, Location.country_name)).all())
    assert names["NL"] == "Netherlands" and names["DE"] == "Germany"


def test_insert_rows_stores_every_value(db, site):
    odd = "tab\there, new\nline, back\\slash, quote \" and ' — ünïcode"
    store.insert_rows(BotHit.__table__, [
        {"site_id": site.id, "reason": "bot", "bot": 3, "path": odd, "user_agent": "",
         "referrer": "", "created_at": T0},
        {"site_id": None, "reason": "invalid", "bot": 0, "path": "", "user_agent": "UA",
         "referrer": "\\N", "created_at": T0.replace(hour=11)}])
    stored = db.session.execute(select(BotHit.site_id, BotHit.reason, BotHit.bot, BotHit.path,
                                       BotHit.user_agent, BotHit.referrer, BotHit.created_at)
                                .order_by(BotHit.created_at)).all()
    assert [tuple(r) for r in stored] == [(site.id, "bot", 3, odd, "", "", T0),
                                          (None, "invalid", 0, "", "UA", "\\N", T0.replace(hour=11))]


def test_a_value_too_long_for_its_column_fails_instead_of_being_cut(app, db, site):
    """PostgreSQL casts the arrays to their element type without a length: a too-long value
    errors as a plain INSERT would (and the batch splitting drops only that hit)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    with pytest.raises(DBAPIError):
        store.insert_missing(Location.__table__, ("code",), [
            {"code": "X" * 9, "country": "XX", "region": "", "country_name": "",
             "region_name": ""}])
    db.session.rollback()
    assert db.session.execute(select(Location.code)).all() == []


def test_day_columns_round_trip(db, site):
    from app.models import LocationStat
    path_id = store.get_or_create(Path.__table__, ("site_id", "path_key"), {
        (site.id, "/"): {"site_id": site.id, "path": "/", "path_key": "/", "title": ""}})[(site.id, "/")]
    key = ("site_id", "path_id", "day", "location")
    for _ in range(2):
        store.upsert_add(LocationStat.__table__, key, [
            {"site_id": site.id, "path_id": path_id, "day": date(2026, 11, 30), "location": "NL",
             "visitors": 2}], add=("visitors",))
    assert rows_of(db, LocationStat, LocationStat.day) == [
        (site.id, path_id, date(2026, 11, 30), "NL", 4)]


def test_rows_are_written_in_key_order_nulls_last():
    rows = [{"a": 2, "b": None}, {"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 1, "b": None}]
    assert store._in_key_order(rows, ("a", "b")) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": None}, {"a": 2, "b": "y"}, {"a": 2, "b": None}]
    assert store._in_key_order([(3,), (1,), (2,)], range(1)) == [(1,), (2,), (3,)]
