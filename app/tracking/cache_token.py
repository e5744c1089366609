"""Umami's collect "cache token": a signed JWT naming the website, sent back by umami.js as
payload.cache. Signed with a key of its own, so it can never pass as a share token."""
import hashlib
import hmac
import time

import jwt
from flask import current_app


def _key():
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"umami-collect-cache",
                    hashlib.sha256).digest()


def make(site_id):
    return jwt.encode({"website_id": site_id, "iat": int(time.time())}, _key(),
                      algorithm="HS256", headers={"typ": None})  # Umami: {"alg":"HS256"} only


def read(token):
    """The website id in a valid cache token, or None (forged, malformed or not ours)."""
    if not isinstance(token, str) or not token or len(token) > 2048:
        return None
    try:
        claims = jwt.decode(token, _key(), algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    site_id = claims.get("website_id")
    return site_id if isinstance(site_id, int) and not isinstance(site_id, bool) else None
