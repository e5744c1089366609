"""The hot path's site directory: ignore lists (with remembered IP parsing) and settings
defaults, on SiteInfo snapshots without a database."""
import ipaddress

import pytest

from app.ingest.sites import SiteDirectory, SiteInfo, Snapshot
from app.models import default_site_settings


def _directory(site_networks=(), global_networks=()):
    site = SiteInfo(1, "u", "c", "example.com", "", {},
                    [ipaddress.ip_network(n) for n in site_networks])
    directory = SiteDirectory(ttl=3600)
    directory._snapshot = Snapshot(by_id={1: site}, by_cname={"example.com": site}, by_uuid={},
                                   by_code={}, by_domain={}, loaded_at=float("inf"),
                                   global_networks=[ipaddress.ip_network(n)
                                                    for n in global_networks])
    return directory, site


@pytest.mark.parametrize("ip, ignored", [
    ("10.1.2.3", True), ("::ffff:10.1.2.3", True), ("2001:db8::7", True),
    ("11.0.0.1", False), ("2001:db9::1", False), ("", False), ("garbage", False),
    ("10.1.2.3.4", False),
])
def test_ignore_lists_match_ips_and_ranges(ip, ignored):
    directory, site = _directory(["10.0.0.0/8"], ["2001:db8::/32"])
    for _ in range(2):  # the second answer comes from the remembered parse
        assert directory.is_ignored(site, ip) is ignored


def test_without_ignore_lists_nothing_is_ignored():
    directory, site = _directory()
    assert directory.is_ignored(site, "10.1.2.3") is False
    assert directory.is_ignored(site, "garbage") is False


def test_host_header_lookup_ignores_case_port_and_trailing_dot():
    directory, site = _directory()
    for host in ("example.com", "EXAMPLE.com:8080", "example.com.", "example.com."):
        assert directory.by_host(host) is site
    assert directory.by_host("other.example") is None
    assert directory.by_host("[::1]:80") is None


def test_settings_fall_back_to_the_defaults_which_stay_unchanged():
    site = SiteInfo(1, "u", "c", "", "", {"dnt": True})
    assert site.setting("dnt") is True
    assert site.setting("collect_regions") == default_site_settings()["collect_regions"]
    assert site.setting("ip_mode") == "anonymised"
    with pytest.raises(KeyError):
        site.setting("no such setting")
