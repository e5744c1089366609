"""Rebuilding rollups from raw hits gives exactly what the persister wrote incrementally."""
from datetime import datetime, timezone

from sqlalchemy import select

from app.ingest.hit_in import HitIn
from app.models import (BrowserStat, CampaignStat, HitCount, LanguageStat, LocationStat,
                        RefCount, SiteHour, SiteStat, SizeStat, SystemStat, Visit, VisitHour)

TABLES = (HitCount, RefCount, BrowserStat, SystemStat, LocationStat, SizeStat, LanguageStat,
          CampaignStat, Visit, VisitHour, SiteHour, SiteStat)
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/106.0.0.0 Safari/537.36"]


def snapshot(db):
    state = {}
    for table in TABLES:
        columns = [c for c in table.__table__.c]
        state[table.__tablename__] = sorted(tuple(row) for row in db.session.execute(select(*columns)))
    return state


def seed(site, store_hits):
    hits = []
    for n in range(60):
        at = datetime(2026, 11, 1 + n % 3, n % 24, n % 60, tzinfo=timezone.utc).timestamp()
        hits.append(HitIn(site_id=site.id, path=f"/p{n % 7}", created_at=at, user_agent=UAS[n % 2],
                          ip=f"192.0.2.{n % 5}", width=[0, 412, 1280, 2560][n % 4],
                          location=["NL", "US-TX", ""][n % 3], referrer="https://news.example/x",
                          query="?utm_campaign=c1&utm_source=s1" if n % 4 == 0 else "",
                          kind="event" if n % 10 == 0 else "pageview"))
    store_hits(*hits)


def test_rebuild_reproduces_the_incremental_rollups(app, db, site, store_hits):
    seed(site, store_hits)
    before = snapshot(db)
    assert before["hit_counts"] and before["visits"] and before["campaign_stats"]
    assert before["visit_hours"] and any(row[-1] is not None for row in before["visits"])
    result = app.test_cli_runner().invoke(args=["rollups", "rebuild", "--site", str(site.id)])
    assert result.exit_code == 0, result.output
    assert "from 60 hits" in result.output
    db.session.rollback()
    assert snapshot(db) == before


def test_rebuild_from_a_day_restores_its_whole_month(app, db, site, store_hits):
    seed(site, store_hits)
    store_hits(HitIn(site_id=site.id, path="/october", user_agent=UAS[0], ip="192.0.2.9",
                     created_at=datetime(2026, 10, 31, 12, tzinfo=timezone.utc).timestamp()))
    before = snapshot(db)
    for table in TABLES:
        db.session.execute(table.__table__.delete())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["rollups", "rebuild", "--site", str(site.id),
                                                "--from", "2026-11-02"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    after = snapshot(db)
    # November is back exactly (monthly rows are rebuilt whole, so from the 1st); October,
    # before the rebuilt month, stays empty.
    for name, rows in before.items():
        expected = [r for r in rows if not any(getattr(v, "month", None) == 10 for v in r[:5])]
        assert after[name] == expected, name
        assert len(expected) < len(rows) or name == "campaign_stats", name


def test_rebuild_of_an_unknown_site_fails(app):
    result = app.test_cli_runner().invoke(args=["rollups", "rebuild", "--site", "999"])
    assert result.exit_code != 0 and "no site 999" in result.output
