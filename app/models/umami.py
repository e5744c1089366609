"""Umami login tokens: only a hash of each token is stored, so they can be revoked (logout,
password change, user removal) and expire after a configurable lifetime."""
import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class UmamiLoginToken(db.Model):
    """One token handed out by POST /api/auth/login. ``user_stamp`` is a hash of the user's
    session token at login: a password change replaces that, which ends every login token."""
    __tablename__ = "umami_login_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_stamp: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    @staticmethod
    def hash(text):
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
