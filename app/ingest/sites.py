"""Which site a tracking request belongs to, and its ignore lists, answered from a snapshot of
the active sites that each process reloads every SITE_CACHE_SECONDS (no query per hit)."""
import functools
import ipaddress
import itertools
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select

from app import netaddr
from app.extensions import db
from app.models import IgnoredIp, Site


@dataclass
class SiteInfo:
    id: int
    uuid: str
    code: str
    cname: str
    link_domain: str
    settings: dict
    networks: list = field(default_factory=list)

    def setting(self, key):
        return self.settings.get(key, _default_settings()[key])


@functools.cache
def _default_settings():
    """default_site_settings(), built once (it is constant): read it, never change it."""
    from app.models import default_site_settings
    return default_site_settings()


@dataclass
class Snapshot:
    by_id: dict
    by_cname: dict
    by_uuid: dict
    by_code: dict
    by_domain: dict            # cname and link-domain hosts, for Origin/Referer matching
    global_networks: list
    loaded_at: float
    generation: int = 0        # SiteDirectory's invalidation count when it was loaded

    @property
    def only_site(self):
        return next(iter(self.by_id.values())) if len(self.by_id) == 1 else None


def host_of(value):
    """Lower-case host of a URL or Host header, without port or trailing dot ('' if none)."""
    if not value:
        return ""
    if "//" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


@functools.lru_cache(maxsize=512)
def _host_header_host(value):
    """host_of() of a Host header; there are few distinct ones, so each is parsed once."""
    return host_of(value)


def _link_host(link_domain):
    return host_of(link_domain) if link_domain else ""


class SiteDirectory:
    """Answers from a snapshot reloaded every ``ttl`` seconds. A stale snapshot is reloaded by
    one thread while the others keep answering from it (stale-while-revalidate); only a missing
    or invalidated one makes callers wait. ``ttl`` 0 (TestingConfig) reloads on every call."""

    def __init__(self, ttl=5.0):
        self.ttl = ttl
        self._snapshot = None
        self._generation = 0              # bumped by invalidate()
        self._generations = itertools.count(1)
        self._lock = threading.Lock()     # held by the thread that reloads

    def snapshot(self):
        current = self._snapshot
        if current is not None and current.generation == self._generation:
            if time.monotonic() - current.loaded_at < self.ttl:
                return current
            if self.ttl > 0:
                # Stale: one thread reloads, the others answer from the old snapshot meanwhile.
                if not self._lock.acquire(blocking=False):
                    return current
                try:
                    if self._snapshot is current:  # nobody reloaded it since we looked
                        return self._reload()
                finally:
                    self._lock.release()
                return self.snapshot()
        # None yet, invalidated, or ttl 0: wait for a snapshot loaded after this call began.
        with self._lock:
            current = self._snapshot
            if (current is None or current.generation != self._generation
                    or time.monotonic() - current.loaded_at >= self.ttl):
                current = self._reload()
            return current

    def invalidate(self):
        """The next snapshot() call waits for a snapshot loaded after this one returned (a
        reload already under way when it was called does not count)."""
        self._generation = next(self._generations)
        self._snapshot = None

    def _reload(self):
        generation = self._generation  # read before the queries: an invalidate() during them
        snapshot = self._load()        # leaves the result marked outdated
        snapshot.generation = generation
        self._snapshot = snapshot
        return snapshot

    def _load(self):
        sites = db.session.scalars(select(Site).where(Site.state == "a")).all()
        networks = db.session.execute(select(IgnoredIp.site_id, IgnoredIp.network)).all()
        db.session.rollback()  # end the read transaction; the snapshot holds plain data
        infos = {s.id: SiteInfo(s.id, s.uuid, s.code, s.cname or "", s.link_domain,
                                dict(s.settings)) for s in sites}
        global_networks = []
        for site_id, network in networks:
            parsed = ipaddress.ip_network(network)
            if site_id is None:
                global_networks.append(parsed)
            elif site_id in infos:
                infos[site_id].networks.append(parsed)
        by_domain = {}
        for info in infos.values():
            for host in (_link_host(info.link_domain), info.cname):
                if host:
                    by_domain.setdefault(host, info)
        return Snapshot(by_id=infos, by_cname={i.cname: i for i in infos.values() if i.cname},
                        by_uuid={i.uuid: i for i in infos.values()},
                        by_code={i.code: i for i in infos.values()}, by_domain=by_domain,
                        global_networks=global_networks, loaded_at=time.monotonic())

    # --- resolution rules (DESIGN.md "Which site a tracking request belongs to") ------------

    def by_host(self, host_header):
        return self.snapshot().by_cname.get(_host_header_host(host_header))

    def by_page(self, origin_or_referer):
        """The site whose domain (or link domain) is the page's host; 'www.' matches both ways."""
        host = host_of(origin_or_referer)
        if not host:
            return None
        domains = self.snapshot().by_domain
        alternative = host[4:] if host.startswith("www.") else "www." + host
        return domains.get(host) or domains.get(alternative)

    def by_uuid(self, website_uuid):
        return self.snapshot().by_uuid.get(website_uuid.lower())

    def by_id(self, site_id):
        return self.snapshot().by_id.get(site_id)

    def only_site(self):
        return self.snapshot().only_site

    def is_ignored(self, site, ip):
        """True when ``ip`` is on the site's or the server-wide ignore list (IPs and ranges)."""
        global_networks = self.snapshot().global_networks
        if not site.networks and not global_networks:
            return False  # the usual case: nothing to parse the IP for
        address = netaddr.address(ip)
        if address is None:
            return False
        return any(address in network for network in (*site.networks, *global_networks)
                   if network.version == address.version)
