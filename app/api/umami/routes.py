"""Umami API views (thin): authenticate, parse with the family's schemas, call the services in
app/stats/umami.py and services.py, dump with the family's schemas. Method checks follow the
order of spec §5: some routes check the login before the method."""
from flask import current_app, jsonify, request

from app import accounts
from app.api.umami import accounts_routes, auth, schemas, services
from app.api.umami.http import UmamiError, body
from app.api.umami.views import ANY, load, method, ms, ok, query_args, valid
from app.auth import check_credentials
from app.clock import utcnow
from app.extensions import limiter
from app.stats import umami as stats
from app.stats.query import StatsQuery


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
    data = load(schemas.LoginBody(), body())
    user = check_credentials(data["username"], data["password"])
    if user is None:
        raise UmamiError(401)
    response = ok(schemas.TokenSchema(), {"token": auth.issue_login_token(user)})
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
    return ok(schemas.ClaimsSchema(), {"user_id": user.id, "username": user.username,
                                        "is_admin": user.is_admin,
                                        "iat": ms(token.created_at) // 1000})


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
        401: {description: "not logged in, or another user's list without admin rights"}
    """
    user = auth.require_user()
    method("GET")
    owner = query_args(schemas.WebsitesArgs())["user_id"] or user.id
    if owner != user.id and not user.is_admin:
        raise UmamiError(401)
    return ok(schemas.WebsiteSchema(), services.websites_of(owner), many=True)


def save_website():
    """Create a website (no ``website_id``) or update one.
    ---
    post:
      summary: Create or update a website
      requestBody: {content: {application/json: {schema: WebsiteBody}}}
      responses:
        200: {content: {application/json: {schema: WebsiteSchema}}}
        400: {description: "invalid name or domain, or unknown website_id"}
        401: {description: "not logged in, or not the owner or an admin"}
    """
    user = auth.require_user()
    method("POST")
    data = load(schemas.WebsiteBody(), body())
    share = schemas.share_enabled(data)
    if data["website_id"] is None:
        site = valid(services.create_website, user, data["name"], data["domain"], share)
        return ok(schemas.WebsiteSchema(), site)
    site = auth.active_site(data["website_id"])
    if site is None:
        raise UmamiError(400)
    if not auth.can_manage(user, site):
        raise UmamiError(401)
    valid(services.update_website, site, data["name"], data["domain"], share)
    return jsonify({})


def website(website_id):
    """One website (share token allowed), or delete it (owner or admin login only).
    ---
    get:
      summary: A website
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}}]
      responses:
        200: {content: {application/json: {schema: WebsiteSchema}}}
        401: {description: "no access, or no such website"}
    delete:
      summary: Delete a website (its data stays until purged)
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}}]
      responses:
        200: {description: "{}"}
        401: {description: "no access, or no such website"}
    """
    if request.method == "DELETE":
        accounts.delete_site(auth.readable_site(website_id, allow_share=False))
        return jsonify({})
    return ok(schemas.WebsiteSchema(), auth.readable_site(website_id))


# --- statistics -------------------------------------------------------------------------------

def _query(site, args):
    """The StatsQuery of a statistics request: exact millisecond instants, both inclusive."""
    return StatsQuery(site_id=site.id, start=args["start_at"], end=args["end_at"],
                      timezone=args["tz"].key if args.get("tz") else "UTC")


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
    args = query_args(schemas.RangeArgs())
    return ok(schemas.StatsSchema(), stats.summary(_query(site, args), args["url"]))


def website_pageviews(website_id):
    """Pageviews and sessions per local time bucket.
    ---
    get:
      summary: Pageview time series
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: SeriesArgs}]
      responses:
        200: {content: {application/json: {schema: PageviewsSchema}}}
        400: {description: "bad arguments, unit or tz"}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    args = query_args(schemas.SeriesArgs())
    return ok(schemas.PageviewsSchema(), stats.pageviews_series(
        _query(site, args), args["unit"], args["url"]))


def website_events(website_id):
    """Events per value and local time bucket.
    ---
    get:
      summary: Event time series
      parameters: [{in: path, name: website_id, required: true, schema: {type: integer}},
                   {in: query, schema: SeriesArgs}]
      responses:
        200: {content: {application/json: {schema: {type: array, items: EventPointSchema}}}}
        400: {description: "bad arguments, unit or tz"}
        401: {description: no access}
    """
    site = auth.readable_site(website_id)
    args = query_args(schemas.SeriesArgs())
    return ok(schemas.EventPointSchema(), stats.events_series(
        _query(site, args), args["unit"], args["url"]), many=True)


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
    args = query_args(schemas.MetricsArgs())
    if args["type"] not in stats.METRICS:
        raise UmamiError(405)
    return ok(schemas.MetricSchema(), stats.metrics(_query(site, args), args["type"],
                                                     args["url"]), many=True)


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
    return ok(schemas.ActiveSchema(), [{"x": stats.active_visitors(site.id, utcnow())}],
               many=True)


# --- share links ------------------------------------------------------------------

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
    return ok(schemas.ShareSchema(), {"websiteId": site.id, "token": auth.share_token(site)})


def register(bp):
    site = "/website/<int(max=2147483647):website_id>"
    rules = [
        ("/auth/login", login, ANY), ("/auth/verify", verify, ANY),
        ("/auth/logout", logout, ANY), ("/websites", websites, ANY),
        ("/website", save_website, ANY), (site, website, ["GET", "DELETE"]),
        *((f"{site}/{name}", view, ["GET"]) for name, view in (
            ("stats", website_stats), ("pageviews", website_pageviews),
            ("events", website_events), ("metrics", website_metrics),
            ("active", website_active))),
        ("/share/<share_id>", share, ["GET"]),
    ]
    for rule, view, methods in rules + accounts_routes.RULES:
        bp.add_url_rule(rule, view.__name__, view, methods=methods)
