"""Authentication: password hashing, the Flask-Login user loader, and the one API-token helper
every API family uses (Bearer, or HTTP Basic with the token as password)."""
import base64
import binascii
import hmac
from datetime import timedelta
from functools import wraps

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g, request
from sqlalchemy import func, select

from app.clock import utcnow
from app.exceptions import AuthError, PermissionDenied
from app.extensions import db, login_manager
from app.models import PERMISSIONS, ApiToken, User

# argon2id with the library's strong defaults; the test suite selects the cheapest profile of
# the same algorithm (each hash records its parameters, so verification is unaffected).
_HASHERS = {"strong": PasswordHasher(), "fast": PasswordHasher.from_parameters(profiles.CHEAPEST)}
# Writing last_used_at on every request would turn reads into writes; this is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def _hasher():
    return _HASHERS[current_app.config.get("PASSWORD_HASHING", "strong")]


def hash_password(password):
    return _hasher().hash(password)


def verify_password(password_hash, password):
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_PASSWORD = "ibex timing equaliser"


def _dummy_hash():
    profile = current_app.config.get("PASSWORD_HASHING", "strong")
    if profile not in _DUMMY_HASHES:
        _DUMMY_HASHES[profile] = _HASHERS[profile].hash(_DUMMY_PASSWORD)
    return _DUMMY_HASHES[profile]


_DUMMY_HASHES = {}


def check_credentials(username, password):
    """The user with this username (case-insensitive) and password, or None. An unknown
    username costs the same hashing work, so timing does not reveal which usernames exist."""
    user = db.session.scalar(select(User).where(
        func.lower(User.username) == (username or "").strip().lower()))
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


@login_manager.user_loader
def load_user(user_id):
    """Session ids are "<id>:<session_token>", so a password change ends old sessions."""
    ident, _, token = (user_id or "").partition(":")
    if not ident.isdigit() or not token:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not hmac.compare_digest(user.session_token, token):
        return None
    return user


def token_from_header(value):
    """The token secret in an Authorization header value; raises AuthError (spec §2.3)."""
    if value is None:
        raise AuthError("missing")
    fields = value.split()
    if len(fields) != 2:
        raise AuthError("format")
    scheme, credentials = fields
    if scheme == "Bearer":
        return credentials
    if scheme == "Basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("format") from None
        return decoded.partition(":")[2]
    raise AuthError("format")


def find_token(secret):
    """The active token with this secret, or None. Records the use (at 5-minute resolution)."""
    if not secret:
        return None
    token = db.session.scalar(select(ApiToken).where(
        ApiToken.secret_hash == ApiToken.hash_secret(secret), ApiToken.revoked_at.is_(None)))
    if token is not None:
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            token.last_used_at = now
            db.session.commit()
    return token


def authenticate_token(header_value):
    """The active ApiToken named by an Authorization header value, or AuthError."""
    token = find_token(token_from_header(header_value))
    if token is None:
        raise AuthError("unknown")
    return token


def check_permissions(token, *names):
    """PermissionDenied unless the token holds one of the named bits (GoatCounter's text)."""
    if names and not token.has_permission(*names):
        wanted = ", ".join(f"'{name}'" for name in PERMISSIONS if name in names)
        raise PermissionDenied(f"requires {wanted} permissions")


def check_site(token, site_id):
    if not token.allows_site(site_id):
        raise PermissionDenied("this token does not have access to this site")


def token_required(*permissions):
    """View decorator: authenticate the request's API token into ``g.api_token`` and check
    that it holds one of ``permissions``. Raises AuthError/PermissionDenied, which each API
    family's blueprint renders in its own error shape."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = authenticate_token(request.headers.get("Authorization"))
            check_permissions(token, *permissions)
            g.api_token = token
            return view(*args, **kwargs)
        return wrapped
    return decorator
