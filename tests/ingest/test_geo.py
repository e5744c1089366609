"""GeoIP lookups against tiny MaxMind databases built here, the packaged GeoLite2 database,
and GoatCounter's location-code reduction (spec/goatcounter.md §11.7, spec/umami.md §6.5)."""
import random
import subprocess
import sys
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from app.ingest import geo as geo_module
from app.ingest.geo import Geo, GeoInfo, geo_for, location_code

IRELAND = {"iso_code": "IE", "names": {"en": "Ireland", "de": "Irland"}}
UNITED_STATES = {"iso_code": "US", "names": {"en": "United States"}}
AUSTRALIA = {"iso_code": "AU", "names": {"en": "Australia"}}
GERMANY = {"iso_code": "DE", "names": {"en": "Germany"}}
ROOT = Path(__file__).resolve().parents[2]


def _write(path, database_type, networks):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en"], description="Ibex test database")
    for network, record in networks:
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture(scope="module")
def city_db(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("geo") / "city.mmdb", "GeoLite2-City", [
        ("51.171.91.0/24", {"country": IRELAND}),
        ("66.66.66.0/24", {"country": UNITED_STATES,
                           "subdivisions": [{"iso_code": "TX", "names": {"en": "Texas"}},
                                            {"iso_code": "XX", "names": {"en": "Second level"}}],
                           "city": {"names": {"en": "Austin"}}}),
        ("1.2.3.0/24", {"country": AUSTRALIA, "subdivisions": [{"names": {"en": "Nameless code"}}]}),
        ("2a02:8108::/32", {"country": GERMANY,
                            "subdivisions": [{"iso_code": "BE", "names": {"en": "Berlin"}}],
                            "city": {"names": {"en": "Berlin"}}}),
        ("5.5.5.0/24", {"continent": {"code": "EU"}}),
        # Private ranges present in the data must still never be looked up.
        ("10.0.0.0/8", {"country": IRELAND}),
        ("192.168.0.0/16", {"country": IRELAND}),
    ])


@pytest.fixture(scope="module")
def country_db(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("geo") / "country.mmdb", "GeoLite2-Country", [
        ("51.171.91.0/24", {"country": IRELAND}),
        ("66.66.66.0/24", {"country": UNITED_STATES}),
        ("1.2.3.0/24", {"country": AUSTRALIA}),
        ("2a02:8108::/32", {"country": GERMANY}),
    ])


@pytest.fixture(scope="module")
def city(city_db):
    geo = Geo(city_db)
    yield geo
    geo.close()


def test_city_database_lookups(city):
    # The IPs upstream's tests use (§11.7).
    assert city.lookup("51.171.91.33") == GeoInfo(country="IE", country_name="Ireland")
    texas = city.lookup("66.66.66.67")
    assert texas == GeoInfo(country="US", region="TX", city="Austin",
                            country_name="United States", region_name="Texas")
    assert texas.code == "US-TX"
    assert city.lookup("1.2.3.4").code == "AU"
    assert city.lookup("1.2.3.4").region_name == "Nameless code"
    assert city.lookup("2a02:8108:1234::1") == GeoInfo(country="DE", region="BE", city="Berlin",
                                                       country_name="Germany", region_name="Berlin")
    assert city.lookup(" 51.171.91.33 ").code == "IE"


def test_ipv4_mapped_public_address_is_looked_up_as_ipv4(city):
    assert city.lookup("::ffff:66.66.66.67").code == "US-TX"


@pytest.mark.parametrize("ip", [
    "9.9.9.9",  # not in the database
    "2001:db8::1",
    "5.5.5.5",  # a record without a country
])
def test_unknown_addresses_are_empty(city, ip):
    assert city.lookup(ip) == GeoInfo()
    assert city.lookup(ip).code == ""


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "10.1.2.3", "172.16.5.4", "172.31.255.255", "192.168.1.1", "169.254.1.1",
    "0.0.0.0", "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1",
    "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:192.168.1.1", "::ffff:169.254.0.1",
    "240.0.0.1", "224.0.0.1",
])
def test_private_and_reserved_addresses_are_never_looked_up(city, ip, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("looked up")

    monkeypatch.setattr(city._reader, "city", fail)
    monkeypatch.setattr(city._reader, "country", fail)
    assert city.lookup(ip) == GeoInfo()


@pytest.mark.parametrize("ip", ["", "garbage", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::ffff::1",
                                "1.2.3.4/24", "fe80::1%eth0", "\x00", None, 16909060])
def test_garbage_is_empty(city, ip):
    assert city.lookup(ip) == GeoInfo()


def test_country_database_has_no_region_or_city(country_db):
    geo = Geo(country_db)
    try:
        assert geo.lookup("66.66.66.67") == GeoInfo(country="US", country_name="United States")
        assert geo.lookup("51.171.91.33").code == "IE"
        assert geo.lookup("1.2.3.4").code == "AU"
        assert geo.lookup("2a02:8108::1").code == "DE"
        assert geo.lookup("9.9.9.9") == GeoInfo()
        assert geo.lookup("10.0.0.1") == GeoInfo()
    finally:
        geo.close()


def test_missing_database_fails_at_construction(tmp_path):
    path = str(tmp_path / "nope.mmdb")
    with pytest.raises(FileNotFoundError, match="nope.mmdb"):
        Geo(path)


def test_invalid_database_fails_at_construction(tmp_path):
    path = tmp_path / "broken.mmdb"
    path.write_bytes(b"this is not a MaxMind database" * 10)
    with pytest.raises(ValueError, match="broken.mmdb"):
        Geo(str(path))


def test_packaged_geolite2_database_resolves_public_ips():
    geo = Geo(None)
    try:
        assert geo.path.endswith("GeoLite2-City.mmdb")
        assert geo.database_type == "GeoLite2-City"
        google = geo.lookup("8.8.8.8")
        assert google.country == "US"
        assert google.country_name == "United States"
        assert geo.lookup("2001:4860:4860::8888").country == "US"
        assert geo.lookup("127.0.0.1") == GeoInfo()
    finally:
        geo.close()


def test_geo_for_opens_once_per_path_and_lazily(city_db, tmp_path, monkeypatch):
    monkeypatch.setattr(geo_module, "_cache", {})
    first = geo_for(city_db)
    assert geo_for(city_db) is first
    assert first.lookup("51.171.91.33").code == "IE"
    assert geo_for(None) is geo_for(None)
    assert geo_for(None) is not first
    with pytest.raises(FileNotFoundError):
        geo_for(str(tmp_path / "missing.mmdb"))
    assert str(tmp_path / "missing.mmdb") not in geo_module._cache


def test_nothing_is_opened_at_import():
    code = ("import maxminddb\n"
            "def refuse(*args, **kwargs):\n"
            "    raise AssertionError('database opened at import')\n"
            "maxminddb.open_database = refuse\n"
            "import app.ingest.geo as geo\n"
            "assert geo._cache == {}\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("info, collect_region, collect_regions, expected", [
    (GeoInfo(country="US", region="TX"), True, [], "US-TX"),
    (GeoInfo(country="US", region="TX"), False, [], "US"),
    (GeoInfo(country="US", region="TX"), True, ["US"], "US-TX"),
    (GeoInfo(country="US", region="TX"), True, ["NL", "IE"], "US"),
    (GeoInfo(country="US", region="TX"), False, ["US"], "US"),
    (GeoInfo(country="IE"), True, [], "IE"),
    (GeoInfo(country="IE"), False, ["US"], "IE"),
    (GeoInfo(), True, [], ""),
    (GeoInfo(region="TX"), True, [], ""),
    # the count API's verbatim `location`
    ("NL-NH", True, [], "NL-NH"),
    ("NL-NH", False, [], "NL"),
    ("NL-NH", True, ["US"], "NL"),
    ("ET", False, [], "ET"),
    ("", True, [], ""),
])
def test_location_code(info, collect_region, collect_regions, expected):
    assert location_code(info, collect_region, collect_regions) == expected


def test_geo_info_code():
    assert GeoInfo().code == ""
    assert GeoInfo(country="IE").code == "IE"
    assert GeoInfo(country="US", region="CA").code == "US-CA"


def test_fuzz_lookup_never_raises(city):
    rng = random.Random(21)
    alphabet = "0123456789abcdefABCDEF.:/%ffff x-"
    for _ in range(2000):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
        if rng.random() < 0.3:
            text = ".".join(str(rng.randint(0, 300)) for _ in range(rng.choice((3, 4, 4, 5))))
        elif rng.random() < 0.1:
            text = "".join(chr(rng.randint(0, 0x2FFF)) for _ in range(rng.randint(0, 12)))
        assert isinstance(city.lookup(text), GeoInfo)


def test_fuzz_location_code_never_raises():
    rng = random.Random(22)
    for _ in range(2000):
        text = "".join(rng.choices("ABCDEFGHNLUSTX-- é", k=rng.randint(0, 8)))
        regions = rng.choice(([], ["US"], ["NL", "IE"]))
        result = location_code(text, rng.random() < 0.5, regions)
        assert isinstance(result, str) and len(result) <= len(text)
