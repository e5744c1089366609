"""Umami API views (thin): authenticate, parse with the family's schemas, call the services in
app/stats/umami.py and services.py, dump with the family's schemas. Method checks follow the
order of spec §5: some routes check the login before the method."""
from datetime import timezone

from flask import current_app, jsonify, request
from marshmallow import ValidationError as SchemaError

from app import accounts
from app.api.umami import auth, schemas, services
from app.api.umami.http import UmamiError, body
from app.auth import check_credentials, verify_password
from app.clock import utcnow
from app.exceptions import ValidationError
from app.extensions import db, limiter
from app.models import User
from app.stats import umami as stats

ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REALTIME_WINDOW_MS = 30 * 60 * 1000


def _load(schema, data):
    """Schema-validated input; bad input is Umami's 400 (upstream often answered 500)."""
    try:
        return schema.load(data if isinstance(data, dict) else {})
    except SchemaError:
        raise UmamiError(400) from None


def _args(schema):
    return _load(schema, request.args.to_dict())


def _method(*allowed):
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise UmamiError(405)


def _ok(schema, value, many=False):
    return jsonify(schema.dump(value, many=many))


def _ms(moment):
    """A naive UTC datetime as Unix milliseconds."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


# --- auth -------------------------------------------------------------------------------------

@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"],
               deduct_when=lambda response: response.status_code != 200)
def login():
    """Log in with an Ibex username and password.
    ---
    post:
      summary: Log in; answers a token and sets the umami.auth cookie
      requestBody: {content: {application/json: {schema: LoginBody}}}
      responses:
        200: {content: {application/json: {schema: TokenSchema}}}
        400: {description: username or password missing}
        401: {description: unknown user or wrong password}
    """
    data = _load(schemas.LoginBody(), body())
    user = check_credentials(data["username"], data["password"])
    if user is None:
        raise UmamiError(401)
    response = _ok(schemas.TokenSchema(), {"token": auth.issue_login_token(user)})
    max_age = int(auth.lifetime().total_seconds())
    response.headers["Set-Cookie"] = (f"{auth.COOKIE}={response.json['token']}; "
                                      f"Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict")
    return response


def verify():
    """The logged-in user's claims.
    ---
    get:
      summary: Check the login token (cookie or Bearer)
      responses:
        200: {content: {application/json: {schema: ClaimsSchema}}}
        401: {description: not logged in}
    """
    login = auth.current_login()
    if login is None:
        raise UmamiError(401)
    user, token = login
    return _ok(schemas.ClaimsSchema(), {"user_id": user.id, "username": user.username,
                                        "is_admin": user.is_admin,
                                        "iat": _ms(token.created_at) // 1000})


def logout():
    """Log out: the token is revoked and the cookie cleared.
    ---
    post:
      summary: Revoke the request's login token
      responses:
        200: {description: "{}"}
    """
    auth.revoke_login_token(auth.request_token())
    response = jsonify({})
    response.headers["Set-Cookie"] = f"{auth.COOKIE}=; Max-Age=0; Path=/; HttpOnly"
    return response


# --- websites ---------------------------------------------------------------------------------

def websites():
    """The caller's websites (an admin may name another ``user_id``).
    ---
    get:
      summary: List websites by name
      parameters: [{in: query, schema: WebsitesArgs}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: WebsiteSchema}}}}
        401: {description: not logged in, or another user's list without admin rights}
    """
    user = auth.require_user()
    _method("GET")
    owner = _args(schemas.WebsitesArgs())["user_id"] or user.id
    if owner != user.id and not user.is_admin:
        raise UmamiError(401)
    return _ok(schemas.WebsiteSchema(), services.websites_of(owner), many=True)


def save_website():
    """Create a website (no ``website_id``) or update one.
    ---
    post:
      summary: Create or update a website
      requestBody: {content: {application/json: {schema: WebsiteBody}}}
      responses:
        200: {content: {application/json: {schema: WebsiteSchema}}}
        400: {description: invalid name or domain, or unknown website_id}
        401: {description: not logged in, or not the owner or an admin}
    """
    user = auth.require_user()
    _method("POST")
    data = _load(schemas.WebsiteBody(), body())
    share = schemas.share_enabled(data)
    if data["website_id"] is None:
        site = _valid(services.create_website, user, data["name"], data["domain"], share)
        return _ok(schemas.WebsiteSchema(), site)
    site = auth.active_site(data["website_id"])
    if site is None:
        raise UmamiError(400)
    if not auth.can_manage(user, site):
        raise UmamiError(401)
    _valid(services.update_website, site, data["name"], data["domain"], share)
    return jsonify({})


def _valid(function, *args):
    try:
        return function(*args)
    except ValidationError as exc:
        db.session.rollback()
        raise UmamiError(400, f"400 Bad Request: {exc}") from None


def website(website_id):
    """One website (share token allowed), or delete it (owner or admin login only).
    ---
    get:
      summary: A website
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: WebsiteSchema}}}
        401: {description: no access, or no such website}
    delete:
      summary: Delete a website (its data stays until purged)
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: "{}"}
        401: {description: no access, or no such website}
    """
    if request.method == "DELETE":
        accounts.delete_site(auth.readable_site(website_id, allow_share=False))
        return jsonify({})
    return _ok(schemas.WebsiteSchema(), auth.readable_site(website_id))


# --- statistics -------------------------------------------------------------------------------

def website_stats(website_id):
    """Pageviews, uniques, bounces and total time (visits = session × UTC hour).
    ---
    get:
      summary: Summary statistics
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: RangeArgs}]
      responses:
        200: {content: {application/json: {schema: StatsSchema}}}
        400: {description: bad arguments}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    args = _args(schemas.RangeArgs())
    return _ok(schemas.StatsSchema(), stats.summary(site.id, args["start_at"], args["end_at"],
                                                    args["url"]))


def website_pageviews(website_id):
    """Pageviews and sessions per local time bucket.
    ---
    get:
      summary: Pageview time series
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: SeriesArgs}]
      responses:
        200: {content: {application/json: {schema: PageviewsSchema}}}
        400: {description: bad arguments, unit or tz}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    args = _args(schemas.SeriesArgs())
    return _ok(schemas.PageviewsSchema(), stats.pageviews_series(
        site.id, args["start_at"], args["end_at"], args["unit"], args["tz"], args["url"]))


def website_events(website_id):
    """Events per value and local time bucket.
    ---
    get:
      summary: Event time series
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: SeriesArgs}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: EventPointSchema}}}}
        400: {description: bad arguments, unit or tz}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    args = _args(schemas.SeriesArgs())
    return _ok(schemas.EventPointSchema(), stats.events_series(
        site.id, args["start_at"], args["end_at"], args["unit"], args["tz"], args["url"]),
        many=True)


def website_metrics(website_id):
    """Counts by url, referrer, event, browser, os, device or country.
    ---
    get:
      summary: Ranked metrics
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: MetricsArgs}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: MetricSchema}}}}
        400: {description: bad arguments}
        401: {description: no access}
        405: {description: unknown type (Umami's quirk)}
    """
    site = auth.readable_site(website_id)
    args = _args(schemas.MetricsArgs())
    if args["type"] not in stats.METRICS:
        raise UmamiError(405)
    return _ok(schemas.MetricSchema(), stats.metrics(
        site.id, args["start_at"], args["end_at"], args["type"], args["url"]), many=True)


def website_active(website_id):
    """Visitors in the last five minutes.
    ---
    get:
      summary: Active visitors
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: ActiveSchema}}}}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    return _ok(schemas.ActiveSchema(), [{"x": stats.active_visitors(site.id, utcnow())}],
               many=True)


# --- share links and realtime ------------------------------------------------------------------

def share(share_id):
    """The website and a read token for a share link.
    ---
    get:
      summary: Resolve a share link
      parameters: [{in: path, name: share_id, required: true, schema: {type: string}}]
      responses:
        200: {content: {application/json: {schema: ShareSchema}}}
        404: {description: unknown share id}
    """
    site = services.site_by_share_id(share_id)
    if site is None:
        raise UmamiError(404)
    return _ok(schemas.ShareSchema(), {"websiteId": site.id, "token": auth.share_token(site)})


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
    _method("GET")
    sites = services.websites_of(user.id)
    now = utcnow()
    since = schemas.from_ms(_ms(now) - REALTIME_WINDOW_MS)
    return _ok(schemas.RealtimeInitSchema(), {
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
    _method("GET")
    site_ids = auth.realtime_sites(request.headers.get(auth.SHARE_HEADER))
    if site_ids is None:
        raise UmamiError(400)
    allowed = [i for i in site_ids if (s := auth.active_site(i)) and auth.can_manage(user, s)]
    now = utcnow()
    since = _args(schemas.RealtimeArgs())["start_at"] or schemas.from_ms(
        _ms(now) - REALTIME_WINDOW_MS)
    return _ok(schemas.RealtimeDataSchema(), _realtime_data(allowed, since, now))


def _realtime_data(site_ids, since, now):
    return {**stats.realtime(site_ids, since), "timestamp": _ms(now)}


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
    _method("GET")
    return _ok(schemas.AccountSchema(), services.all_users(), many=True)


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
    _method("POST")
    data = _load(schemas.AccountBody(), body())
    if data["user_id"] is None:
        if not user.is_admin:
            raise UmamiError(401)
        return _ok(schemas.AccountSchema(), _valid(services.create_account, data["username"],
                                                   data["password"]))
    target = _account_for(user, data["user_id"])
    return _ok(schemas.AccountSchema(), _valid(
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
    _method("GET", "DELETE")
    target = db.session.get(User, user_id)
    if target is None:
        raise UmamiError(404)
    if request.method == "DELETE":
        _valid(accounts.delete_user, target)
        return jsonify({})
    return _ok(schemas.AccountSchema(), target)


def change_password():
    """Change a password; the current one is always checked.
    ---
    post:
      summary: Change a password (ends the account's login tokens)
      requestBody: {content: {application/json: {schema: PasswordBody}}}
      responses:
        200: {content: {application/json: {schema: AccountSchema}}}
        400: {description: "Current password is incorrect", or invalid input}
        401: {description: not allowed}
    """
    user = auth.require_user()
    raw = body()
    user_id = raw.get("user_id") if isinstance(raw, dict) else None
    if not user.is_admin and not (type(user_id) is int and user_id == user.id):
        raise UmamiError(401)
    _method("POST")
    data = _load(schemas.PasswordBody(), raw)
    target = _account_for(user, data["user_id"])
    if not verify_password(target.password_hash, data["current_password"]):
        raise UmamiError(400, "Current password is incorrect")
    _valid(accounts.set_password, target, data["new_password"])
    return _ok(schemas.AccountSchema(), target)


def register(bp):
    rules = [
        ("/auth/login", login, ANY), ("/auth/verify", verify, ANY),
        ("/auth/logout", logout, ANY), ("/websites", websites, ANY),
        ("/website", save_website, ANY), ("/website/<int:website_id>", website, ["GET", "DELETE"]),
        ("/website/<int:website_id>/stats", website_stats, ["GET"]),
        ("/website/<int:website_id>/pageviews", website_pageviews, ["GET"]),
        ("/website/<int:website_id>/events", website_events, ["GET"]),
        ("/website/<int:website_id>/metrics", website_metrics, ["GET"]),
        ("/website/<int:website_id>/active", website_active, ["GET"]),
        ("/share/<share_id>", share, ["GET"]),
        ("/realtime/init", realtime_init, ANY), ("/realtime/update", realtime_update, ANY),
        ("/accounts", list_accounts, ANY), ("/account", save_account, ANY),
        ("/account/password", change_password, ANY),
        ("/account/<int:user_id>", account, ANY),
    ]
    for rule, view, methods in rules:
        bp.add_url_rule(rule, view.__name__, view, methods=methods)

