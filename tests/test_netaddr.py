"""IP parsing shared by the ignore lists, GeoIP, cloud ranges and IP anonymisation."""
import ipaddress

import pytest

from app import netaddr


def test_addresses_are_parsed_once_with_ipv4_mapped_ones_unwrapped():
    assert netaddr.address("192.0.2.1") == ipaddress.ip_address("192.0.2.1")
    assert netaddr.address(" ::ffff:192.0.2.1 ") == ipaddress.ip_address("192.0.2.1")
    assert netaddr.address("2001:db8::1") == ipaddress.ip_address("2001:db8::1")
    for junk in ("", "x", "300.1.1.1", "192.0.2.0/24"):
        assert netaddr.address(junk) is None


@pytest.mark.parametrize("ip, anonymised", [
    ("192.0.2.77", "192.0.2.0"), ("::ffff:192.0.2.77", "192.0.2.0"),
    ("2001:db8:1:2::5", "2001:db8:1::"), ("junk", ""), (None, "")])
def test_anonymise_keeps_the_network_part(ip, anonymised):
    assert netaddr.anonymise(ip) == anonymised
