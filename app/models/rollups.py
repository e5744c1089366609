"""Rollups, upserted additively in the persister's transaction. ``visitors`` counts first
visits (GoatCounter's definition); ``pageviews`` counts every non-bot pageview or event.
hit_counts/ref_counts are per UTC hour, the rest per UTC day."""
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


def _site():
    return mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)


def _path():
    return mapped_column(ForeignKey("paths.id", ondelete="CASCADE"), primary_key=True)


def _hour_index(table):
    """A block-range index of an hourly table's hours (PostgreSQL BRIN: kilobytes, as rows
    arrive in time order; a plain index on SQLite): the edge hours of a range with a time
    zone offset are read for all paths at once, which the primary key (site, path, …) cannot
    serve without reading the whole table."""
    return Index(f"ix_{table}_hour", "hour", postgresql_using="brin")


class HitCount(db.Model):
    __tablename__ = "hit_counts"
    __table_args__ = (_hour_index("hit_counts"),)

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)
    pageviews: Mapped[int] = mapped_column(Integer, default=0)


class RefCount(db.Model):
    __tablename__ = "ref_counts"
    __table_args__ = (_hour_index("ref_counts"),)

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    ref_id: Mapped[int] = mapped_column(ForeignKey("refs.id"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)
    pageviews: Mapped[int] = mapped_column(Integer, default=0)


class BrowserStat(db.Model):
    __tablename__ = "browser_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    browser_id: Mapped[int] = mapped_column(ForeignKey("browsers.id"), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class SystemStat(db.Model):
    __tablename__ = "system_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id"), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class LocationStat(db.Model):
    __tablename__ = "location_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    location: Mapped[str] = mapped_column(String(8), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class SizeStat(db.Model):
    __tablename__ = "size_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class LanguageStat(db.Model):
    __tablename__ = "language_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(3), primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class CampaignStat(db.Model):
    __tablename__ = "campaign_stats"

    site_id: Mapped[int] = _site()
    path_id: Mapped[int] = _path()
    day: Mapped[date] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    ref: Mapped[str] = mapped_column(Text, primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class SiteHour(db.Model):
    """Site-wide visitors per UTC hour (all paths): the totals chart of a long range reads 24
    rows a day instead of one per path and hour. ``event_visitors`` counts event paths only;
    ``lone_pageviews`` the pageviews without a session (each one a visit of its own to Umami)."""
    __tablename__ = "site_hours"

    site_id: Mapped[int] = _site()
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)
    pageviews: Mapped[int] = mapped_column(Integer, default=0)
    event_visitors: Mapped[int] = mapped_column(Integer, default=0)
    lone_pageviews: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SiteStat(db.Model):
    """Site-wide visitors per entry of a dimension, per UTC day (span "d") and per UTC month
    (span "m", ``period`` = the month's first day). A long range reads whole months from the
    "m" rows and only its partial months from the "d" rows, so a year costs ~12 rows per entry
    rather than one per path and day. ``kind``: p(ath id), r(ef id), b(rowser id), s(ystem id),
    l(ocation code), z (screen width), g (language), c(ampaign id); ``key`` is that value as
    text. Path-filtered statistics read the per-path tables above instead."""
    __tablename__ = "site_stats"
    # Each period's entries by visitors: the most visited keys of a long range are found from
    # the top of every month's and day's rows instead of summing the long tail (toprefs).
    __table_args__ = (Index("ix_site_stats_top", "site_id", "kind", "span", "period",
                            "visitors"),)

    site_id: Mapped[int] = _site()
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    visitors: Mapped[int] = mapped_column(Integer, default=0)
