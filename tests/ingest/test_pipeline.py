"""The persister end to end: raw hits, dimensions, sessions, rollups, drops, IP modes, collect
flags and exactly-once batches, on SQLite and PostgreSQL."""
import time
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import accounts
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from app.ingest.persist import persist_batch
from app.models import (BotHit, Browser, BrowserStat, Campaign, CampaignStat, Hit, HitCount,
                        IngestBatch, LocationStat, Path, Ref, RefCount, SizeStat, Site, System,
                        Visit, VisitorSession)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/106.0.0.0 Safari/537.36")
T0 = datetime(2026, 11, 20, 14, 30, 0).timestamp() - time.timezone  # naive UTC → epoch


def hit(site, path="/", **fields):
    fields.setdefault("user_agent", FIREFOX)
    fields.setdefault("ip", "192.0.2.10")
    fields.setdefault("created_at", _epoch(datetime(2026, 11, 20, 14, 30)))
    return HitIn(site_id=site.id, path=path, **fields)


def _epoch(naive_utc):
    from datetime import timezone
    return naive_utc.replace(tzinfo=timezone.utc).timestamp()


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_pageviews_land_as_raw_rows_dimensions_and_rollups(db, site, store_hits):
    assert store_hits(hit(site, "/docs/?utm_source=x", title="Docs", referrer="https://www.google.com/search?q=a"),
                      hit(site, "/pricing", user_agent=CHROME, ip="198.51.100.7", width=1440)) == 2
    rows = db.session.scalars(select(Hit).order_by(Hit.id)).all()
    assert len(rows) == 2
    docs = db.session.get(Path, rows[0].path_id)
    assert (docs.path, docs.title, docs.event) == ("/docs", "Docs", False)
    ref = db.session.get(Ref, rows[0].ref_id)
    assert (ref.ref, ref.ref_scheme) == ("Google", "g")
    assert db.session.get(Browser, rows[0].browser_id).name == "Firefox"
    chrome = db.session.get(Browser, rows[1].browser_id)
    assert (chrome.name, chrome.version) == ("Chrome", "106")
    windows = db.session.get(System, rows[1].system_id)
    assert (windows.name, windows.version) == ("Windows", "10")
    assert rows[1].width == 1440
    assert all(r.first_visit for r in rows)
    hour = datetime(2026, 11, 20, 14)
    counts = {(c.path_id, c.hour): (c.visitors, c.pageviews) for c in db.session.scalars(select(HitCount))}
    assert counts == {(rows[0].path_id, hour): (1, 1), (rows[1].path_id, hour): (1, 1)}
    assert count(db, RefCount) == 2 and count(db, BrowserStat) == 2 and count(db, SizeStat) == 2
    assert db.session.get(Site, site.id).received_data is True


def test_sessions_and_first_visits(db, site, store_hits):
    store_hits(hit(site, "/a"), hit(site, "/a"), hit(site, "/b"),
               hit(site, "/a", ip="203.0.113.5"))
    rows = db.session.scalars(select(Hit).order_by(Hit.id)).all()
    assert [r.first_visit for r in rows] == [True, False, True, True]
    assert rows[0].session_id == rows[1].session_id == rows[2].session_id != rows[3].session_id
    assert count(db, VisitorSession) == 2
    a = db.session.scalar(select(Path).where(Path.path == "/a"))
    visitors, views = db.session.execute(select(func.sum(HitCount.visitors), func.sum(HitCount.pageviews))
                                         .where(HitCount.path_id == a.id)).one()
    assert (visitors, views) == (2, 3)
    # A later batch continues the session: /b again is not a first visit.
    store_hits(hit(site, "/b"))
    assert db.session.scalars(select(Hit).order_by(Hit.id.desc())).first().first_visit is False


def test_visits_are_session_by_hour(db, site, store_hits):
    at = datetime(2026, 11, 20, 14, 30)
    store_hits(hit(site, "/a", created_at=_epoch(at)),
               hit(site, "/b", created_at=_epoch(at.replace(second=2))),
               hit(site, "ev", kind="event", created_at=_epoch(at.replace(second=3))),
               hit(site, "/c", created_at=_epoch(at.replace(hour=15))))
    visits = db.session.scalars(select(Visit).order_by(Visit.hour)).all()
    assert [(v.pageviews, (v.last_at - v.first_at).seconds) for v in visits] == [(2, 2), (1, 0)]


def test_no_session_hits_are_each_a_visit(db, site, store_hits):
    store_hits(hit(site, "/a", no_session=True), hit(site, "/a", no_session=True))
    rows = db.session.scalars(select(Hit)).all()
    assert [r.first_visit for r in rows] == [True, True]
    assert all(r.session_id is None for r in rows)


def test_bots_and_hot_path_drops_go_to_the_bot_log_only(db, site, store_hits):
    store_hits(hit(site, "/a", user_agent="curl/7.8"),
               hit(site, "/b", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
               hit(site, "/c", bot=153),
               HitIn(site_id=site.id, path="/d", drop="ignored-ip"),
               HitIn(site_id=site.id, path="/e", drop="dnt", user_agent=FIREFOX),
               hit(site, "/ok"))
    assert count(db, Hit) == 1
    assert [p for (p,) in db.session.execute(select(Path.path))] == ["/ok"]
    log = {(b.reason, b.path) for b in db.session.scalars(select(BotHit))}
    assert log == {("bot", "/a"), ("bot", "/b"), ("bot", "/c"), ("ignored-ip", "/d"), ("dnt", "")}
    dnt = db.session.scalar(select(BotHit).where(BotHit.reason == "dnt"))
    assert dnt.user_agent == "" and dnt.path == ""
    curl = db.session.scalar(select(BotHit).where(BotHit.path == "/a"))
    assert curl.bot == 7 and curl.user_agent == "curl/7.8"


@pytest.mark.parametrize("mode, stored", [("anonymised", "192.0.2.0"), ("full", "192.0.2.10"),
                                          ("none", None)])
def test_ip_modes(db, site, store_hits, mode, stored):
    accounts.update_site(site, settings={"ip_mode": mode})
    store_hits(hit(site, "/a"))
    assert db.session.scalar(select(Hit.ip)) == stored


def test_collect_flags_are_honoured(db, site, store_hits):
    accounts.update_site(site, settings={"collect": 1 | 128})  # nothing but sessions
    store_hits(hit(site, "/a", referrer="https://example.org/x", width=1024, location="NL"))
    row = db.session.scalar(select(Hit))
    assert row.browser_id is None and row.system_id is None and row.width is None
    assert row.location == ""
    assert db.session.get(Ref, row.ref_id).ref == ""
    assert count(db, BrowserStat) == 0


def test_campaigns(db, site, store_hits):
    store_hits(hit(site, "/landing?utm_campaign=Autumn&utm_source=newsletter",
                   query="?utm_campaign=Autumn&utm_source=newsletter"))
    row = db.session.scalar(select(Hit))
    campaign = db.session.get(Campaign, row.campaign_id)
    assert campaign.name == "Autumn"
    ref = db.session.get(Ref, row.ref_id)
    assert (ref.ref, ref.ref_scheme) == ("newsletter", "c")
    stat = db.session.scalar(select(CampaignStat))
    assert (stat.ref, stat.visitors) == ("newsletter", 1)


def test_locations_respect_region_settings(db, site, store_hits):
    store_hits(hit(site, "/a", location="US-TX"), hit(site, "/b", location="NL-NH", ip="203.0.113.1"))
    assert sorted(db.session.scalars(select(LocationStat.location))) == ["NL", "US-TX"]


def test_deleted_sites_do_not_count(db, site, store_hits):
    other = accounts.create_site("other.example")
    accounts.delete_site(other)
    store_hits(HitIn(site_id=other.id, path="/x", created_at=time.time()))
    assert count(db, Hit) == 0


def test_a_retried_batch_is_counted_once(db, site, app):
    runtime = ingest()
    runtime.push(hit(site, "/a"), hit(site, "/b"))
    batch = runtime.buffer.claim(100)
    persist_batch(runtime, batch)          # committed, then the worker "dies" before ack
    runtime.buffer.release(batch)          # the batch comes back with the same id
    assert runtime.flush() == 2            # handled again, but recognised by the ledger
    assert count(db, Hit) == 2 and count(db, IngestBatch) == 1
    assert db.session.scalar(select(func.sum(HitCount.pageviews))) == 2
    assert all(h.first_visit for h in db.session.scalars(select(Hit)))


def test_a_path_keeps_the_first_title_it_is_seen_with(db, site, store_hits):
    store_hits(hit(site, "/t"), hit(site, "/t", title="First"), hit(site, "/t", title="Second"))
    store_hits(hit(site, "/t", title="Later"))
    assert db.session.scalars(select(Path.title).where(Path.path == "/t")).all() == ["First"]


def test_the_memory_of_titled_paths_is_bounded(db, site, store_hits, monkeypatch):
    from app.ingest import persist
    monkeypatch.setattr(persist, "_TITLED_MAX", 2)
    monkeypatch.setattr(persist, "_TITLED", set())
    for n in range(5):
        store_hits(hit(site, f"/bounded-{n}", title=f"T{n}"))
        assert len(persist._TITLED) <= 2
    store_hits(hit(site, "/bounded-0", title="Other"))  # forgotten, checked again: kept
    titles = dict(db.session.execute(select(Path.path, Path.title)).all())
    assert titles["/bounded-0"] == "T0" and titles["/bounded-4"] == "T4"
