"""Who is asking and for which site, in the GoatCounter API (spec §1.1, §2.3): the token of the
Authorization header, the site the request addresses, and the checks between them."""
from functools import wraps

from flask import g, request

from app.api.goatcounter.decoding import ApiError
from app.auth import authenticate_token, check_permissions, check_site
from app.exceptions import AuthError
from app.ingest import ingest


def addressed_site(token):
    """The active site (an ingest SiteInfo) the request addresses: the one whose cname is the
    Host, else the token's single site, else the only site there is (DESIGN.md). Then the
    checks of spec §2.3 steps 5–6: PermissionDenied (403) when the token may not use this
    site, AuthError (401) when the token's user is not an admin. ApiError 400 when no site
    matches."""
    sites = ingest().sites
    site = sites.by_host(request.host)
    if site is None and len(token.sites) == 1 and token.sites[0] != -1:
        site = sites.by_id(token.sites[0])
    site = site or sites.only_site()
    if site is None:
        raise ApiError(400, f'no site at this domain ("{request.host}")')
    check_site(token, site.id)
    if not token.user.is_admin:
        raise AuthError("not-admin")
    return site


def authorize(*permissions):
    """Authenticate the request in spec §2.3's order — header, token, site, admin, then
    ``permissions`` (any one of them; none: any token) — into ``g.api_token`` and
    ``g.site``. Raises AuthError, PermissionDenied or ApiError for the blueprint to render."""
    token = authenticate_token(request.headers.get("Authorization"))
    site = addressed_site(token)
    check_permissions(token, *permissions)
    g.api_token, g.site = token, site
    return token, site


def token_required(*permissions):
    """View decorator: authorize(*permissions) before the view runs."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            authorize(*permissions)
            return view(*args, **kwargs)
        return wrapped
    return decorator
