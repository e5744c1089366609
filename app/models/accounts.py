"""Users, API tokens and the small key/value table for one-time installation state."""
import hashlib
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.extensions import db
from app.models.types import Json

ROLES = {"r": "read-only", "s": "settings", "a": "admin", "*": "superuser"}
_ROLE_RANK = {"r": 0, "s": 1, "a": 2, "*": 3}

# GoatCounter's permission bits; 1 means "nothing" and is never sufficient on its own.
PERMISSIONS = {"count": 2, "export": 4, "site-read": 8, "site-create": 16, "site-update": 32,
               "stats": 64}
PERMISSION_LABELS = {"count": "Record pageviews", "export": "Export", "site-read": "Read sites",
                     "site-create": "Create sites", "site-update": "Update sites",
                     "stats": "Read statistics"}
ALL_PERMISSIONS = sum(PERMISSIONS.values())
ALL_SITES = -1


def default_user_settings():
    """A new user's settings (GoatCounter's UserSettings defaults)."""
    return {
        "twenty_four_hours": True,
        "sunday_starts_week": False,
        "language": "en-GB",
        "date_format": "2 Jan ’06",
        "number_format": 8239,
        "timezone": ".UTC",
        "widgets": [],
        "views": [{"name": "default", "filter": "", "group": 0, "period": "week"}],
        "email_reports": 0,
        "fewer_numbers": False,
        "theme": "",
    }


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(1), default="r")
    # Changes whenever the password does, so existing login sessions stop working.
    session_token: Mapped[str] = mapped_column(String(43), default=lambda: secrets.token_urlsafe(32))
    settings: Mapped[dict] = mapped_column(Json, default=default_user_settings)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
    login_at: Mapped[datetime | None]

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user",
                                                    cascade="all, delete-orphan")

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    def has_role(self, role):
        """True when this user's role is ``role`` or stronger (r < s < a < *)."""
        return _ROLE_RANK[self.role] >= _ROLE_RANK[role]

    @property
    def is_admin(self):
        return self.has_role("a")

    @property
    def role_name(self):
        return ROLES[self.role]


class ApiToken(db.Model):
    """An API token. Only the SHA-256 of the secret is stored; ``prefix`` is for display."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    permissions: Mapped[int] = mapped_column(Integer)
    sites: Mapped[list] = mapped_column(Json, default=lambda: [ALL_SITES])
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    @staticmethod
    def hash_secret(secret):
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()

    @property
    def active(self):
        return self.revoked_at is None

    def has_permission(self, *names):
        """True if the token holds any of the named permission bits."""
        return any(self.permissions & PERMISSIONS[name] for name in names)

    @property
    def permission_names(self):
        return [name for name, bit in PERMISSIONS.items() if self.permissions & bit]

    def allows_site(self, site_id):
        return ALL_SITES in self.sites or site_id in self.sites


class AppState(db.Model):
    """Installation-wide facts written once (first-run setup done, bootstrap token issued).

    The primary key makes "only once" race-safe: a second insert of the same key fails.
    """
    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
