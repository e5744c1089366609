"""Records of long-running work users start: exports (GoatCounter §5.3) and imports, and the
ledger of imported rows that makes re-importing a file harmless."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId


class Export(db.Model):
    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    format: Mapped[str] = mapped_column(String(4), default="csv")
    start_from_hit_id: Mapped[int] = mapped_column(BigId, default=0)
    start_from_day: Mapped[datetime | None]
    last_hit_id: Mapped[int | None] = mapped_column(BigId)
    path: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    num_rows: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[str | None] = mapped_column(String(16))
    hash: Mapped[str | None] = mapped_column(String(80))
    error: Mapped[str | None] = mapped_column(Text)


class Import(db.Model):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    file_hash: Mapped[str] = mapped_column(String(80))  # sha256 of the uploaded bytes
    path: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default="queued")  # queued/running/done/failed
    num_rows: Mapped[int | None] = mapped_column(Integer)
    num_imported: Mapped[int | None] = mapped_column(Integer)
    num_skipped: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ImportedHit(db.Model):
    """One imported CSV row per site, by a digest of its fields and its occurrence in the file:
    a row already in the ledger is skipped, so importing a file again counts nothing twice."""
    __tablename__ = "imported_hits"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"),
                                         primary_key=True)
    row_key: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
