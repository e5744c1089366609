"""Umami account and realtime views (thin): admin account endpoints (spec §9, never a password
hash) and the realtime view (§11). Login is checked before the method, as upstream does."""
from flask import jsonify, request

from app import accounts
from app.api.umami import auth, schemas, services
from app.api.umami.http import UmamiError, body
from app.api.umami.views import ANY, load, method, ms, ok, query_args, valid
from app.auth import verify_password
from app.clock import utcnow
from app.extensions import db
from app.models import User
from app.stats import umami as stats

REALTIME_WINDOW_MS = 30 * 60 * 1000


def realtime_init():
    """The caller's websites, a realtime token and the last 30 minutes of data.
    ---
    get:
      summary: Start the realtime view
      responses:
        200: {content: {application/json: {schema: RealtimeInitSchema}}}
        401: {description: not logged in}
    """
    user = auth.require_user()
    method("GET")
    sites = services.websites_of(user.id)
    now = utcnow()
    since = schemas.from_ms(ms(now) - REALTIME_WINDOW_MS)
    return ok(schemas.RealtimeInitSchema(), {
        "websites": sites, "token": auth.realtime_token([site.id for site in sites]),
        "data": _realtime_data([site.id for site in sites], since, now)})


def realtime_update():
    """Rows created since ``start_at`` for the websites of the realtime token.
    ---
    get:
      summary: Poll the realtime view (header x-umami-token from init)
      parameters: [{in: query, schema: RealtimeArgs}]
      responses:
        200: {content: {application/json: {schema: RealtimeDataSchema}}}
        400: {description: missing or invalid token}
        401: {description: not logged in}
    """
    user = auth.require_user()
    method("GET")
    site_ids = auth.realtime_sites(request.headers.get(auth.SHARE_HEADER))
    if site_ids is None:
        raise UmamiError(400)
    allowed = [i for i in site_ids if (s := auth.active_site(i)) and auth.can_manage(user, s)]
    now = utcnow()
    since = query_args(schemas.RealtimeArgs())["start_at"] or schemas.from_ms(
        ms(now) - REALTIME_WINDOW_MS)
    return ok(schemas.RealtimeDataSchema(), _realtime_data(allowed, since, now))


def _realtime_data(site_ids, since, now):
    return {**stats.realtime(site_ids, since), "timestamp": ms(now)}


# --- accounts ---------------------------------------------------------------------------------

def list_accounts():
    """Every account (admins only); never a password hash.
    ---
    get:
      summary: List accounts
      responses:
        200: {content: {application/json: {schema: {type: array, items: AccountSchema}}}}
        401: {description: not an admin}
    """
    auth.require_admin()
    method("GET")
    return ok(schemas.AccountSchema(), services.all_users(), many=True)


def save_account():
    """Create an account (admins only) or update one (itself or an admin).
    ---
    post:
      summary: Create or update an account
      requestBody: {content: {application/json: {schema: AccountBody}}}
      responses:
        200: {content: {application/json: {schema: AccountSchema}}}
        400: {description: invalid input or "Account already exists"}
        401: {description: not allowed}
    """
    user = auth.require_user()
    method("POST")
    data = load(schemas.AccountBody(), body())
    if data["user_id"] is None:
        if not user.is_admin:
            raise UmamiError(401)
        return ok(schemas.AccountSchema(), valid(services.create_account, data["username"],
                                                   data["password"]))
    target = _account_for(user, data["user_id"])
    return ok(schemas.AccountSchema(), valid(
        services.update_account, target, user.is_admin, data["username"], data["password"],
        data["is_admin"]))


def _account_for(caller, user_id):
    if user_id != caller.id and not caller.is_admin:
        raise UmamiError(401)
    target = db.session.get(User, user_id)
    if target is None:
        raise UmamiError(400)
    return target


def account(user_id):
    """One account, or delete it (admins only).
    ---
    get:
      summary: An account
      parameters: [{in: path, name: user_id, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: AccountSchema}}}
        401: {description: not an admin}
        404: {description: no such account}
    delete:
      summary: Delete an account (its login tokens end; its websites stay)
      parameters: [{in: path, name: user_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: "{}"}
        401: {description: not an admin}
    """
    auth.require_admin()
    method("GET", "DELETE")
    target = db.session.get(User, user_id)
    if target is None:
        raise UmamiError(404)
    if request.method == "DELETE":
        valid(accounts.delete_user, target)
        return jsonify({})
    return ok(schemas.AccountSchema(), target)


def change_password():
    """Change a password; the current one is always checked.
    ---
    post:
      summary: Change a password (ends the account's login tokens)
      requestBody: {content: {application/json: {schema: PasswordBody}}}
      responses:
        200: {content: {application/json: {schema: AccountSchema}}}
        400: {description: 'Current password is incorrect, or invalid input'}
        401: {description: not allowed}
    """
    user = auth.require_user()
    raw = body()
    user_id = raw.get("user_id") if isinstance(raw, dict) else None
    if not user.is_admin and not (type(user_id) is int and user_id == user.id):
        raise UmamiError(401)
    method("POST")
    data = load(schemas.PasswordBody(), raw)
    target = _account_for(user, data["user_id"])
    if not verify_password(target.password_hash, data["current_password"]):
        raise UmamiError(400, "Current password is incorrect")
    valid(accounts.set_password, target, data["new_password"])
    return ok(schemas.AccountSchema(), target)


RULES = [
    ("/realtime/init", realtime_init, ANY), ("/realtime/update", realtime_update, ANY),
    ("/accounts", list_accounts, ANY), ("/account", save_account, ANY),
    ("/account/password", change_password, ANY),
    ("/account/<int(max=2147483647):user_id>", account, ANY),
]
