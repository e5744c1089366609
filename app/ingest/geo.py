"""GeoIP: visitor IP → country, region and city from a MaxMind database (City or Country),
and GoatCounter's location-code reduction (spec/goatcounter.md §11.7, spec/umami.md §6.5)."""
import functools
import os
import threading
from dataclasses import dataclass

import geoip2.database
import geoip2.errors
import maxminddb

from app import netaddr

_lock = threading.Lock()
_cache = {}
LOOKUP_CACHE_SIZE = 8192


@dataclass(frozen=True)
class GeoInfo:
    """A lookup result; every field is "" when unknown."""

    country: str = ""  # ISO 3166-1 alpha-2, upper case
    region: str = ""  # the ISO 3166-2 subdivision part: "CA" for US-CA
    city: str = ""
    country_name: str = ""
    region_name: str = ""

    @property
    def code(self):
        """GoatCounter's location code: "CC", "CC-RR" or ""."""
        if not self.country:
            return ""
        return f"{self.country}-{self.region}" if self.region else self.country


EMPTY = GeoInfo()


def packaged_database_path():
    """The GeoLite2-City database shipped in the maxminddb-geolite2 package."""
    import _maxminddb_geolite2

    return os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), "GeoLite2-City.mmdb")


def _public_address(ip):
    """The address to look up, or None for garbage and for addresses GeoIP cannot place:
    private, loopback, link-local, unique-local, unspecified, reserved, multicast — also in
    their IPv4-mapped IPv6 forms."""
    address = netaddr.address(ip) if isinstance(ip, str) else None
    if address is None:
        return None
    if (address.is_private or address.is_loopback or address.is_link_local
            or address.is_unspecified or address.is_reserved or address.is_multicast
            or getattr(address, "is_site_local", False)):
        return None
    return address


def _text(value):
    return value if isinstance(value, str) else ""


class Geo:
    """An open MaxMind database (memory-mapped, safe to share between threads)."""

    def __init__(self, path=None):
        self.path = path or packaged_database_path()
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"GeoIP database not found: {self.path}")
        try:
            # MODE_AUTO: maxminddb's C reader when built (~9x faster than MODE_MMAP's pure
            # Python decoder), else the pure-Python memory map.
            self._reader = geoip2.database.Reader(self.path, mode=geoip2.database.MODE_AUTO)
        except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
            raise ValueError(f"not a MaxMind database: {self.path} ({exc})") from None
        self.database_type = self._reader.metadata().database_type
        self._has_city = "City" in self.database_type
        # A visitor's pageviews arrive from one IP within minutes: most lookups repeat one
        # made moments ago. Results are immutable; the cache is bounded (~1 MB) and per reader.
        self._cached = functools.lru_cache(maxsize=LOOKUP_CACHE_SIZE)(self._lookup)

    def lookup(self, ip):
        """Country, region and city of `ip`; an empty GeoInfo for anything that cannot be
        placed (bad input, private address, not in the database). Never raises."""
        return self._cached(ip) if isinstance(ip, str) else EMPTY

    def _lookup(self, ip):
        address = _public_address(ip)
        if address is None:
            return EMPTY
        try:
            if self._has_city:
                record = self._reader.city(address)
            else:
                record = self._reader.country(address)
        except (geoip2.errors.AddressNotFoundError, ValueError, TypeError,
                maxminddb.InvalidDatabaseError):
            return EMPTY
        return _info(record)

    def close(self):
        self._reader.close()


def _info(record):
    country = _text(record.country.iso_code).upper()
    if not country:
        return EMPTY
    region = region_name = city = ""
    subdivisions = getattr(record, "subdivisions", ())
    if subdivisions:
        first = subdivisions[0]
        region, region_name = _text(first.iso_code).upper(), _text(first.name)
    if getattr(record, "city", None) is not None:
        city = _text(record.city.name)
    return GeoInfo(country=country, region=region, city=city,
                   country_name=_text(record.country.name), region_name=region_name)


def geo_for(path=None):
    """The process-wide Geo for `path` (None: the packaged GeoLite2-City), opened on first use."""
    key = path or None
    geo = _cache.get(key)
    if geo is None:
        with _lock:
            geo = _cache.get(key)
            if geo is None:
                geo = _cache[key] = Geo(key)
    return geo


def location_code(info, collect_region, collect_regions):
    """The location code GoatCounter stores (§11.7): "CC-RR" becomes "CC" when the site does
    not collect regions, or when `collect_regions` is non-empty and lacks the country.
    `info` is a GeoInfo or an already-formed code (the count API's `location`)."""
    code = info.code if isinstance(info, GeoInfo) else (info if isinstance(info, str) else "")
    country, dash, _ = code.partition("-")
    if not dash:
        return code
    if not collect_region or (collect_regions and country not in collect_regions):
        return country
    return code
