"""The stats benchmark's dataset generator (bench/stats): a few hundred hits through the real
persister land at their historical times with realistic shape — many paths, visits with first
and repeated pageviews, events, referrers, campaigns, browsers, locations and languages."""
from datetime import date, datetime

from sqlalchemy import func, select

from app.models import Browser, Hit, Path, Ref, Site, VisitorSession
from bench.stats.generate import create_sites, load
from bench.stats.traffic import SITES, Traffic

END = date(2026, 6, 1)


def traffic(pageviews=600):
    return Traffic(pageviews, seed=7, days=8, end=END, ip_samples=2500)


def test_generated_traffic_is_deterministic_and_in_time_order():
    first = [hit.to_wire() for _, hit in traffic().hits()]
    again = traffic()
    second = [hit.to_wire() for _, hit in again.hits()]
    assert first == second
    days = again.slice_days(1, 3)
    assert [hit.to_wire() for _, hit in traffic().hits(days)] == \
        [record for record in first if days[0] <= _day(record, again) < days[1]]


def _day(record, generator):
    from app.ingest.hit_in import HitIn
    created = datetime.utcfromtimestamp(HitIn.from_wire(record).created_at)
    return (created - generator.start).days


def test_loaded_through_the_persister_at_historical_times(app, db):
    generator = traffic()
    site_ids = create_sites(generator)
    result = load(app, generator.hits(), site_ids, batch_size=100)
    db.session.rollback()
    counts = generator.counts
    assert result["pushed"] == counts["pageviews"] + counts["events"] + counts["bots"]
    main = site_ids[0]

    def scalar(query):
        return db.session.scalar(query)
    # every human hit stored (no visitor address is a cloud provider's), the crawlers dropped
    assert scalar(select(func.count()).select_from(Hit)) == counts["pageviews"] + counts["events"]
    assert counts["bots"] > 0
    # at their historical times, over the eight days, on sites made at the start
    first, last = db.session.execute(select(func.min(Hit.created_at), func.max(Hit.created_at))).one()
    assert generator.start <= first < last and last.date() < END and (last - first).days >= 6
    assert {site.cname: site.created_at for site in db.session.scalars(select(Site))} == \
        {domain: generator.start for domain in SITES}
    # many paths with a long tail: the most popular path is far above the median one
    per_path = [n for (n,) in db.session.execute(
        select(func.count()).select_from(Hit).where(Hit.site_id == main).group_by(Hit.path_id)
        .order_by(func.count().desc()))]
    assert len(per_path) >= 40 and per_path[0] >= 5 * per_path[len(per_path) // 2]
    # visits of several pageviews: first visits and repeats within a session
    assert scalar(select(func.count()).select_from(Hit).where(Hit.first_visit.is_(False))) > 10
    sizes = [n for (n,) in db.session.execute(
        select(func.count()).select_from(Hit).group_by(Hit.session_id))]
    assert max(sizes) >= 4 and sum(1 for n in sizes if n >= 2) >= 0.3 * len(sizes)
    assert scalar(select(func.count()).select_from(VisitorSession)) >= 0.2 * counts["pageviews"]
    # a few per cent events
    events = scalar(select(func.count()).select_from(Hit).join(Path, Path.id == Hit.path_id)
                    .where(Path.event.is_(True)))
    assert 0 < events < 0.1 * counts["pageviews"]
    # referrers (search engines among them) and campaigns
    refs = dict(db.session.execute(
        select(Ref.ref_scheme, func.count()).select_from(Hit).join(Ref, Ref.id == Hit.ref_id)
        .where(Ref.ref != "").group_by(Ref.ref_scheme)).all())
    assert sum(refs.values()) >= 0.1 * counts["pageviews"] and refs.get("g", 0) > 0
    assert scalar(select(func.count()).select_from(Hit).where(Hit.campaign_id.is_not(None))) > 0
    # browsers with versions, locations with regions, languages, screen widths
    assert scalar(select(func.count(func.distinct(Browser.name)))) >= 3
    assert scalar(select(func.count(func.distinct(Browser.version)))) >= 8
    locations = {code for (code,) in db.session.execute(select(Hit.location).distinct())}
    assert len(locations) >= 8 and any("-" in code for code in locations)
    assert scalar(select(func.count(func.distinct(Hit.language))).where(Hit.site_id == main)) >= 3
    assert scalar(select(func.count(func.distinct(Hit.width)))) >= 8
