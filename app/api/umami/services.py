"""Umami's websites and accounts mapped onto Ibex sites and users: website = site (owner,
name, cname as domain, share_id), account = user (admin = role a or *). Explicit arguments in,
models out; raises ValidationError or UmamiError with Umami's messages."""
import secrets
import string

from sqlalchemy import func, select

from app import accounts
from app.api.umami.http import UmamiError
from app.clock import utcnow
from app.exceptions import ValidationError
from app.extensions import db
from app.models import Site, User

SHARE_ALPHABET = string.ascii_letters + string.digits
ACCOUNT_EXISTS = "Account already exists"


def websites_of(user_id):
    """The active sites owned by ``user_id``, by name."""
    return db.session.scalars(select(Site).where(Site.owner_id == user_id, Site.state == "a")
                              .order_by(Site.name, Site.id)).all()


def site_by_share_id(share_id):
    if len(share_id) > 64 or "\x00" in share_id:
        return None
    return db.session.scalar(select(Site).where(Site.share_id == share_id, Site.state == "a"))


def _new_share_id():
    while True:
        share_id = "".join(secrets.choice(SHARE_ALPHABET) for _ in range(8))
        if not db.session.scalar(select(Site.id).where(Site.share_id == share_id)):
            return share_id


def _set_sharing(site, enabled):
    site.share_id = (site.share_id or _new_share_id()) if enabled else None


def create_website(owner, name, domain, share):
    """A new site owned by ``owner``. Ibex needs a valid, unused domain (ValidationError)."""
    if not name:
        raise ValidationError.single("name", "must be set")
    site = accounts.create_site(domain or "", name=name, owner=owner)
    _set_sharing(site, share)
    db.session.commit()
    return site


def update_website(site, name, domain, share):
    """Set the name and domain given (others stay) and turn sharing on or off."""
    accounts.update_site(site, domain=domain, name=name)
    _set_sharing(site, share)
    db.session.commit()


def all_users():
    return db.session.scalars(select(User).order_by(User.id)).all()


def role_for(is_admin):
    """Umami admins are Ibex admins; other Umami accounts manage their own websites."""
    return "a" if is_admin else "s"


def create_account(username, password):
    """A new non-admin account; Umami's message when the name is taken."""
    try:
        return accounts.create_user(username, password, role=role_for(False))
    except ValidationError as exc:
        if exc.errors.get("username") == ["already exists"]:
            raise UmamiError(400, ACCOUNT_EXISTS) from None
        raise


def update_account(user, caller_is_admin, username=None, password=None, is_admin=None):
    """Umami's account update: a non-empty ``password`` is set (ending the user's logins);
    an admin caller may also set ``is_admin`` and ``username`` (never renaming to "admin")."""
    if caller_is_admin and username and username != "admin" and username != user.username:
        taken = db.session.scalar(select(User.id).where(
            func.lower(User.username) == username.lower(), User.id != user.id))
        if taken:
            raise UmamiError(400, ACCOUNT_EXISTS)
        if not accounts.USERNAME_RE.match(username):
            raise ValidationError.single("username", "invalid")
        user.username = username
    if caller_is_admin and is_admin is not None and is_admin != user.is_admin:
        accounts.update_user(user, role="a" if is_admin else "s")
    if password:
        accounts.set_password(user, password)
    user.updated_at = utcnow()
    db.session.commit()
    return user
