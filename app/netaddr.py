"""Client IP addresses and networks: who is asking (after ProxyFix) and IP/CIDR parsing."""
import functools
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


@functools.lru_cache(maxsize=8192)  # a visitor's hits share an IP: each is parsed once
def address(ip):
    """The ip_address of an IP string (an IPv4-mapped IPv6 address as its IPv4 address), or
    None when it is not one. Surrounding whitespace is ignored."""
    try:
        parsed = ipaddress.ip_address(ip.strip())
    except (ValueError, AttributeError):
        return None
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


@functools.lru_cache(maxsize=8192)
def anonymise(ip):
    """Zero the host part: IPv4 to its /24, IPv6 to its /48. Returns a string, '' if invalid."""
    parsed = address(ip) if isinstance(ip, str) else None
    if parsed is None:
        return ""
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False).network_address)
