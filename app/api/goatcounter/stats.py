"""GoatCounter statistics views (thin): /api/v0/paths and /api/v0/stats/… (spec §5.6–§5.11).
Each authenticates (permission ``stats``), decodes with its schema, builds a StatsQuery and
dumps what the stats service returns."""
from flask import g, jsonify

from app.api.goatcounter import stats_schemas as schemas
from app.api.goatcounter.context import token_required
from app.api.goatcounter.decoding import ApiError, query_args
from app.exceptions import ValidationError
from app.stats import dimensions, service
from app.stats.query import GROUPS, StatsQuery, default_range, zone_offset

# Day objects are built per calendar day; a range longer than this is refused, not computed.
MAX_DAYS = 3660


def register(bp):
    bp.add_url_rule("/paths", view_func=paths, methods=["GET"])
    bp.add_url_rule("/stats/total", view_func=total, methods=["GET"])
    bp.add_url_rule("/stats/hits", view_func=hits, methods=["GET"])
    bp.add_url_rule("/stats/hits/<path_id>", view_func=path_refs, methods=["GET"])
    bp.add_url_rule("/stats/<page>", view_func=breakdown, methods=["GET"])
    bp.add_url_rule("/stats/<page>/<key>", view_func=drilldown, methods=["GET"])


def _site():
    """The site this request addresses (spec §1.1), set by token_required."""
    return g.site


def _path_ids(site, args, name):
    """include_paths/exclude_paths as path ids: numbers, or names with path_by_name."""
    values = args.get(name)
    if not values:
        return None
    if args.get("path_by_name"):
        return service.path_ids_by_name(site.id, values)
    try:
        return tuple(int(value) for value in values)
    except ValueError as exc:
        raise ApiError(400, f"invalid number in {name}: {exc}") from None


def _query(site, args, **extra):
    """The StatsQuery of a request: its range (default: the last 8 UTC days), the token
    user's time zone (its current offset, spec §10.2) and its path selection."""
    start, end = default_range()
    start, end = args.get("start", start), args.get("end", end)
    if end < start:
        raise ValidationError.single("end", "must be after start")
    timezone = (g.api_token.user.settings or {}).get("timezone", "")
    return StatsQuery(site_id=site.id, start=start, end=end, timezone=timezone,
                      tz_offset=zone_offset(timezone),
                      include_paths=_path_ids(site, args, "include_paths"),
                      exclude_paths=_path_ids(site, args, "exclude_paths") or (), **extra)


def _check_days(query):
    if (query.last_day - query.first_day).days >= MAX_DAYS:
        raise ApiError(400, f"the range is too long: at most {MAX_DAYS} days")


def _group(args):
    group = args.get("group")
    if group is None:
        return "day" if args.get("daily") else "hour"
    return GROUPS[int(group)] if group.isdigit() else group


@token_required("stats")
def paths():
    """List the site's paths.
    ---
    get:
      summary: Paths (pageviews and events), ordered by path then id
      parameters:
      - in: query
        schema: PathsArgs
      responses:
        200:
          content:
            application/json:
              schema: PathsResponse
    """
    args = query_args(schemas.PathsArgs)
    page = service.paths(_site().id, after=args["after"], limit=args["limit"])
    return jsonify(schemas.PathsResponse().dump({"paths": page.rows, "more": page.more}))


@token_required("stats")
def total():
    """Total visitors of the site.
    ---
    get:
      summary: Visitors of all (or the included) paths, with a Day object per day
      parameters:
      - in: query
        schema: TotalArgs
      responses:
        200:
          content:
            application/json:
              schema: TotalResponse
    """
    args = query_args(schemas.TotalArgs)
    query = _query(_site(), args)
    _check_days(query)
    return jsonify(schemas.TotalResponse().dump(service.totals(query)))


@token_required("stats")
def hits():
    """Visitors per path.
    ---
    get:
      summary: The paths with most visitors in the range, each with a Day object per day
      parameters:
      - in: query
        schema: HitsArgs
      responses:
        200:
          content:
            application/json:
              schema: HitsResponse
    """
    args = query_args(schemas.HitsArgs)
    query = _query(_site(), args, limit=args["limit"], group=_group(args))
    _check_days(query)
    return jsonify(schemas.HitsResponse().dump(service.hits(query)))


@token_required("stats")
def path_refs(path_id):
    """Referrers of one path.
    ---
    get:
      summary: Referrers that brought visitors to one path, most first
      parameters:
      - in: path
        name: path_id
        required: true
        schema: {type: integer}
      - in: query
        schema: RefsArgs
      responses:
        200:
          content:
            application/json:
              schema: RefsResponse
    """
    path_id = _path_segment("path_id", path_id)
    args = query_args(schemas.RefsArgs)
    query = _query(_site(), args, limit=args["limit"], offset=args["offset"])
    page = service.path_refs(query, path_id)
    return jsonify(schemas.RefsResponse().dump({"refs": page.rows, "more": page.more}))


def breakdown(page):
    """Visitors by browser, system, location, language, screen size, campaign or referrer.
    ---
    get:
      summary: Visitors per entry of one dimension
      parameters:
      - in: path
        name: page
        required: true
        schema:
          type: string
          enum: [browsers, systems, locations, languages, sizes, campaigns, toprefs]
      - in: query
        schema: PageArgs
      responses:
        200:
          content:
            application/json:
              schema: StatsResponse
    """
    dimensions.get(page)  # the page is validated before authentication (spec §2.3)
    return _breakdown(page)


@token_required("stats")
def _breakdown(page):
    args = query_args(schemas.PageArgs)
    site = _site()
    query = _query(site, args, limit=args["limit"], offset=args["offset"])
    result = service.breakdown(query, page, link_domain=site.link_domain)
    return jsonify(schemas.StatsResponse().dump({"stats": result.rows, "more": result.more}))


def drilldown(page, key):
    """The entries inside one row of a breakdown.
    ---
    get:
      summary: Browser versions, system versions, regions, screen widths, campaign sources or
        the paths a referrer sent visitors to
      parameters:
      - in: path
        name: page
        required: true
        schema:
          type: string
          enum: [browsers, systems, locations, sizes, campaigns, toprefs]
      - in: path
        name: key
        required: true
        schema: {type: string}
      - in: query
        schema: PageArgs
      responses:
        200:
          content:
            application/json:
              schema: DrillResponse
    """
    dimensions.get(page, drill=True)  # validated before authentication, as breakdown's page
    return _drilldown(page, key)


@token_required("stats")
def _drilldown(page, key):
    args = query_args(schemas.PageArgs)
    query = _query(_site(), args, limit=args["limit"], offset=args["offset"])
    result = service.drilldown(query, page, key)
    return jsonify(schemas.DrillResponse().dump({"stats": result.rows, "more": result.more}))


def _path_segment(name, value):
    if not value.lstrip("-").isdigit() or not -2**31 <= int(value) < 2**31:
        raise ValidationError.single(name, "must be a whole number")
    return int(value)
