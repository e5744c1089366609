"""The persister's enrichment steps, in order. Each step fills in an Enriched hit or drops it
with a reason (bot, ignored-ip, dnt, spam, invalid); reasons are counted and the drops kept in
the bot log for the "what was filtered" view."""
from dataclasses import dataclass
from datetime import datetime, timezone

from app.ingest import bots, cloud, language, paths, referrers, useragent
from app.ingest.geo import geo_for, location_code
from app.ingest.hit_in import EVENT
from app.ingest.sessions import session_key
from app.models import Collect
from app.netaddr import anonymise

URL_MAX = 500


class Drop(Exception):
    def __init__(self, reason, bot=0):
        super().__init__(reason)
        self.reason = reason
        self.bot = bot


@dataclass(slots=True)
class Enriched:
    hit: object
    site: object
    created_at: datetime
    path: str = ""
    path_key: str = ""
    event: bool = False
    ref: str = ""
    ref_key: str = ""              # the refs table's bounded key (persist.collect_dimensions)
    ref_scheme: str = "o"
    campaign: str = ""
    url: str = ""
    referrer_url: str = ""
    browser: tuple = None          # (name, version) or None when not collected
    system: tuple = None
    umami_browser: str = None
    umami_os: str = None
    device: str = None
    screen: str = None
    width: int = 0
    location: str = ""
    country_name: str = ""
    region_name: str = ""
    city: str = ""
    language: str = ""
    language_tag: str = None
    ip: str = None
    session_key: str = None


def _site(e, ctx):
    if e.site is None:
        raise Drop("invalid")


def _hot_path_drop(e, ctx):
    if e.hit.drop:
        raise Drop(e.hit.drop)


def _bot(e, ctx):
    hit = e.hit
    code = hit.bot
    if hit.family == "gc-api":
        if hit.user_agent:
            detected = bots.detect(hit.user_agent)
            code = detected if detected >= 2 else code
        if code > 0:
            raise Drop("bot", code)
        return
    if hit.family == "umami":
        # Umami drops exactly what isbot matches (spec §6.6): an empty UA or a bare
        # "Mozilla/5.0" is kept, which GoatCounter's short-UA rule would drop.
        code = bots.KNOWN_BOT if bots.isbot(hit.user_agent) else 0
    elif code < 150:
        code = bots.detect(hit.user_agent)
        if code < 2 and hit.family == "gc":  # /count: then the cloud IP ranges (spec §11.6)
            code = cloud.bot_code(hit.ip) or code
    if code >= 2:
        raise Drop("bot", code)


def _spam(e, ctx):
    if e.hit.referrer and referrers.is_spam(e.hit.referrer):
        raise Drop("spam")


def _path(e, ctx):
    hit = e.hit
    e.event = hit.kind == EVENT
    path = paths.normalise_path(hit.path, e.event)
    if not path:
        raise Drop("invalid")
    e.path, e.path_key = path, paths.path_key(path)
    e.url = (hit.url or "")[:URL_MAX]


def _referrer(e, ctx):
    hit, site = e.hit, e.site
    if not site.setting("collect") & Collect.REFERRER:
        return
    e.referrer_url = hit.referrer[:URL_MAX]
    if hit.family == "gc-api":
        e.ref, e.ref_scheme = referrers.raw_referrer(hit.referrer)
    else:
        e.ref, e.ref_scheme = referrers.clean_referrer(hit.referrer)
    source, name = referrers.campaign(hit.query, e.event)
    if source:
        e.ref, e.ref_scheme = source[:2048], "c"
    elif name:  # a campaign without a source keeps the referrer as sent (spec §11.3)
        e.ref = hit.referrer.strip()[:2048]
    if name:
        e.campaign, e.ref_scheme = name[:255], "c"


def _user_agent(e, ctx):
    hit, collect = e.hit, e.site.setting("collect")
    if hit.screen and collect & Collect.SCREEN_SIZE:
        e.screen = hit.screen[:11]
    if not collect & Collect.USER_AGENT:
        return
    info = useragent.goatcounter(hit.user_agent)
    e.browser = (info.browser_name[:64], info.browser_version[:32])
    e.system = (info.system_name[:64], info.system_version[:32])
    e.umami_browser = useragent.umami_browser(hit.user_agent)
    e.umami_os = useragent.umami_os(hit.user_agent)
    e.device = useragent.umami_device(e.screen, e.umami_os)


def _screen(e, ctx):
    hit = e.hit
    if not e.site.setting("collect") & Collect.SCREEN_SIZE:
        return
    width = hit.width
    if not width and hit.screen:
        first = hit.screen.lower().split("x", 1)[0].strip()
        width = int(first) if first.isdigit() and len(first) < 10 else 0
    e.width = width if 0 < width < 2 ** 31 else 0


def _location(e, ctx):
    hit, site = e.hit, e.site
    collect = site.setting("collect")
    if not collect & Collect.LOCATION:
        return
    regions = bool(collect & Collect.LOCATION_REGION)
    if hit.location:
        code = hit.location.strip().upper()[:8]
        country, _, region = code.partition("-")
        keep = regions and (not site.setting("collect_regions")
                            or country in site.setting("collect_regions"))
        e.location = code if keep else country
        return
    if not hit.ip:
        return
    info = ctx.geo.lookup(hit.ip)
    e.location = location_code(info, regions, site.setting("collect_regions"))
    e.country_name = info.country_name[:100]
    if e.location == info.code:
        e.region_name, e.city = info.region_name[:100], info.city[:100]


def _language(e, ctx):
    if e.site.setting("collect") & Collect.LANGUAGE and e.hit.language:
        # /count and /collect pass the Accept-Language header ("nl-NL,nl;q=0.9"), the APIs a
        # single tag; the header's preferred tag decides, and a lone tag is its own header.
        e.language = language.from_accept_language(e.hit.language)
        e.language_tag = e.hit.language[:35]


def _ip_and_session(e, ctx):
    hit, site = e.hit, e.site
    mode = site.setting("ip_mode")
    if hit.ip and mode == "full":
        e.ip = hit.ip[:45]
    elif hit.ip and mode == "anonymised":
        e.ip = anonymise(hit.ip) or None
    if hit.no_session or not site.setting("collect") & Collect.SESSION:
        return
    if hit.session or hit.user_agent or hit.ip:
        e.session_key = session_key(ctx.secret, site.id, hit.user_agent, hit.ip, hit.session)


STEPS = [
    ("site", _site), ("hot-path", _hot_path_drop), ("bot", _bot), ("spam", _spam),
    ("path", _path), ("referrer", _referrer), ("user-agent", _user_agent), ("screen", _screen),
    ("location", _location), ("language", _language), ("session", _ip_and_session),
]


class Context:
    """What the steps need besides the hit: the session secret and the GeoIP reader."""

    def __init__(self, secret, geoip_path):
        self.secret = secret
        self._geoip_path = geoip_path
        self._geo = None

    @property
    def geo(self):
        if self._geo is None:
            self._geo = geo_for(self._geoip_path)
        return self._geo


def enrich(hit, site, ctx):
    """Run every step; returns an Enriched hit, or raises Drop."""
    created = datetime.fromtimestamp(hit.created_at, timezone.utc).replace(tzinfo=None,
                                                                          microsecond=0)
    e = Enriched(hit=hit, site=site, created_at=created)
    for _name, step in STEPS:
        step(e, ctx)
    return e
