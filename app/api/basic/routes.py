"""Basic API views (thin): sites, the server-wide IP ignore list, API tokens and raw pageview
statistics. Each view authenticates, validates with a schema, calls a service and dumps."""
from functools import wraps

from flask import g, jsonify, request

from app import accounts
from app.api.basic import paging
from app.api.basic.schemas import (BadRequest, IgnoreIn, PageviewOut, PathCountOut, SiteIn,
                                   SiteListed, SiteOut, StatsArgs, TokenCreated, TokenListed,
                                   TokenPath, load)
from app.auth import authenticate_token, check_permissions, check_site
from app.clock import utcnow
from app.exceptions import AlreadyDone, AuthError, PermissionDenied, SiteNotFound, ValidationError
from app.models import ALL_PERMISSIONS, ALL_SITES
from app.stats import hits
from app.tracking.payloads import loads_json

TOKEN_NAME = "Basic API"


def _authenticate(*permissions, full=False):
    """The request's active token, whose owner must be an admin; AuthError/PermissionDenied."""
    token = authenticate_token(request.headers.get("Authorization"))
    if not token.user.is_admin:
        raise AuthError("not-admin")
    if full and (token.permissions != ALL_PERMISSIONS or ALL_SITES not in token.sites):
        raise PermissionDenied("requires a token with all permissions for all sites")
    check_permissions(token, *permissions)
    return token


def requires(*permissions, full=False):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            g.api_token = _authenticate(*permissions, full=full)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _json_body():
    """The request body as a JSON object ({} when empty), whatever its Content-Type."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    try:
        body = loads_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("invalid json") from None
    if not isinstance(body, dict):
        raise BadRequest("invalid json")
    return body


# --- sites -------------------------------------------------------------------------------------

@requires("site-create")
def create_site():
    """Register a site (or return the existing one).
    ---
    post:
      summary: Register a site; an existing domain returns that site
      requestBody: {content: {application/json: {schema: SiteIn}}}
      responses:
        200: {description: the site, content: {application/json: {schema: SiteOut}}}
        400: {description: missing or invalid domain, content: {application/json: {schema: Error}}}
    """
    domain = load(SiteIn(), _json_body())["domain"]
    site, _created = accounts.find_or_create_site(domain, owner=g.api_token.user)
    check_site(g.api_token, site.id)
    return jsonify(SiteOut().dump(site))


@requires("site-read")
def list_sites():
    """Registered sites.
    ---
    get:
      summary: The active sites this token may read
      responses:
        200: {description: sites, content: {application/json: {schema: {type: array, items: SiteListed}}}}
    """
    sites = [site for site in accounts.active_sites() if g.api_token.allows_site(site.id)]
    return jsonify(SiteListed(many=True).dump(sites))


@requires("site-update")
def delete_site(domain):
    """Stop tracking a site (idempotent).
    ---
    delete:
      summary: Delete a site; its data is kept hidden until purged, as in the UI
      parameters: [{name: domain, in: path, required: true, schema: {type: string}}]
      responses:
        204: {description: deleted (or was not registered)}
    """
    try:
        site = accounts.find_site_by_domain(accounts.normalise_domain(domain))
    except ValidationError:
        site = None
    if site is not None:
        check_site(g.api_token, site.id)
        accounts.delete_site(site)
    return "", 204


# --- ignore list -------------------------------------------------------------------------------

@requires("site-update")
def add_ignored_ip():
    """Add an IP address or CIDR range to the server-wide ignore list.
    ---
    post:
      summary: Ignore pageviews from an IP or range, for every site
      requestBody: {content: {application/json: {schema: IgnoreIn}}}
      responses:
        201: {description: added (or already listed)}
        400: {description: missing or invalid ip, content: {application/json: {schema: Error}}}
    """
    accounts.add_global_ignored_ip(load(IgnoreIn(), _json_body())["ip"])
    return jsonify({}), 201


@requires("site-read")
def list_ignored_ips():
    """The server-wide ignore list.
    ---
    get:
      summary: Ignored IPs and ranges (a single address without /32 or /128)
      responses:
        200:
          description: entries
          content:
            application/json: {schema: {type: array, items: {type: string}}}
    """
    return jsonify([entry.display for entry in accounts.global_ignored_ips()])


@requires("site-update")
def remove_ignored_ip(ip):
    """Take an IP or range off the ignore list (idempotent).
    ---
    delete:
      summary: Stop ignoring an IP or range
      parameters: [{name: ip, in: path, required: true, schema: {type: string}}]
      responses:
        204: {description: removed (or was not listed)}
    """
    accounts.remove_global_ignored_ip(ip)
    return "", 204


# --- tokens ------------------------------------------------------------------------------------

def generate_token():
    """Create an API token with all permissions.
    ---
    post:
      summary: Create a token; without credentials only while no active token exists (once)
      security: [{}, {bearer: []}]
      responses:
        200: {description: the secret (shown only now), content: {application/json: {schema: TokenCreated}}}
        401: {description: unauthorized, content: {application/json: {schema: Error}}}
        409: {description: no admin user exists yet, content: {application/json: {schema: Error}}}
    """
    try:
        owner = _authenticate(full=True).user
    except AuthError:
        try:
            token, secret = accounts.create_bootstrap_token(TOKEN_NAME)
        except AlreadyDone:
            raise AuthError("unknown") from None
        except ValidationError:
            return jsonify(error="no admin user yet: finish the first-run setup"), 409
    else:
        token, secret = accounts.create_token(owner, TOKEN_NAME)
    return jsonify(TokenCreated().dump({"token": secret, "id": token.id}))


@requires(full=True)
def list_tokens():
    """The active tokens of this token's user, never their secrets.
    ---
    get:
      summary: Active API tokens
      responses:
        200: {description: tokens, content: {application/json: {schema: {type: array, items: TokenListed}}}}
    """
    return jsonify(TokenListed(many=True).dump(accounts.active_tokens(g.api_token.user)))


@requires(full=True)
def revoke_token(token_id):
    """Revoke a token (also the one making the request).
    ---
    delete:
      summary: Revoke an API token
      parameters: [{name: token_id, in: path, required: true, schema: {type: integer}}]
      responses:
        204: {description: revoked}
        400: {description: id is not an integer, content: {application/json: {schema: Error}}}
        404: {description: no such token, content: {application/json: {schema: Error}}}
    """
    ident = load(TokenPath(), {"id": token_id})["id"]
    token = accounts.active_token(g.api_token.user, ident)
    if token is None:
        return jsonify(error="token not found"), 404
    accounts.revoke_token(token)
    return "", 204


# --- statistics --------------------------------------------------------------------------------

def _site_ids(token, domain):
    if domain:
        try:
            site = accounts.find_site_by_domain(accounts.normalise_domain(domain))
        except ValidationError:  # no host name can be a registered site
            site = None
        if site is None or not token.allows_site(site.id):
            raise SiteNotFound(domain)
        return [site.id]
    return [site.id for site in accounts.active_sites() if token.allows_site(site.id)]


@requires("stats")
def stats():
    """Pageviews counted per site, IP and path, or one row per pageview.
    ---
    get:
      summary: Raw pageview statistics (aggregate, or verbose=true)
      parameters: [{in: query, schema: StatsArgs}]
      responses:
        200:
          description: >-
            Rows: PathCountOut, or PageviewOut when verbose. With limit, a Link header
            (rel=next) names the next page when there is one.
          content:
            application/json:
              schema: {type: array, items: {oneOf: [PathCountOut, PageviewOut]}}
        400:
          description: invalid date, last, verbose, limit or cursor
          content: {application/json: {schema: Error}}
        404: {description: site not found, content: {application/json: {schema: Error}}}
    """
    args = load(StatsArgs(), request.args)
    site_ids = _site_ids(g.api_token, args.get("site"))
    win, position = _window(args)
    limit = args.get("limit")
    fetch = None if limit is None else limit + 1  # one more: is there a next page?
    if args["verbose"]:
        rows = hits.pageviews(site_ids, win, before=position, limit=fetch)
        return paging.respond(rows, PageviewOut(many=True).dump, limit, win,
                              lambda row, count: row.key)
    offset = position or 0
    rows = hits.path_counts(site_ids, win, offset=offset, limit=fetch)
    return paging.respond(rows, PathCountOut(many=True).dump, limit, win,
                          lambda row, count: offset + count)


def _window(args):
    """(Window, where to continue) from a cursor, or the window the parameters name."""
    if args.get("cursor"):
        return paging.decode_cursor(args["cursor"], args["verbose"])
    last = hits.parse_last(args["last"]) if "last" in args else None
    return hits.window(utcnow(), args.get("from_"), args.get("to"), last), None


def register(bp):
    bp.add_url_rule("/sites", "create_site", create_site, methods=["POST"])
    bp.add_url_rule("/sites", "list_sites", list_sites, methods=["GET"])
    bp.add_url_rule("/sites/<domain>", "delete_site", delete_site, methods=["DELETE"])
    bp.add_url_rule("/ignore", "add_ignored_ip", add_ignored_ip, methods=["POST"])
    bp.add_url_rule("/ignore", "list_ignored_ips", list_ignored_ips, methods=["GET"])
    bp.add_url_rule("/ignore/<path:ip>", "remove_ignored_ip", remove_ignored_ip,
                    methods=["DELETE"])
    bp.add_url_rule("/tokens/generate", "generate_token", generate_token, methods=["POST"])
    bp.add_url_rule("/tokens", "list_tokens", list_tokens, methods=["GET"])
    bp.add_url_rule("/tokens/<token_id>", "revoke_token", revoke_token, methods=["DELETE"])
    bp.add_url_rule("/stats", "stats", stats, methods=["GET"])
