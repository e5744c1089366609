"""Raw hits (the source of truth), visitor sessions and visits, the bot/drop log and the
exactly-once ledger of persisted buffer batches."""
from datetime import datetime

from sqlalchemy import (Boolean, ForeignKey, Index, Integer, LargeBinary, SmallInteger, String, Text,
                        text)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId


class VisitorSession(db.Model):
    """One visitor session (8-hour sliding expiry). ``uuid`` is random; nothing in it or in
    this row identifies the visitor. Holds the per-session attributes Umami statistics read."""
    __tablename__ = "visitor_sessions"
    __table_args__ = (Index("ix_visitor_sessions_site_first_seen", "site_id", "first_seen"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uuid: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    browser_id: Mapped[int | None] = mapped_column(ForeignKey("browsers.id"))
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id"))
    umami_browser: Mapped[str | None] = mapped_column(String(20))  # detect-browser identifier
    umami_os: Mapped[str | None] = mapped_column(String(20))
    device: Mapped[str | None] = mapped_column(String(20))
    screen: Mapped[str | None] = mapped_column(String(11))
    language: Mapped[str | None] = mapped_column(String(35))
    location: Mapped[str | None] = mapped_column(String(8))
    hostname: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


# A visit whose session's previous visit is at least this many hours earlier is indexed on its
# own: the sessions crossing a range's start are the visits just after the start whose previous
# visit lies before it, and those further in (rare: sessions expire after 8 idle hours).
LONG_GAP = 10


class Visit(db.Model):
    """A visit as Umami defines it: one session within one UTC clock hour. ``gap_hours``: hours
    since the same session's previous visit, None for its first (kept by app/ingest/visits.py)."""
    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_site_hour", "site_id", "hour"),
        Index("ix_visits_site_long_gap", "site_id", "hour",
              postgresql_where=text(f"gap_hours >= {LONG_GAP}"),
              sqlite_where=text(f"gap_hours >= {LONG_GAP}")),
    )

    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("visitor_sessions.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    pageviews: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    gap_hours: Mapped[int | None] = mapped_column(Integer)


class VisitHour(db.Model):
    """Umami's visit numbers of one site and UTC hour, summed from that hour's ``visits``:
    pageviews, bounces (visits of one pageview), whole seconds of the other visits, and
    sessions starting (visits without a previous one). Recomputed, never added to, whenever a
    persisted batch changes the hour's visits, so a year's summary reads 8,760 rows."""
    __tablename__ = "visit_hours"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"),
                                         primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    pageviews: Mapped[int] = mapped_column(Integer, default=0)
    bounces: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[int] = mapped_column(Integer, default=0)
    sessions: Mapped[int] = mapped_column(Integer, default=0)


class Hit(db.Model):
    """One pageview or event. ``ip`` is stored only as the site's IP mode allows."""
    __tablename__ = "hits"
    __table_args__ = (Index("ix_hits_site_created", "site_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    path_id: Mapped[int] = mapped_column(ForeignKey("paths.id", ondelete="CASCADE"))
    ref_id: Mapped[int | None] = mapped_column(ForeignKey("refs.id"))
    url_id: Mapped[int | None] = mapped_column(ForeignKey("urls.id"))
    referrer_url_id: Mapped[int | None] = mapped_column(ForeignKey("urls.id"))
    # No foreign key: a constraint made every deleted session cost PostgreSQL a scan of all
    # hits (migration 0006). Data retention deletes a session only after its hits.
    session_id: Mapped[int | None] = mapped_column(BigId)
    first_visit: Mapped[bool] = mapped_column(Boolean, default=True)
    browser_id: Mapped[int | None] = mapped_column(ForeignKey("browsers.id"))
    system_id: Mapped[int | None] = mapped_column(ForeignKey("systems.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    event_type: Mapped[str | None] = mapped_column(String(50))
    width: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(8), default="")
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id"))
    language: Mapped[str] = mapped_column(String(3), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime]


class BotHit(db.Model):
    """A hit that was not counted, with why: bot, ignored IP, referrer spam, invalid, DNT.
    Kept 30 days so users can see what was filtered."""
    __tablename__ = "bot_hits"
    __table_args__ = (Index("ix_bot_hits_site_created", "site_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))
    bot: Mapped[int] = mapped_column(SmallInteger, default=0)
    path: Mapped[str] = mapped_column(Text, default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")
    referrer: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class IngestBatch(db.Model):
    """Ledger of persisted buffer batches: a batch id is committed in the same transaction as
    its hits, so a retried batch is recognised and never counted twice."""
    __tablename__ = "ingest_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    num_hits: Mapped[int] = mapped_column(Integer, default=0)
    persisted_at: Mapped[datetime]
