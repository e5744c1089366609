"""Umami credentials: revocable login tokens (cookie ``umami.auth`` or ``Authorization:
Bearer``), share tokens (header ``x-umami-token``), realtime tokens, and the website access
rule of spec §4.7. Only a hash of each login token is stored."""
import functools
import hashlib
import hmac
import secrets
from datetime import timedelta

import jwt
from flask import current_app, request
from sqlalchemy import delete, select

from app.api.umami.http import UmamiError
from app.clock import utcnow
from app.extensions import db
from app.models import Site, UmamiLoginToken, User

COOKIE = "umami.auth"
SHARE_HEADER = "x-umami-token"
MAX_ID = 2 ** 31 - 1


def _stamp(user):
    """Changes whenever the user's password does (accounts.set_password renews session_token)."""
    return hashlib.sha256(("umami\0" + user.session_token).encode()).hexdigest()


def lifetime():
    return timedelta(days=current_app.config.get("UMAMI_TOKEN_DAYS", 365))


def issue_login_token(user):
    """A new opaque login token for ``user``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UmamiLoginToken(user_id=user.id, token_hash=UmamiLoginToken.hash(token),
                                   user_stamp=_stamp(user), created_at=now,
                                   expires_at=now + lifetime()))
    db.session.commit()
    return token


def login_for(token):
    """(user, token row) for a live login token, else None (unknown, expired, revoked by
    logout, a password change or the user's removal)."""
    if not token or len(token) > 512:
        return None
    row = db.session.scalar(select(UmamiLoginToken).where(
        UmamiLoginToken.token_hash == UmamiLoginToken.hash(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not hmac.compare_digest(row.user_stamp, _stamp(user)):
        return None
    return user, row


def revoke_login_token(token):
    if token:
        db.session.execute(delete(UmamiLoginToken).where(
            UmamiLoginToken.token_hash == UmamiLoginToken.hash(token)))
        db.session.commit()


def request_token():
    """The login token of this request: the cookie, else an ``Authorization: Bearer`` one."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else ""
    return request.cookies.get(COOKIE) or bearer or None


def current_login():
    """(user, token row) of this request, or None."""
    return login_for(request_token())


def require_user():
    """The logged-in user of this request; UmamiError 401 otherwise."""
    login = current_login()
    if login is None:
        raise UmamiError(401)
    return login[0]


def require_admin():
    user = require_user()
    if not user.is_admin:
        raise UmamiError(401)
    return user


# --- signed tokens: share and realtime ---------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _derived_key(secret, purpose):
    return hmac.new(secret.encode(), b"umami-" + purpose.encode(), hashlib.sha256).digest()


def _sign(purpose, claims):
    key = _derived_key(current_app.config["SECRET_KEY"], purpose)
    return jwt.encode({**claims, "iat": int(utcnow().timestamp())}, key, algorithm="HS256",
                      headers={"typ": None})


def _verify(purpose, token):
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    key = _derived_key(current_app.config["SECRET_KEY"], purpose)
    try:
        return jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None


def share_token(site):
    """A share token for a site with sharing on. It names the share id too, so turning
    sharing off (or renewing the share id) ends every token given out for it."""
    return _sign("share", {"website_id": site.id, "share_id": site.share_id})


def realtime_token(site_ids):
    return _sign("realtime", {"websites": list(site_ids)})


def realtime_sites(token):
    """The website ids in a realtime token, or None when it is not one of ours."""
    claims = _verify("realtime", token)
    websites = claims.get("websites") if claims else None
    if not isinstance(websites, list) or not all(type(i) is int for i in websites):
        return None
    return websites


def active_site(site_id):
    if not 0 < site_id <= MAX_ID:
        return None
    site = db.session.get(Site, site_id)
    return site if site is not None and site.active else None


def can_manage(user, site):
    return user.is_admin or site.owner_id == user.id


def readable_site(site_id, allow_share=True):
    """The site of ``/api/website/{site_id}/…`` if this request may read it (spec §4.7), else
    UmamiError 401 (also for unknown sites). A present share header decides alone."""
    site = active_site(site_id)
    if site is None:
        raise UmamiError(401)
    shared = request.headers.get(SHARE_HEADER, "")
    if allow_share and shared and shared != "undefined":
        claims = _verify("share", shared)
        if (claims and claims.get("website_id") == site.id and site.share_id
                and claims.get("share_id") == site.share_id):
            return site
        raise UmamiError(401)
    login = current_login()
    if login is None or not can_manage(login[0], site):
        raise UmamiError(401)
    return site
