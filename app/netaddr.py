"""Client IP addresses and networks: who is asking (after ProxyFix) and IP/CIDR parsing."""
import ipaddress

from flask import request


def client_ip():
    """The client's IP as a string. ProxyFix (PROXY_HOPS) has already applied X-Forwarded-For."""
    return request.remote_addr or "127.0.0.1"


def parse_network(text):
    """Parse an IP address or CIDR range; returns an ip_network or raises ValueError.

    A host address becomes a /32 (/128) network; host bits in a range are rejected.
    """
    text = (text or "").strip()
    if not text:
        raise ValueError("must be set")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ValueError("must be a valid IPv4 or IPv6 address or CIDR range") from None


def anonymise(ip):
    """Zero the host part: IPv4 to its /24, IPv6 to its /48. Returns a string, '' if invalid."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
