"""Verbose /api/stats rows carry country, region and city from GeoIP (a tiny database built
here), as far as the site's location settings let the pipeline store them."""
import time

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from app import accounts
from app.extensions import db as _db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from tests.api.basic.conftest import CHROME
from tests.conftest import IsolatedClient, _empty_tables, make_app


@pytest.fixture(scope="module")
def geoip_db(tmp_path_factory):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                        languages=["en"], description="Ibex Basic API test")
    writer.insert_network(IPSet(["66.66.66.0/24"]), {
        "country": {"iso_code": "US", "names": {"en": "United States"}},
        "subdivisions": [{"iso_code": "CA", "names": {"en": "California"}}],
        "city": {"names": {"en": "San Francisco"}}})
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
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


def test_verbose_rows_have_country_region_and_city(geo_app):
    user = accounts.create_user("alice", "correct horse battery", role="a")
    _token, secret = accounts.create_token(user, "stats")
    site = accounts.create_site("example.com")  # regions for US, RU, CN (the default)
    now = time.time()
    ingest().push(*(HitIn(site_id=site.id, path=f"/{n}", family="basic", user_agent=CHROME,
                          ip=ip, created_at=now - 60 * n)
                    for n, ip in enumerate(["66.66.66.67", "51.171.91.33", "10.1.2.3"])))
    ingest().flush()
    response = geo_app.test_client().get("/api/stats?verbose=true",
                                         headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    rows = [(r["path"], r["ip"], r["country"], r["region"], r["city"]) for r in response.json]
    assert rows == [
        ("/0", "66.66.66.0", "US", "California", "San Francisco"),
        ("/1", "51.171.91.0", "IE", "", ""),  # no regions (nor cities) collected for IE
        ("/2", "10.1.2.0", "", "", ""),  # a private address: unknown
    ]
