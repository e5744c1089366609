"""Umami's collect "cache token": a signed JWT naming the website, sent back by umami.js as
payload.cache. Signed with a key of its own, so it can never pass as a share token.

Made on every /api/collect answer, so it is built by hand (byte for byte what PyJWT makes:
header {"alg":"HS256"}, payload {"website_id":…,"iat":…}) with the key derived once per
secret; PyJWT checks the tokens that come back, and valid ones (they never expire) are
remembered."""
import base64
import functools
import hashlib
import hmac
import json
import time

import jwt
from flask import current_app

_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=")


@functools.lru_cache(maxsize=8)
def _key_for(secret):
    return hmac.new(secret.encode(), b"umami-collect-cache", hashlib.sha256).digest()


def _key():
    return _key_for(current_app.config["SECRET_KEY"])


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def make(site_id):
    """The token for ``site_id`` now; within one second every answer for a site carries the
    same token (its only other claim is ``iat``, in seconds), so it is made once a second."""
    key, now = _key(), int(time.time())
    made = _made.get((key, site_id))
    if made is not None and made[0] == now:
        return made[1]
    claims = json.dumps({"website_id": site_id, "iat": now}, separators=(",", ":"))
    signing_input = _HEADER + b"." + _b64(claims.encode())
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + _b64(signature)).decode("ascii")
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
