"""HitIn: the compact record a tracking request becomes. The hot path builds it and pushes it to
the buffer; the persister enriches and stores it. It may hold the visitor's User-Agent and IP,
which live only in the buffer (memory or Redis), never in the database."""
import json
import re
from dataclasses import dataclass, fields

PAGEVIEW = "pageview"
EVENT = "event"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What json.dumps(value, separators=(",", ":"), ensure_ascii=False) does, minus the new encoder.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(slots=True)
class HitIn:
    site_id: int
    path: str                   # page path (pageview) or event name (event), as sent
    kind: str = PAGEVIEW
    family: str = "gc"          # gc (/count), gc-api, umami, basic: decides normalisation rules
    created_at: float = 0.0     # Unix seconds, UTC
    title: str = ""
    referrer: str = ""          # as sent
    query: str = ""             # the page's query string, for campaigns
    url: str = ""               # the page URL exactly as sent (Umami, Basic report it)
    event_type: str = ""        # Umami's event_type
    user_agent: str = ""
    ip: str = ""
    session: str = ""           # a caller-supplied session key (GoatCounter count API)
    no_session: bool = False    # every such hit is its own visit
    width: int = 0              # screen width in CSS pixels, 0 = unknown
    screen: str = ""            # "1920x1080" as sent (Umami, Basic)
    language: str = ""          # a BCP 47 tag
    location: str = ""          # ISO 3166-2 given by the client (count API); else from GeoIP
    hostname: str = ""          # Umami's payload.hostname
    bot: int = 0                # the client's bot hint, or the hot path's verdict
    drop: str = ""              # set when the hot path dropped it: ignored-ip, dnt (counted only)

    def to_wire(self):
        """A compact JSON array in field order (the buffer's storage form). Every field is a
        scalar, so getattr replaces dataclasses.astuple's deep copy (4x faster on the hot path).
        One encoder for all: json.dumps with keyword arguments would build one per call."""
        return _encode([getattr(self, name) for name in _NAMES])

    @classmethod
    def from_wire(cls, data):
        """The record as a HitIn; text no database can store (NUL, which PostgreSQL refuses,
        and lone surrogates) becomes U+FFFD, so one such hit can never block its batch."""
        values = json.loads(data)[:len(_FIELDS)]
        return cls(*(_UNSTORABLE.sub("\ufffd", v) if isinstance(v, str) else v for v in values))

    @property
    def is_event(self):
        return self.kind == EVENT


_FIELDS = fields(HitIn)
_NAMES = tuple(field.name for field in _FIELDS)
