"""Cloud-provider IP ranges (GoatCounter's bot codes 8–17, spec §11.6): the range table, the
build script's overlap handling, and /count hits from a cloud address going to the bot log."""
import importlib.util
import ipaddress
from pathlib import Path

from sqlalchemy import func, select

from app.ingest import cloud
from app.ingest.hit_in import HitIn
from app.models import BotHit, Hit

ROOT = Path(__file__).resolve().parents[2]
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"


def _build_script():
    spec = importlib.util.spec_from_file_location("build_cloud_ranges",
                                                  ROOT / "scripts" / "build-cloud-ranges.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _int(ip):
    return int(ipaddress.ip_address(ip))


def test_addresses_are_found_in_their_interval_only():
    ranges = cloud.CloudRanges([
        "# header",
        f"4 8 {_int('3.0.0.0')} {_int('3.0.0.255')}",
        f"4 13 {_int('20.1.0.0')} {_int('20.1.255.255')}",
        f"6 11 {_int('2600:1900::')} {_int('2600:1900::ffff')}",
    ])
    assert ranges.count == 3
    assert ranges.code("3.0.0.0") == 8 and ranges.code("3.0.0.255") == 8
    assert ranges.code("3.0.1.0") == 0 and ranges.code("2.255.255.255") == 0
    assert ranges.code(" 20.1.2.3 ") == 13
    assert ranges.code("::ffff:3.0.0.9") == 8          # IPv4-mapped IPv6
    assert ranges.code("2600:1900::abcd") == 11 and ranges.code("2600:1900::1:0") == 0
    for junk in ("", "not an ip", "300.1.1.1", "3.0.0.0/24"):
        assert ranges.code(junk) == 0
    assert cloud.CloudRanges([]).code("3.0.0.1") == 0


def test_the_build_makes_overlapping_ranges_disjoint():
    disjoint = _build_script().disjoint
    assert disjoint([(10, 20, 8), (15, 30, 13), (12, 14, 9), (40, 50, 16)]) == [
        (10, 20, 8), (21, 30, 13), (40, 50, 16)]


def test_the_built_table_is_loaded_and_knows_each_provider():
    table = cloud.CloudRanges.from_file(cloud.RANGES_FILE)  # `make static` builds it
    assert table.count > 1000
    lines = [line.split() for line in cloud.RANGES_FILE.read_text().splitlines()
             if not line.startswith("#")]
    assert {int(code) for _, code, _, _ in lines} == {8, 9, 11, 13, 16}
    for version, code, first, last in lines[:50] + lines[-50:]:
        assert table.code(str(ipaddress.ip_address(int(first)))) == int(code)
        assert table.code(str(ipaddress.ip_address(int(last)))) == int(code)


def _aws_address():
    for line in cloud.RANGES_FILE.read_text().splitlines():
        if line.startswith("4 8 "):
            return str(ipaddress.ip_address(int(line.split()[2])))
    raise AssertionError("no AWS range in the table")


def test_count_hits_from_a_cloud_address_are_bots_other_families_are_not(db, site, store_hits):
    aws = _aws_address()
    hits = [HitIn(site_id=site.id, path="/gc", ip=aws, user_agent=FIREFOX, family="gc"),
            HitIn(site_id=site.id, path="/api", ip=aws, user_agent=FIREFOX, family="gc-api"),
            HitIn(site_id=site.id, path="/umami", ip=aws, user_agent=FIREFOX, family="umami"),
            HitIn(site_id=site.id, path="/home", ip="192.0.2.7", user_agent=FIREFOX, family="gc")]
    assert store_hits(*hits) == 4
    assert db.session.scalar(select(func.count()).select_from(Hit)) == 3
    bot = db.session.execute(select(BotHit.reason, BotHit.bot, BotHit.path)).one()
    assert tuple(bot) == ("bot", 8, "/gc")
