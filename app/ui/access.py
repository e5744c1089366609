"""UI access rules: role-gated views and the security headers every UI page carries."""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

# No inline scripts or styles anywhere in the UI, so the policy can be strict.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'")


def role_required(role):
    """Logged in, with ``role`` or stronger (r < s < a < *); 403 otherwise."""
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.has_role(role):
                abort(403, "Your role does not allow this page.")
            return view(*args, **kwargs)
        return wrapped
    return decorator


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response
