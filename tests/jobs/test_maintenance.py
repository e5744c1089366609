"""The periodic maintenance jobs: data retention per site (raw hits and everything derived from
them, the statistics of the kept days unchanged, monthly rows settled, orphaned paths), the bot
log's 30 days, expired Umami login tokens and the ingest ledger; the schedule table and the
`flask jobs` commands."""
import random
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import accounts, clock
from app.api.umami.auth import issue_login_token
from app.extensions import db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from app.ingest.persist import persist_batch
from app.jobs import maintenance, retention, schedule
from app.jobs.cli import jobs_cli
from app.models import (BotHit, BrowserStat, Campaign, CampaignStat, Hit, HitCount, IngestBatch,
                        LanguageStat, LocationStat, Path, RefCount, SiteHour, SiteStat, SizeStat,
                        SystemStat, UmamiLoginToken, Visit, VisitHour, VisitorSession)
from app.stats import dimensions, service, umami
from app.stats.query import StatsQuery

NOW = datetime(2026, 12, 10, 15, 30)
END = datetime.combine(NOW.date(), time(23, 59, 59))
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/{0}.0.0.0 Safari/537.36"]
BOT_UA = "curl/7.88.1"
PER_SITE = (Hit, Visit, VisitHour, VisitorSession, HitCount, RefCount, SiteHour, BrowserStat,
            SystemStat, LocationStat, SizeStat, LanguageStat, CampaignStat, SiteStat, Path,
            Campaign)


@pytest.fixture
def now(app):
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


def unix(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def visit(site_id, path, when, rng, **fields):
    """A pageview (or event) as the GoatCounter count API records it."""
    fields.setdefault("user_agent", rng.choice(UAS).format(rng.randrange(100, 104)))
    fields.setdefault("width", rng.choice([0, 360, 800, 1440, 2560]))
    fields.setdefault("location", rng.choice(["", "NL", "US-TX", "DE"]))
    fields.setdefault("referrer", rng.choice(["", "https://a.example/", "https://b.example/x"]))
    return HitIn(site_id=site_id, path=path, family="gc-api", created_at=unix(when), **fields)


def history(site_id, seed, per_day=4):
    """``per_day`` hits a day for 400 days up to NOW, in two sessions a day: common paths, an
    event, a path and a campaign seen only long ago ("/gone", "winter"), and ones seen only
    lately."""
    rng, hits = random.Random(seed), []
    for days_ago in range(400, -1, -1):
        day = NOW - timedelta(days=days_ago)
        for n in range(per_day):
            when = day - timedelta(hours=rng.randrange(12), minutes=rng.randrange(60))
            path = rng.choice(["/", "/blog", "/about"])
            extra = {}
            if days_ago > 200 and n == 0:
                path, extra["query"] = "/gone", "utm_campaign=winter&utm_source=mail"
            elif days_ago < 10 and n == 0:
                path, extra["query"] = "/new", "utm_campaign=spring&utm_source=mail"
            elif n == 1 and days_ago % 3 == 0:
                path, extra["kind"] = "signup", "event"
            hits.append(visit(site_id, path, when, rng, session=f"d{days_ago}s{n % 2}", **extra))
    return hits


def view(site_id, start, end):
    """What users see for a range: totals, visitors per path, every breakdown, Umami's
    summary."""
    q = StatsQuery(site_id=site_id, start=start, end=end, limit=100)
    totals = service.totals(q)
    seen = {"totals": (totals.total, totals.total_events, totals.total_utc),
            "umami": umami.summary(q),
            "paths": [(p.path, p.count) for p in service.hits(q).hits]}
    for name in dimensions.DIMENSIONS:  # campaign ids differ between sites: their names do not
        seen[name] = [(None if name == "campaigns" else row.id, row.name, row.count,
                       row.ref_scheme) for row in service.breakdown(q, name).rows]
    return seen


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def footprint(site_id):
    return {model.__tablename__: count(model, model.site_id == site_id) for model in PER_SITE}


def month_end(month):
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


@pytest.mark.parametrize("days", [31, 90])
def test_data_retention_deletes_what_is_older_and_keeps_what_users_see(app, site, store_hits,
                                                                       now, days):
    cutoff = retention.cutoff_for(days)
    assert cutoff == datetime.combine(NOW.date() - timedelta(days=days), time())
    month = cutoff.date().replace(day=1)
    assert cutoff.date() != month  # the cutoff month is cut: its monthly rows must be settled
    other = accounts.create_site("other.example")  # data_retention 0: kept forever
    rng = random.Random(days)
    spanning = [visit(site.id, "/", cutoff - timedelta(hours=2), rng, session="night"),
                visit(site.id, "/blog", cutoff + timedelta(hours=2), rng, session="night")]
    # Seen in the cutoff month only before the cutoff: its monthly rows must go.
    early = visit(site.id, "/early", datetime.combine(month, time(1)), rng, location="FR")
    store_hits(*history(site.id, 1, 2), *history(other.id, 2, 1), *spanning, early)
    site.settings = {**site.settings, "data_retention": days}
    db.session.commit()

    kept = count(Hit, Hit.site_id == site.id, Hit.created_at >= cutoff)
    assert count(Hit, Hit.site_id == site.id, Hit.created_at < cutoff) > 300
    inside = view(site.id, cutoff, END)
    cut_month = view(site.id, cutoff, datetime.combine(month_end(month), time(23, 59, 59)))
    others = footprint(other.id), view(other.id, NOW - timedelta(days=400), END)

    summary = retention.purge_expired_hits()

    assert summary["sites"] == 1 and summary["hits"] > 300 and summary["paths"] == 2
    assert summary["campaigns"] == 1 and summary["site_stats_settled"] > 0
    # Raw hits: nothing older than the cutoff, every newer one kept.
    assert count(Hit, Hit.site_id == site.id, Hit.created_at < cutoff) == 0
    assert count(Hit, Hit.site_id == site.id) == kept
    # What users see for the kept days is unchanged; a range reaching back further counts only
    # the kept hits, also where it reads whole months (the cutoff month's settled rows).
    assert view(site.id, cutoff, END) == inside
    assert view(site.id, NOW - timedelta(days=400), END) == inside
    whole_month = datetime.combine(month, time()), datetime.combine(month_end(month), time(23, 59, 59))
    assert view(site.id, *whole_month) == cut_month
    # Every rollup of the site agrees with its remaining raw hits.
    assert db.session.scalar(select(func.sum(HitCount.pageviews))
                             .where(HitCount.site_id == site.id)) == kept
    assert db.session.scalar(select(func.sum(SiteHour.pageviews))
                             .where(SiteHour.site_id == site.id)) == kept
    for model in (HitCount, RefCount, SiteHour, Visit, VisitHour):
        assert count(model, model.site_id == site.id, model.hour < cutoff) == 0
    for model in (BrowserStat, SystemStat, LocationStat, SizeStat, LanguageStat, CampaignStat):
        assert count(model, model.site_id == site.id, model.day < cutoff.date()) == 0
    assert count(SiteStat, SiteStat.site_id == site.id, SiteStat.span == "d",
                 SiteStat.period < cutoff.date()) == 0
    assert count(SiteStat, SiteStat.site_id == site.id, SiteStat.span == "m",
                 SiteStat.period < month) == 0
    daily = dict(db.session.execute(
        select(SiteStat.kind + ":" + SiteStat.key, func.sum(SiteStat.visitors))
        .where(SiteStat.site_id == site.id, SiteStat.span == "d", SiteStat.period >= month,
               SiteStat.period <= month_end(month))
        .group_by(SiteStat.kind, SiteStat.key)).all())
    monthly = dict(db.session.execute(
        select(SiteStat.kind + ":" + SiteStat.key, SiteStat.visitors)
        .where(SiteStat.site_id == site.id, SiteStat.span == "m",
               SiteStat.period == month)).all())
    assert monthly == {key: n for key, n in daily.items() if n} and monthly
    # Sessions: the ones whose hits are all gone go; one spanning the cutoff stays, with its
    # newer hit still pointing at it.
    assert count(VisitorSession, VisitorSession.site_id == site.id,
                 VisitorSession.last_seen < cutoff) == 0
    night = db.session.scalar(select(Hit.session_id).where(
        Hit.site_id == site.id, Hit.created_at == cutoff + timedelta(hours=2)))
    assert night is not None and db.session.get(VisitorSession, night).first_seen < cutoff
    # Orphaned paths and campaigns go; referenced ones stay.
    names = set(db.session.scalars(select(Path.path).where(Path.site_id == site.id)))
    assert names == {"/", "/blog", "/about", "/new", "signup"}
    assert set(db.session.scalars(select(Campaign.name).where(Campaign.site_id == site.id))) \
        == {"spring"}
    # The site keeping everything is untouched.
    assert (footprint(other.id), view(other.id, NOW - timedelta(days=400), END)) == others
    assert count(Path, Path.site_id == other.id, Path.path == "/gone") == 1

    again = retention.purge_expired_hits()
    assert again.pop("sites") == 1 and set(again.values()) == {0}
    assert view(site.id, NOW - timedelta(days=400), END) == inside


def test_small_chunks_and_an_interrupted_run_end_as_one_run_does(app, store_hits, now):
    whole, chunked = accounts.create_site("whole.example"), accounts.create_site("chunked.example")
    store_hits(*history(whole.id, 5, 1), *history(chunked.id, 5, 1))  # the same history twice
    cutoff = retention.cutoff_for(90)
    assert footprint(whole.id) == footprint(chunked.id)
    # A run interrupted after the raw hits, then a whole run; 50 rows per transaction.
    interrupted = maintenance.delete_in_chunks(
        Hit.__table__, [Hit.site_id == chunked.id, Hit.created_at < cutoff], [Hit.created_at],
        50)
    resumed = retention.purge_site(chunked.id, cutoff, chunk=50)
    done = retention.purge_site(whole.id, cutoff)

    assert interrupted > 50 * 5 and resumed["hits"] == 0
    resumed["hits"] = interrupted
    assert resumed == done and min(done[t] for t in ("hit_counts", "site_stats")) > 50 * 5
    assert footprint(chunked.id) == footprint(whole.id)
    assert view(chunked.id, NOW - timedelta(days=400), END) \
        == view(whole.id, NOW - timedelta(days=400), END)


def test_a_site_that_fails_does_not_stop_the_others_and_fails_the_job(app, site, store_hits,
                                                                       now):
    broken = accounts.create_site("broken.example")
    rng = random.Random(3)
    old = NOW - timedelta(days=100)
    store_hits(visit(site.id, "/", old, rng), visit(broken.id, "/", old, rng))
    site.settings = {**site.settings, "data_retention": 31}
    broken.settings = {**broken.settings, "data_retention": "-31"}  # never a number of days
    db.session.commit()

    with pytest.raises(retention.RetentionFailed, match=rf"sites \[{broken.id}\]"):
        retention.purge_expired_hits()
    assert count(Hit, Hit.site_id == site.id) == 0
    assert count(Hit, Hit.site_id == broken.id) == 1


def test_the_bot_log_keeps_30_days(app, site, store_hits, now):
    for days_ago in (45, 31, 29, 1):
        clock.freeze(NOW - timedelta(days=days_ago))  # the log is dated when it is written
        store_hits(HitIn(site_id=site.id, path=f"/{days_ago}", family="gc-api",
                         user_agent=BOT_UA, created_at=unix(NOW)),
                   HitIn(site_id=10 ** 6, path="/nowhere", family="gc-api"))  # no such site
    clock.freeze(NOW)
    assert count(BotHit) == 8 and count(BotHit, BotHit.site_id.is_(None)) == 4

    assert maintenance.purge_bot_log() == {"bot_hits": 4}
    assert sorted(db.session.scalars(select(BotHit.path).where(BotHit.site_id == site.id))) \
        == ["/1", "/29"]
    assert count(BotHit, BotHit.site_id.is_(None)) == 2
    assert maintenance.purge_bot_log() == {"bot_hits": 0}


def test_expired_login_tokens_and_old_ledger_rows_go(app, client, user, site, store_hits, now):
    clock.freeze(NOW - timedelta(days=400))
    expired = issue_login_token(user)  # the default lifetime is 365 days
    clock.freeze(NOW - timedelta(days=8))
    store_hits(HitIn(site_id=site.id, path="/a", family="gc-api", created_at=unix(NOW)))
    clock.freeze(NOW - timedelta(days=6))
    store_hits(HitIn(site_id=site.id, path="/b", family="gc-api", created_at=unix(NOW)))
    clock.freeze(NOW)
    live = issue_login_token(user)
    assert count(UmamiLoginToken) == 2 and count(IngestBatch) == 2

    assert maintenance.delete_expired_sessions() == {"umami_login_tokens": 1,
                                                     "ingest_batches": 1}
    assert count(UmamiLoginToken) == 1
    for token, status in ((live, 200), (expired, 401)):
        response = client.get("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status
    assert db.session.scalar(select(IngestBatch.persisted_at)) == NOW - timedelta(days=6)
    assert maintenance.delete_expired_sessions() == {"umami_login_tokens": 0,
                                                     "ingest_batches": 0}


def test_the_ledger_row_of_a_batch_still_in_the_buffer_stays(redis_app, site, now):
    runtime = ingest()
    clock.freeze(NOW - timedelta(days=9))
    runtime.push(HitIn(site_id=site.id, path="/x", family="gc-api", created_at=unix(NOW)))
    runtime.flush()
    runtime.push(*(HitIn(site_id=site.id, path="/y", family="gc-api", created_at=unix(NOW))
                   for _ in range(3)))
    batch = runtime.buffer.claim(100)
    persist_batch(runtime, batch)  # committed, then the worker died before acknowledging it
    clock.freeze(NOW)
    assert count(IngestBatch) == 2 and count(Hit) == 4

    assert maintenance.delete_expired_sessions()["ingest_batches"] == 1
    assert db.session.scalar(select(IngestBatch.id)) == batch.id
    runtime.buffer.release(batch)  # another worker takes the batch over: a duplicate
    runtime.flush()
    assert count(Hit) == 4
    assert maintenance.delete_expired_sessions()["ingest_batches"] == 1
    assert count(IngestBatch) == 0


def test_the_schedule_lists_every_job_with_its_period():
    periods = {entry.name: entry.every for entry in schedule.SCHEDULE}
    assert periods == {"delete-expired-exports": 3600, "delete-expired-sessions": 3600,
                       "purge-expired-hits": 86400, "purge-bot-log": 86400}
    functions = {entry.name: schedule.resolve(entry.function) for entry in schedule.SCHEDULE}
    assert functions == {"delete-expired-exports": maintenance.delete_expired_exports,
                         "delete-expired-sessions": maintenance.delete_expired_sessions,
                         "purge-expired-hits": retention.purge_expired_hits,
                         "purge-bot-log": maintenance.purge_bot_log}


def test_flask_jobs_lists_and_runs_the_periodic_jobs(app, site, store_hits, now):
    runner = app.test_cli_runner()
    listed = runner.invoke(jobs_cli, ["list"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        f"{e.name}\t{'hourly' if e.every == 3600 else 'daily'}\t{e.function}"
        for e in schedule.SCHEDULE]

    clock.freeze(NOW - timedelta(days=40))
    store_hits(HitIn(site_id=site.id, path="/", family="gc-api", user_agent=BOT_UA))
    clock.freeze(NOW)
    ran = runner.invoke(jobs_cli, ["run", "purge-bot-log"])
    assert ran.exit_code == 0, ran.output
    assert ran.output.splitlines()[-1] == "purge-bot-log: bot_hits=1"  # after the job's log
    assert count(BotHit) == 0
    unknown = runner.invoke(jobs_cli, ["run", "purge-everything"])
    assert unknown.exit_code == 2 and "purge-everything" in unknown.output


def test_cutoff_keeps_whole_utc_days():
    at = datetime(2026, 3, 31, 23, 59)
    assert retention.cutoff_for(31, at) == datetime(2026, 2, 28)
    assert retention.cutoff_for(90, at.replace(hour=0, minute=0)) == datetime(2025, 12, 31)
    assert retention.cutoff_for(1, at).date() == date(2026, 3, 30)
