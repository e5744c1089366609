"""Sites, their settings (GoatCounter collect flags, IP mode, visibility) and ignored IPs."""
import enum
import secrets
import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import db
from app.models.types import Json


class Collect(enum.IntFlag):
    """GoatCounter's SiteSettings.collect bits (spec §5.14)."""
    NOTHING = 1
    REFERRER = 2
    USER_AGENT = 4
    SCREEN_SIZE = 8
    LOCATION = 16
    LOCATION_REGION = 32
    LANGUAGE = 64
    SESSION = 128
    HITS = 256


COLLECT_DEFAULT = int(Collect.REFERRER | Collect.USER_AGENT | Collect.SCREEN_SIZE
                      | Collect.LOCATION | Collect.LOCATION_REGION | Collect.SESSION)
COLLECT_LABELS = {
    Collect.REFERRER: "Referrer and campaign parameters",
    Collect.USER_AGENT: "Browser and system (from the User-Agent; the header itself is never stored)",
    Collect.SCREEN_SIZE: "Screen size",
    Collect.LOCATION: "Country",
    Collect.LOCATION_REGION: "Region (implies country)",
    Collect.LANGUAGE: "Language (Accept-Language)",
    Collect.SESSION: "Sessions (unique visits); when off every pageview counts as a visit",
    Collect.HITS: "Individual pageviews for CSV export (Ibex always keeps them for its own statistics)",
}
IP_MODES = {
    "anonymised": "Anonymised: IPv4 /24, IPv6 /48 (default)",
    "full": "Full address",
    "none": "Not stored",
}
VISIBILITY = {"private": "Private: only logged-in users",
              "secret": "Secret link: anyone with the link's token",
              "public": "Public: anyone"}


def default_site_settings():
    """A new site's settings. Keys follow GoatCounter's SiteSettings plus Ibex's own."""
    return {
        "public": "private",
        "secret": "",
        "allow_counter": False,
        "allow_bosmang": False,
        "data_retention": 0,
        "collect": COLLECT_DEFAULT,
        "collect_regions": ["US", "RU", "CN"],
        "allow_embed": [],
        "ip_mode": "anonymised",
        "dnt": False,
    }


def _new_code():
    return "serve-" + secrets.token_hex(5)


class Site(db.Model):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    code: Mapped[str] = mapped_column(String(50), unique=True, default=_new_code)
    # The domain the site is served as / counts for; lower-case, unique while set.
    cname: Mapped[str | None] = mapped_column(String(255), unique=True)
    cname_setup_at: Mapped[datetime | None]
    link_domain: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    share_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    settings: Mapped[dict] = mapped_column(Json, default=default_site_settings)
    user_defaults: Mapped[dict] = mapped_column(Json, default=dict)
    received_data: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(1), default="a")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    first_hit_at: Mapped[datetime] = mapped_column(default=utcnow)

    ignored_ips: Mapped[list["IgnoredIp"]] = relationship(
        back_populates="site", cascade="all, delete-orphan", order_by="IgnoredIp.network")

    @property
    def display_name(self):
        return self.name or self.cname or self.code

    @property
    def active(self):
        return self.state == "a"

    def setting(self, key):
        """One setting, falling back to the default for keys added after the site was made."""
        return self.settings.get(key, default_site_settings()[key])

    def collects(self, flag):
        return bool(self.setting("collect") & flag)


class IgnoredIp(db.Model):
    """An IP address or CIDR range whose hits are dropped: for one site, or all (site_id NULL)."""
    __tablename__ = "ignored_ips"
    __table_args__ = (UniqueConstraint("site_id", "network"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    network: Mapped[str] = mapped_column(String(49))  # canonical form, e.g. 10.0.0.0/8, ::1/128
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    site: Mapped[Site | None] = relationship(back_populates="ignored_ips")

    @property
    def display(self):
        """A single address without its /32 or /128, a range as written."""
        address, _, prefix = self.network.partition("/")
        host_prefix = "128" if ":" in address else "32"
        return address if prefix == host_prefix else self.network


__all__ = ["Collect", "COLLECT_DEFAULT", "COLLECT_LABELS", "IP_MODES", "VISIBILITY", "Site",
           "IgnoredIp", "default_site_settings"]
