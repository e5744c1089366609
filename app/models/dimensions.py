"""Dimension tables that hits point at: paths and campaigns per site; refs, urls, browsers,
systems, locations and languages shared by all sites. Rows are created by the persister."""
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Path(db.Model):
    """A page path (always starting with '/') or an event name, unique per site
    case-insensitively through ``path_key``; the first-seen spelling is kept in ``path``."""
    __tablename__ = "paths"
    __table_args__ = (UniqueConstraint("site_id", "path_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    path_key: Mapped[str] = mapped_column(Text)  # path.lower()
    title: Mapped[str] = mapped_column(Text, default="")
    event: Mapped[bool] = mapped_column(Boolean, default=False)


class Ref(db.Model):
    """A normalised referrer with its GoatCounter scheme: h(ttp), g(enerated), c(ampaign), o(ther)."""
    __tablename__ = "refs"
    __table_args__ = (UniqueConstraint("ref_key", "ref_scheme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(Text)
    ref_key: Mapped[str] = mapped_column(Text)  # ref.lower()
    ref_scheme: Mapped[str] = mapped_column(String(1))


class Url(db.Model):
    """A page URL or referrer exactly as the client sent it (Umami and Basic report those)."""
    __tablename__ = "urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)


class Browser(db.Model):
    __tablename__ = "browsers"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))


class System(db.Model):
    __tablename__ = "systems"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))


class Location(db.Model):
    """ISO 3166-2 code ('NL', 'US-TX'; '' = unknown) with English names from GeoIP."""
    __tablename__ = "locations"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), default="")
    region: Mapped[str] = mapped_column(String(5), default="")
    country_name: Mapped[str] = mapped_column(String(100), default="")
    region_name: Mapped[str] = mapped_column(String(100), default="")


class City(db.Model):
    """A city name from GeoIP within a location (the Basic API reports it per pageview)."""
    __tablename__ = "cities"
    __table_args__ = (UniqueConstraint("location", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    location: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))


class Language(db.Model):
    """ISO 639-3 code ('eng'; '' = unknown) and its English name."""
    __tablename__ = "languages"

    iso_639_3: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")


class Campaign(db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("site_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255))  # name.lower()
