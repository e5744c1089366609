"""Locations through the whole pipeline, with GEOIP_DB pointing at a tiny database built here:
region reduction per site settings, location and city dimensions, location stats."""
import time

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import select

from app import accounts
from app.extensions import db as _db
from app.ingest.hit_in import HitIn
from app.models import City, Hit, Location, LocationStat
from tests.conftest import _empty_tables, make_app

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"


@pytest.fixture(scope="module")
def geoip_db(tmp_path_factory):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                        languages=["en"], description="Ibex pipeline test")
    writer.insert_network(IPSet(["66.66.66.0/24"]), {
        "country": {"iso_code": "US", "names": {"en": "United States"}},
        "subdivisions": [{"iso_code": "TX", "names": {"en": "Texas"}}],
        "city": {"names": {"en": "Austin"}}})
    writer.insert_network(IPSet(["51.171.91.0/24"]), {
        "country": {"iso_code": "IE", "names": {"en": "Ireland"}},
        "subdivisions": [{"iso_code": "D", "names": {"en": "Dublin"}}],
        "city": {"names": {"en": "Dublin"}}})
    path = tmp_path_factory.mktemp("geoip") / "city.mmdb"
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture
def geo_app(database_url, tmp_path, geoip_db):
    app = make_app(database_url, tmp_path, GEOIP_DB=geoip_db)
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


def test_locations_come_from_geoip(geo_app):
    from app.ingest import ingest
    site = accounts.create_site("example.com")  # default collect_regions: US, RU, CN
    ingest().push(*(HitIn(site_id=site.id, path=f"/{n}", user_agent=FIREFOX, ip=ip,
                          created_at=time.time())
                    for n, ip in enumerate(["66.66.66.67", "51.171.91.33", "192.168.1.1"])))
    ingest().flush()
    _db.session.rollback()
    rows = _db.session.scalars(select(Hit).order_by(Hit.id)).all()
    # Regions only for the countries in collect_regions; private addresses are unknown.
    assert [r.location for r in rows] == ["US-TX", "IE", ""]
    texas = _db.session.get(Location, "US-TX")
    assert (texas.country, texas.region, texas.country_name, texas.region_name) == (
        "US", "TX", "United States", "Texas")
    assert _db.session.get(City, rows[0].city_id).name == "Austin"
    assert rows[1].city_id is None  # the city of a reduced (country-only) location is not kept
    assert sorted(_db.session.scalars(select(LocationStat.location))) == ["", "IE", "US-TX"]


def test_all_regions_when_collect_regions_is_empty(geo_app):
    from app.ingest import ingest
    site = accounts.create_site("example.com")
    accounts.update_site(site, settings={"collect_regions": []})
    ingest().push(HitIn(site_id=site.id, path="/", user_agent=FIREFOX, ip="51.171.91.33",
                        created_at=time.time()))
    ingest().flush()
    _db.session.rollback()
    row = _db.session.scalar(select(Hit))
    assert row.location == "IE-D"
    assert _db.session.get(City, row.city_id).name == "Dublin"
