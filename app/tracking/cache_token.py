"""Umami's collect "cache token": a signed JWT naming the website, sent back by umami.js as
payload.cache. Signed with a key of its own, so it can never pass as a share token.

Every /api/collect answer carries one, so a site's token is made once a second (its claims
are the site and ``iat`` in seconds) with a key derived once per secret; tokens that come back
and verify (they never expire) are remembered."""
import functools
import hashlib
import hmac
import time

import jwt
from flask import current_app

@functools.lru_cache(maxsize=8)
def _key_for(secret):
    return hmac.new(secret.encode(), b"umami-collect-cache", hashlib.sha256).digest()


def _key():
    return _key_for(current_app.config["SECRET_KEY"])


def make(site_id):
    """The token for ``site_id`` now; within one second every answer for a site carries the
    same token (its only other claim is ``iat``, in seconds), so it is made once a second."""
    key, now = _key(), int(time.time())
    made = _made.get((key, site_id))
    if made is not None and made[0] == now:
        return made[1]
    token = jwt.encode({"website_id": site_id, "iat": now}, key, algorithm="HS256",
                       headers={"typ": None})  # Umami: {"alg":"HS256"} only
    if len(_made) >= _VALID_MAX:
        _made.clear()
    _made[(key, site_id)] = (now, token)
    return token


_made = {}  # (key, site id) -> (iat, token), the latest token made for each site


def read(token):
    """The website id in a valid cache token, or None (forged, malformed or not ours)."""
    if not isinstance(token, str) or not token or len(token) > 2048:
        return None
    key = _key()
    site_id = _valid.get((key, token))
    if site_id is None:
        site_id = _read(token, key)
        if site_id is not None:
            if len(_valid) >= _VALID_MAX:
                _valid.clear()
            _valid[(key, token)] = site_id
    return site_id


# Tokens that passed verification (each visitor's browser sends its own back), bounded.
_valid = {}
_VALID_MAX = 4096


def _read(token, key):
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    site_id = claims.get("website_id")
    return site_id if isinstance(site_id, int) and not isinstance(site_id, bool) else None
