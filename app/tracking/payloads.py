"""Each family's tracking payload → HitIn, with the family's own validation messages. Pure
functions of the decoded request data; the views own HTTP."""
import json
import math
import re
import time
import uuid
from datetime import datetime, timezone

from app.ingest import paths
from app.ingest.hit_in import EVENT, PAGEVIEW, HitIn

GC_BOOL = {"true": True, "1": True, "on": True, "false": False, "0": False, "off": False,
           "": False}
MAX_PATH, MAX_TITLE, MAX_REF, MAX_UA = 2048, 1024, 2048, 512
FUTURE_SLACK = 5  # seconds a count-API created_at may lie in the future


class Invalid(Exception):
    """A payload the family rejects; ``message`` is the family's text."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def loads_json(raw):
    """Decode a JSON request body (bytes); raises ValueError for anything that is not JSON,
    also for nesting too deep to decode. Lone UTF-16 surrogates ("\\ud800", which no UTF-8
    text, Redis or database can hold) become U+FFFD, as Go's decoder makes them."""
    try:
        value = json.loads(raw)  # bytes: UTF-8/16/32, decoded with "surrogatepass"
        plain = raw.isascii() and b"\0" not in raw and not _SURROGATE_ESCAPE.search(raw)
        return value if plain else _repair(value)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _repair(value):
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_repair(item) for item in value]
    if isinstance(value, dict):
        return {_repair(key): _repair(item) for key, item in value.items()}
    return value


def render_validation(errors):
    """GoatCounter's single-string rendering: "key: msg1, msg2." (keys sorted; more than one
    key → each segment followed by a newline)."""
    parts = [f"{key}: {', '.join(msgs)}." for key, msgs in sorted(errors.items())]
    return parts[0] if len(parts) == 1 else "".join(part + "\n" for part in parts)


def _validate_fields(path, title, ref, user_agent):
    """GoatCounter's field rules. A whitespace-only path passes here and is dropped when
    persisted (spec §7.2)."""
    errors = {}
    if not path:
        errors["path"] = ["must be set", "must be longer than 1 characters"]
    elif len(path) > MAX_PATH:
        errors["path"] = [f"must be shorter than {MAX_PATH} characters"]
    if len(title) > MAX_TITLE:
        errors["title"] = [f"must be shorter than {MAX_TITLE} characters"]
    if len(ref) > MAX_REF:
        errors["ref"] = [f"must be shorter than {MAX_REF} characters"]
    if len(user_agent) > MAX_UA:
        errors["user_agent"] = [f"must be shorter than {MAX_UA} characters"]
    return errors


def first_number(text):
    """The first number of "1920" or "1920,1080,2" as an int width; raises ValueError."""
    first = text.split(",")[0].strip()
    for part in text.split(","):
        if part.strip() and not math.isfinite(float(part)):
            raise ValueError(f"invalid number {part!r}")
    value = float(first) if first else 0.0
    if value < 0 or value > 2 ** 31 - 1:
        raise ValueError(f"number out of range: {first}")
    return int(value)


# --- GoatCounter /count ----------------------------------------------------------------------

def goatcounter_count(args, site_id, user_agent, ip, language):
    """/count query parameters → HitIn. Raises Invalid with the X-Goatcounter text."""
    try:
        event = GC_BOOL[args.get("e", "").strip().lower()]
    except KeyError:
        raise Invalid(f'error decoding parameters: e: invalid boolean "{args.get("e")}"') from None
    try:
        width = first_number(args.get("s", "")) if args.get("s", "").strip() else 0
    except ValueError:
        raise Invalid(f'error decoding parameters: s: invalid size "{args.get("s")}"') from None
    raw_bot = args.get("b", "").strip() or "0"
    if not re.fullmatch(r"-?\d{1,9}", raw_bot):
        raise Invalid(f'error decoding parameters: b: invalid number "{args.get("b")}"')
    bot = int(raw_bot)
    if 1 <= bot <= 149:
        raise Invalid(f"wrong value: b={bot}")
    path = args.get("p", "")
    if len(path.encode("utf-8")) > MAX_PATH:
        raise Invalid(f"ignored because path is longer than {MAX_PATH} bytes "
                      f"({len(path.encode('utf-8'))} bytes)")
    title, ref = args.get("t", ""), args.get("r", "")
    errors = _validate_fields(path, title, ref, user_agent)
    if errors:
        raise Invalid("not valid: " + render_validation(errors))
    return HitIn(site_id=site_id, path=path, kind=EVENT if event else PAGEVIEW, family="gc",
                 created_at=time.time(), title=title, referrer=ref, query=args.get("q", ""),
                 user_agent=user_agent, ip=ip, width=width, language=language,
                 bot=max(bot, 0), no_session=args.get("ns", "").strip().lower() in
                 ("1", "t", "true", "on", "yes"))


# --- GoatCounter count API -------------------------------------------------------------------

HIT_FIELDS = {"path": str, "title": str, "event": None, "ref": str, "size": None, "query": str,
              "bot": int, "user_agent": str, "location": str, "language": str, "ip": str,
              "created_at": str, "session": str}
NO_SESSION = ("session or browser/IP not set; use no_sessions if you don't want to track "
              "unique visits")


def decode_api_hit(raw):
    """Check one hit object's keys and JSON types; raises Invalid with the whole-request error
    (GoatCounter decodes the whole body before handling any hit)."""
    if not isinstance(raw, dict):
        raise Invalid("invalid JSON: a hit must be an object")
    for key, value in raw.items():
        if key not in HIT_FIELDS:
            raise Invalid(f'unknown parameter: "{key}"')
        kind = HIT_FIELDS[key]
        if value is None:
            continue
        if kind is str and not isinstance(value, str):
            raise Invalid(f"invalid JSON: {key}: expected a string")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise Invalid(f"invalid JSON: {key}: expected a number")
    return raw


def _api_bool(value):
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in GC_BOOL:
        return GC_BOOL[value.strip().lower()]
    raise ValueError("must be a boolean")


def _api_size(value):
    """``size`` as GoatCounter's string, and (leniently, as api.json documents) a number or an
    array of numbers."""
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise ValueError("invalid size")
    if isinstance(value, (int, float)):
        return first_number(str(value))
    if isinstance(value, list):
        if not value:
            return 0
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError("invalid size")
        return first_number(",".join(str(v) for v in value))
    if isinstance(value, str):
        return first_number(value)
    raise ValueError("invalid size")


def _created_at(value, now):
    if not value:
        return now
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be a date as ‘2006-01-02T15:04:05Z07:00’") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def goatcounter_api_hit(raw, site_id, no_sessions, now):
    """One decoded count-API hit → HitIn. Raises Invalid with the per-index message."""
    errors = {}
    try:
        event = _api_bool(raw.get("event"))
    except ValueError:
        errors["event"] = ["must be a boolean"]
        event = False
    try:
        width = _api_size(raw.get("size"))
    except ValueError:
        errors["size"] = ["must be a string such as \"1920\" or \"1920,1080,2\""]
        width = 0
    try:
        created = _created_at(raw.get("created_at") or "", now)
    except ValueError as exc:
        errors["created_at"] = [str(exc)]
        created = now
    if created > now + FUTURE_SLACK:
        errors["created_at"] = ["in the future"]
    text = {key: raw.get(key) or "" for key in ("path", "title", "ref", "user_agent", "ip",
                                                 "session", "location", "language", "query")}
    session, user_agent, ip = text["session"], text["user_agent"], text["ip"]
    if not session and not (user_agent and ip) and not no_sessions:
        raise Invalid(NO_SESSION)
    errors.update(_validate_fields(text["path"], text["title"], text["ref"], user_agent))
    if not errors and not event and paths.normalise_path(text["path"], False) is None:
        errors["path"] = ["must be set", "must be longer than 1 characters"]
    if errors:
        raise Invalid(render_validation(errors))
    return HitIn(site_id=site_id, path=text["path"], kind=EVENT if event else PAGEVIEW,
                 family="gc-api", created_at=created, title=text["title"],
                 referrer=text["ref"], query="" if event else text["query"],
                 user_agent=user_agent, ip=ip, session=session,
                 no_session=bool(no_sessions and not session), width=width,
                 language=text["language"], location=text["location"],
                 bot=max(int(raw.get("bot") or 0), 0))


# --- Umami /api/collect ----------------------------------------------------------------------

UMAMI_BAD = "400 Bad Request"


def umami_website(payload):
    """The website uuid of a payload, or Invalid with Umami's message."""
    website = payload.get("website")
    try:
        return str(uuid.UUID(str(website))) if isinstance(website, str) and len(website) <= 36 \
            else _bad_uuid(website)
    except ValueError:
        return _bad_uuid(website)


def _bad_uuid(value):
    raise Invalid(f"Invalid website: {value}")


def umami_hit(kind, payload, site_id, user_agent, ip):
    """A pageview or event payload → HitIn; Invalid("400 Bad Request") for anything else."""
    def text(key, required=True):
        value = payload.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise Invalid(UMAMI_BAD)
        return value

    common = dict(site_id=site_id, family="umami", created_at=time.time(),
                  user_agent=user_agent, ip=ip, hostname=text("hostname", False)[:100],
                  screen=text("screen", False)[:11], language=text("language", False)[:35])
    if kind == "pageview":
        url = text("url")[:500]
        return HitIn(path=url, url=url, referrer=text("referrer", False)[:500], **common)
    if kind == "event":
        url = text("url")[:500]
        return HitIn(path=text("event_value")[:50], kind=EVENT, url=url,
                     event_type=text("event_type")[:50], **common)
    raise Invalid(UMAMI_BAD)


# --- Basic /collect --------------------------------------------------------------------------

def basic_hit(body, site_id, user_agent, ip, language):
    if not isinstance(body, dict):
        raise Invalid("invalid json")
    path = body.get("path")
    if not isinstance(path, str) or not path.strip():
        raise Invalid("missing path")
    referrer = body.get("referrer") if isinstance(body.get("referrer"), str) else ""
    screen = body.get("screen") if isinstance(body.get("screen"), str) else ""
    return HitIn(site_id=site_id, path=path[:MAX_PATH], url=path[:500], family="basic",
                 created_at=time.time(), referrer=referrer[:MAX_REF], screen=screen[:11],
                 user_agent=user_agent[:MAX_UA], ip=ip, language=language)
