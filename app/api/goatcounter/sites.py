"""GoatCounter API views (thin) for the token's user and the sites (spec §5.1, §5.13):
GET /api/v0/me, GET/PUT /api/v0/sites, GET/POST/PATCH /api/v0/sites/{id}."""
from flask import g, request
from marshmallow import ValidationError as SchemaError

from app import site_settings
from app.api.goatcounter import schemas
from app.api.goatcounter.context import token_required
from app.api.goatcounter.decoding import ApiError, json_args
from app.exceptions import ValidationError
from app.extensions import db
from app.models import Site

# GoatCounter's UserSettings defaults (spec §5.1), under what Ibex stores for a user.
DEFAULT_WIDGETS = [
    {"n": "pages", "s": {"limit_pages": 10, "limit_refs": 10, "style": "line"}},
    {"n": "totalpages", "s": {"align": False, "no-events": False, "style": "line"}},
    {"n": "toprefs", "s": {"key": None, "limit": 6}},
    {"n": "campaigns", "s": {"key": None, "limit": 6}},
    {"n": "browsers", "s": {"key": None, "limit": 6}},
    {"n": "systems", "s": {"key": None, "limit": 6}},
    {"n": "locations", "s": {"key": "", "limit": 6}},
    {"n": "languages", "s": {"limit": 6}},
    {"n": "sizes", "s": {"key": None, "sort-count": False}},
]
USER_DEFAULTS = {
    "twenty_four_hours": False, "sunday_starts_week": False, "language": "en-GB",
    "date_format": "2 Jan ’06", "number_format": 8239, "timezone": ".UTC", "widgets": [],
    "views": [{"name": "default", "filter": "", "group": 0, "period": "week"}],
    "email_reports": 0, "fewer_numbers": False, "fewer_numbers_lock_until": None, "theme": "",
    "datepicker": False,
}


def user_settings(stored):
    settings = {**USER_DEFAULTS, **(stored or {})}
    settings["widgets"] = settings["widgets"] or DEFAULT_WIDGETS
    return settings


def _site_object(site):
    return {"id": site.id, "parent": site.parent_id, "cname": site.cname,
            "cname_setup_at": site.cname_setup_at, "code": site.code,
            "link_domain": site.link_domain, "settings": site_settings.goatcounter_settings(site),
            "user_defaults": user_settings(site.user_defaults), "received_data": site.received_data,
            "state": site.state, "created_at": site.created_at, "updated_at": site.updated_at,
            "first_hit_at": site.first_hit_at}


def _dump(schema, obj):
    return schemas.respond(schema, obj)


def _addressed():
    return db.session.get(Site, g.site.id)


def _site_in_family(site_id):
    """The {id} of the path: a 32-bit number naming the addressed site or one of its children."""
    try:
        number = schemas.Int32().deserialize(site_id)
    except SchemaError:
        raise ValidationError.single("id", "must be a whole number") from None
    site = site_settings.in_family(_addressed(), number)
    if site is None:
        raise ApiError(404, "not found")
    return site


@token_required()
def me():
    """The token's user and the token.
    ---
    get:
      summary: Information about the token's user and the token
      security: [{token: []}]
      responses:
        200: {description: the user and the token, schema: MeSchema}
        401: {description: no or an unknown token, schema: ErrorSchema}
    """
    user, token = g.api_token.user, g.api_token
    return _dump(schemas.MeSchema, {
        "user": {"id": user.id, "site": _addressed().parent_id or g.site.id, "email": user.email or "",
                 "email_verified": False, "totp_enabled": False, "access": {"all": user.role},
                 "login_at": user.login_at, "open_at": None, "reset_at": None,
                 "settings": user_settings(user.settings), "last_report_at": user.created_at,
                 "created_at": user.created_at, "updated_at": user.updated_at},
        "token": {"name": token.name, "permissions": token.permissions, "sites": token.sites}})


@token_required("site-read")
def list_sites():
    """The addressed site and its child sites.
    ---
    get:
      summary: List the addressed site and its child sites (ordered by code)
      security: [{token: []}]
      responses:
        200: {description: the sites, schema: SitesSchema}
        403: {description: the token lacks site-read, schema: ErrorSchema}
    """
    family = site_settings.family(_addressed())
    return _dump(schemas.SitesSchema, {"sites": [_site_object(site) for site in family]})


@token_required("site-create")
def create_site():
    """Create a child site of the addressed site.
    ---
    put:
      summary: Create a site (self-hosted rules, cname required and unique)
      security: [{token: []}]
      parameters:
        - {in: body, name: body, required: true, schema: SiteSchema}
      responses:
        200: {description: the new site, schema: SiteSchema}
        400: {description: validation errors, schema: ValidationErrorSchema}
        403: {description: the token lacks site-create, schema: ErrorSchema}
    """
    sent = json_args(schemas.SiteSchema)
    site = site_settings.create_child(_addressed(), g.api_token.user, cname=sent.get("cname"),
                                      link_domain=sent.get("link_domain"),
                                      settings=sent.get("settings"))
    return _dump(schemas.SiteSchema, _site_object(site))


@token_required("site-read")
def get_site(site_id):
    """One site.
    ---
    get:
      summary: Get the addressed site or one of its children
      security: [{token: []}]
      parameters:
        - {in: path, name: id, type: integer, required: true}
      responses:
        200: {description: the site, schema: SiteSchema}
        404: {description: no such site here, schema: ErrorSchema}
    """
    return _dump(schemas.SiteSchema, _site_object(_site_in_family(site_id)))


@token_required("site-update")
def update_site(site_id):
    """Change a site's cname, link_domain and settings.
    ---
    post:
      summary: Replace a site's cname, link_domain and settings (what is not sent is reset)
      security: [{token: []}]
      parameters:
        - {in: path, name: id, type: integer, required: true}
        - {in: body, name: body, required: true, schema: SiteUpdateSchema}
      responses:
        200: {description: the updated site, schema: SiteSchema}
        400: {description: validation errors, schema: ValidationErrorSchema}
    patch:
      summary: Merge into a site's cname, link_domain and settings (collect is OR-merged)
      security: [{token: []}]
      parameters:
        - {in: path, name: id, type: integer, required: true}
        - {in: body, name: body, required: true, schema: SiteUpdateSchema}
      responses:
        200: {description: the updated site, schema: SiteSchema}
        400: {description: validation errors, schema: ValidationErrorSchema}
    """
    site = _site_in_family(site_id)
    sent = json_args(schemas.SiteUpdateSchema)
    site = site_settings.save(site, sent=sent, merge=request.method == "PATCH")
    return _dump(schemas.SiteSchema, _site_object(site))


def register(bp):
    bp.add_url_rule("/me", "me", me, methods=["GET"])
    bp.add_url_rule("/sites", "sites", list_sites, methods=["GET"])
    bp.add_url_rule("/sites", "create_site", create_site, methods=["PUT"])
    bp.add_url_rule("/sites/<site_id>", "site", get_site, methods=["GET"])
    bp.add_url_rule("/sites/<site_id>", "update_site", update_site, methods=["POST", "PATCH"])
