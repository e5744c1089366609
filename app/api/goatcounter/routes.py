"""GoatCounter API views (thin): POST /api/v0/count."""
import time

from flask import g, jsonify, request

from app.api.goatcounter.context import token_required
from app.ingest import ingest
from app.tracking import payloads
from app.tracking.payloads import Invalid

MAX_HITS = 500
TOP_LEVEL = {"no_sessions", "filter", "hits"}


def _error(status, message):
    return jsonify(error=message), status


def _json_body():
    """The request's JSON object per spec §4.3–4.4, or an error response."""
    raw = request.get_data(cache=False)
    if raw.strip() and request.mimetype != "application/json":
        return None, ("", 415)
    if not raw.strip():
        if request.mimetype != "application/json":
            return None, _error(415, f'unable to handle Content-Type "{request.content_type or ""}"')
        return {}, None
    try:
        body = payloads.loads_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, _error(400, f"invalid JSON: {exc}")
    if not isinstance(body, dict):
        return None, _error(400, "invalid JSON: expected an object")
    return body, None


@token_required("count")
def count():
    """Record pageviews from a backend (spec §6).
    ---
    post:
      summary: Count up to 500 pageviews or events
      security: [{token: []}]
      parameters:
        - in: body
          name: body
          required: true
          description: 'spec §6.1: {"no_sessions", "filter", "hits": [...]}'
          schema: {type: object}
      responses:
        202: {description: 'accepted: {"status": "ok"}'}
        400: {description: 'per-hit errors {"errors": {"<index>": "<message>"}}'}
        403: {description: the token lacks the count permission, schema: ErrorSchema}
    """
    site = g.site
    body, failure = _json_body()
    if failure:
        return failure
    unknown = sorted(set(body) - TOP_LEVEL)
    if unknown:
        return _error(400, f'unknown parameter: "{unknown[0]}"')
    raw_hits = body.get("hits")
    if raw_hits is not None and not isinstance(raw_hits, list):
        return _error(400, "invalid JSON: hits: expected an array")
    try:
        hits = [payloads.decode_api_hit(raw) for raw in raw_hits or []]
    except Invalid as exc:
        return _error(400, exc.message)
    no_sessions = body.get("no_sessions")
    if not isinstance(no_sessions, (bool, type(None))):
        return _error(400, "invalid JSON: no_sessions: expected a boolean")
    filters = body.get("filter", ["ip"])
    if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
        return _error(400, "invalid JSON: filter: expected an array of strings")
    if not hits:
        return _error(400, "no hits")
    if len(hits) > MAX_HITS:
        return _error(400, f"maximum amount of pageviews in one batch is {MAX_HITS}")
    if any(value != "ip" for value in filters):
        # GoatCounter answers 200 with an error body here (a QUIRK clients rely on).
        return jsonify(error=f"unknown value in Filter: [{' '.join(filters)}]"), 200
    return _accept_hits(site, hits, bool(no_sessions), "ip" in filters)


def _accept_hits(site, hits, no_sessions, filter_ip):
    sites, now = ingest().sites, time.time()
    accepted, errors, filtered = [], {}, []
    for index, raw in enumerate(hits):
        if filter_ip and raw.get("ip") and sites.is_ignored(site, raw["ip"]):
            filtered.append(index)
            continue
        try:
            accepted.append(payloads.goatcounter_api_hit(raw, site.id, no_sessions, now))
        except Invalid as exc:
            errors[str(index)] = exc.message
    if accepted:
        ingest().push(*accepted)
    response = jsonify(errors=errors) if errors else jsonify(status="ok")
    response.status_code = 400 if errors else 202
    if filtered:
        response.headers["X-Goatcounter-Filter"] = ", ".join(map(str, filtered))
    return response


def register(bp):
    bp.add_url_rule("/count", "count", count, methods=["POST"])
