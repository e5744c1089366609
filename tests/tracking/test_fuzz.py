"""Seeded fuzzing of the four tracking endpoints with malformed and odd requests: no answer is a
5xx, every error comes in its family's shape, and whatever was accepted persists cleanly (as a
hit or a bot-log entry, exactly once) without the persister ever failing on a batch."""
import json
import random
import re
from base64 import b64encode
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app import accounts
from app.extensions import db
from app.ingest import ingest
from app.models import BotHit, Hit, HitCount, IngestBatch, Path
from app.tracking import cache_token
from app.tracking.routes import GIF
from tests.conftest import PASSWORD, IsolatedClient, make_app

SEED = 20261123
ROUNDS = {"count": 700, "api": 500, "umami": 500, "basic": 400}  # 2100 requests per backend
FLUSH_EVERY = 300
UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.0", "", "Mozilla/5.0", "x" * 600, "Mozilla/5.0 (\xe9\xff\x01 odd)",
]
SNIPPETS = [
    "", " ", "/", "//", "/a", "/docs/page", "../../etc/passwd", "/a?b=c&utm_campaign=x",
    "/%", "/%zz", "/%e9", "/%ff%fe", "/%00", "/a%2F%2e%2E", "%ED%A0%80", "\x00", "\x01\x1f\x7f",
    "\t\n\r", "\u200b", "\u202e", "\ufeff", "\ufffd", "é", "日本語", "😀", "\U0010ffff",
    "\u0085\u2028", "javascript:alert(1)", "<script>", "' OR 1=1 --", "${7*7}", "null",
    "true", "-1", "1e309", "NaN", "0x10", "1920,1080,2", "9" * 40, "https://example.com/x",
    "http://www.example.com:8080/p?q=1#f", "android-app://com.google.android.gm",
    "/web/2019/https://example.com/x", "?utm_source=a&utm_campaign=b", "/a b+c",
]
# Odd Host headers that still parse (the ones that do not are test_unparseable_host below).
HOSTS = ["example.com", "example.net", "other.org", "EXAMPLE.COM:80", "example.com.",
         "exa mple.com", "[::1]:8080", "\xe9.com", "x" * 63 + ".com", "127.0.0.1", "-a.b"]
SURROGATES = ["\ud800", "\udfff", "a\udc80b"]  # only reachable through JSON escapes


def text(rng, surrogates=False):
    """An odd string: snippets glued together, random code points, or something huge."""
    roll = rng.random()
    if roll < 0.55:
        parts = [rng.choice(SNIPPETS) for _ in range(rng.randint(1, 3))]
        if surrogates and rng.random() < 0.15:
            parts.insert(rng.randint(0, len(parts)), rng.choice(SURROGATES))
        return "".join(parts)
    if roll < 0.85:
        top = rng.choice([0x7f, 0xff, 0xffff, 0x10ffff])
        chars = (chr(rng.randint(0, top)) for _ in range(rng.randint(0, 40)))
        return "".join(c for c in chars if surrogates or not 0xd800 <= ord(c) <= 0xdfff)
    return rng.choice(["/", "a", "é", "%", "😀"]) * rng.choice([1025, 2048, 2049, 5000])


def garbage(rng, depth=0):
    """A random JSON value."""
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 150, 2 ** 31, 2 ** 63, -(2 ** 70), 10 ** 30])
    if kind == 3:
        return rng.choice([0.5, -1.5, 1e308, 1920.0, 1e-300, float("nan"), float("inf")])
    if kind in (4, 5):
        return text(rng, surrogates=True)
    if kind == 6:
        return [garbage(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {text(rng, surrogates=True)[:20]: garbage(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def user_agent(rng):
    return rng.choices(UAS, weights=[6, 6, 1, 1, 1, 1, 1, 1])[0]


def header_text(rng):
    """A header value werkzeug's test client can send (latin-1, no line breaks)."""
    value = text(rng).encode("utf-8", "replace").decode("latin-1")
    return "".join(c for c in value if c not in "\r\n\x00")[:3000]


def json_body(rng, value):
    """JSON text (escaped, or raw UTF-8 where lone surrogates make it invalid UTF-8), or broken
    variants: truncated, random bytes, nested deeper than any decoder's recursion limit."""
    roll = rng.random()
    if roll < 0.78:
        return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if roll < 0.88:
        raw = json.dumps(value).encode()
        return raw[:rng.randint(0, len(raw))]
    if roll < 0.96:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    depth = rng.choice([900, 5000, 100_000])
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    return b'{"hits": [{"path": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}]}"


CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", None,
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/JSON", "application/json-patch+json", "garbage/\xe9"]


# --- one request per family ------------------------------------------------------------------

def count_request(rng):
    if rng.random() < 0.5:  # a pageview that should pass, carrying odd but valid values
        pairs = [("p", "/c/" + text(rng)[:100])]
        for key, value in (("t", text(rng)[:500]), ("r", text(rng)), ("s", "1920,1080,2"),
                           ("q", "?utm_source=" + text(rng)[:50] + "&utm_campaign=%2500x"),
                           ("e", rng.choice(["", "false", "true"]))):
            if rng.random() < 0.4:
                pairs.append((key, value))
    else:
        keys = ["p", "t", "r", "s", "e", "b", "q", "ns", "rnd", "x", "P", "p[]", ""]
        pairs = [(rng.choice(keys), rng.choice([text(rng), "/ok", "true", "1", "0", "150",
                                                "abc", "1920"]))
                 for _ in range(rng.randint(0, 8))]
    rng.shuffle(pairs)
    if rng.random() < 0.8:  # percent-encoded; else raw, with broken escapes
        query = "&".join(f"{quote(k)}={quote(v, safe='%')}" for k, v in pairs)
    else:
        query = "&".join(f"{k}={v}" if rng.random() < 0.9 else k for k, v in pairs)
    # Two sites exist: /count finds one by Host (or Origin/Referer), or answers 400.
    headers = {"User-Agent": user_agent(rng),
               "Host": "example.com" if rng.random() < 0.7 else rng.choice(HOSTS)}
    for name, value in (("Referer", header_text(rng)), ("Origin", header_text(rng)),
                        ("Accept-Language", header_text(rng)), ("DNT", "1"), ("Sec-GPC", "1"),
                        ("X-Moz", "prefetch"), ("Purpose", "preview")):
        if rng.random() < 0.1:
            headers[name] = value
    method = rng.choice(["GET", "GET", "POST"])
    return dict(method=method, path="/count", query_string=query, headers=headers)


def api_hit(rng):
    fields = ["path", "title", "event", "ref", "size", "query", "bot", "user_agent", "location",
              "language", "ip", "created_at", "session", "unknown"]
    hit = {}
    if rng.random() < 0.7:
        hit = {"path": "/api/" + str(rng.randrange(50)), "session": f"s{rng.randrange(20)}"}
    for _ in range(rng.choice([0, 0, 1, 2, 5])):
        name = rng.choice(fields)
        hit[name] = rng.choice([garbage(rng), text(rng, surrogates=True),
                                rng.choice(["2026-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
                                            "yesterday", "1920", [1920, 1080], "NL-NH"])])
    return hit if rng.random() < 0.95 else garbage(rng)


def api_request(rng, secret):
    roll = rng.random()
    if roll < 0.75:
        size = rng.choice([1, 1, 2, 5, 20]) if rng.random() < 0.95 else rng.randint(450, 600)
        body = {"hits": [api_hit(rng) for _ in range(size)]}
        if rng.random() < 0.3:
            body["no_sessions"] = garbage(rng) if rng.random() < 0.5 else True
        if rng.random() < 0.2:
            body["filter"] = rng.choice([["ip"], [], ["x"], "ip", garbage(rng)])
        if rng.random() < 0.1:
            body[text(rng)[:10]] = garbage(rng)
    else:
        body = garbage(rng)
    data = json_body(rng, body) if rng.random() < 0.95 else b""
    basic = "Basic " + b64encode(f":{secret}".encode()).decode()
    auth = rng.choices([f"Bearer {secret}", basic, "Bearer nope", "Bearer", header_text(rng),
                        None], weights=[80, 5, 4, 3, 4, 4])[0]
    # Two sites exist: the API finds this one by its Host (or fails to find one).
    headers = {"User-Agent": user_agent(rng),
               "Host": "example.com" if rng.random() < 0.8 else rng.choice(HOSTS)}
    if auth is not None:
        headers["Authorization"] = auth
    content_type = rng.choices(CONTENT_TYPES, weights=[70, 10, 4, 4, 3, 3, 2, 2, 2])[0]
    return dict(method="POST", path="/api/v0/count", data=data, headers=headers,
                content_type=content_type)


def umami_request(rng, site, token):
    names = ("website", "url", "referrer", "hostname", "screen", "language", "event_type",
             "event_value", "cache")
    if rng.random() < 0.5:  # should pass, with odd but valid values and one field mutated
        payload = {name: text(rng, surrogates=True) for name in names}
        payload.update(website=site.uuid, cache=None)
        payload[rng.choice(names)] = rng.choice([garbage(rng), text(rng, surrogates=True)])
    else:
        payload = {name: rng.choice([garbage(rng), text(rng, surrogates=True)])
                   for name in names if rng.random() < 0.6}
        if rng.random() < 0.6:
            payload["website"] = rng.choice([site.uuid, site.uuid.upper(), site.uuid + "x",
                                             "00000000-0000-0000-0000-000000000000"])
        if rng.random() < 0.5:
            payload["url"] = rng.choice(["/u/" + str(rng.randrange(30)), text(rng)])
    if rng.random() < 0.3:
        payload["cache"] = rng.choice([token, token[:-2] + "xx", token + ".", "a.b.c"])
    body = {"type": rng.choice(["pageview", "event", "pageview", garbage(rng)]),
            "payload": payload if rng.random() < 0.95 else garbage(rng)}
    if rng.random() < 0.05:
        body = garbage(rng)
    data = json_body(rng, body)
    if rng.random() < 0.01:
        data = b'{"type": "pageview", "payload": {"x": "' + b"y" * (1024 * 1024) + b'"}}'
    method = rng.choices(["POST", "GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"],
                         weights=[80, 4, 4, 3, 3, 3, 3])[0]
    content_type = rng.choices(CONTENT_TYPES, weights=[70, 10, 4, 4, 3, 3, 2, 2, 2])[0]
    headers = {"User-Agent": user_agent(rng)}
    if rng.random() < 0.1:
        headers["Access-Control-Request-Headers"] = header_text(rng)[:50]
    return dict(method=method, path="/api/collect", data=data, headers=headers,
                content_type=content_type)


def basic_request(rng):
    pages = ["https://example.com", "http://www.example.com/x", "https://EXAMPLE.com.:443/",
             "null", "https://evil.example", "example.com", "//example.com", "https://[::1]/",
             "http://exa mple.com"]
    headers = {"User-Agent": user_agent(rng)}
    if rng.random() < 0.5:  # should pass, with odd but valid values
        headers["Origin"] = rng.choice(pages[:3])
        body = {"path": "/b/" + text(rng, surrogates=True), "referrer": text(rng),
                "screen": text(rng)}
    else:
        for name in ("Origin", "Referer"):
            if rng.random() < 0.6:
                headers[name] = rng.choice(pages) if rng.random() < 0.7 else header_text(rng)
        body = {name: rng.choice([garbage(rng), text(rng, surrogates=True)])
                for name in ("path", "referrer", "screen", "x") if rng.random() < 0.6}
        if rng.random() < 0.1:
            body = garbage(rng)
    data = json_body(rng, body) if rng.random() < 0.95 else b""
    method = "POST" if rng.random() < 0.95 else "OPTIONS"
    content_type = rng.choices(CONTENT_TYPES, weights=[70, 10, 4, 4, 3, 3, 2, 2, 2])[0]
    return dict(method=method, path="/collect", data=data, headers=headers,
                content_type=content_type)


# --- each family's answer shape --------------------------------------------------------------

# What gunicorn (the production server) agrees to send as a header value (its HEADER_VALUE_RE):
# anything else turns the answer into a 500 there, though the test client lets it pass.
SENDABLE = re.compile(r"[ \t\x21-\x7e\x80-\xff]*")


def check_sendable(response):
    for name, value in response.headers.items():
        assert SENDABLE.fullmatch(value), (name, value)


def check_count(response, request):
    assert response.status_code in (200, 202, 400)
    assert response.mimetype == "image/gif" and response.data == GIF
    if response.status_code != 200:
        assert response.headers["X-Goatcounter"]


def check_api(response, request):
    status = response.status_code
    if status == 415 and not response.data:
        return  # a body that is not JSON (spec §4.3): empty 415
    body = response.get_json(silent=True)
    assert isinstance(body, dict), response.data[:200]
    if status == 202:
        assert body == {"status": "ok"}
        return
    assert status in (200, 400, 401, 403, 415), status
    assert len(body) == 1
    if "error" in body:
        assert isinstance(body["error"], str) and body["error"]
    else:
        errors = body["errors"]
        assert status == 400 and isinstance(errors, dict) and errors
        assert all(key.isdigit() and isinstance(msg, str) for key, msg in errors.items())


def check_umami(response, request):
    status = response.status_code
    if request["method"] == "OPTIONS":
        assert status == 204 and not response.data
        return
    head = request["method"] == "HEAD"
    if "Access-Control-Allow-Origin" not in response.headers:
        # The framework rejects malformed JSON before the CORS step (spec §6.2).
        assert status == 400 and response.data == (b"" if head else b"Invalid JSON")
    else:
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    if status == 200:
        assert response.mimetype == "application/json"
        if not head:
            answer = response.get_data(as_text=True)
            assert answer == "{}" or answer.count(".") == 2, answer
        return
    assert status in (400, 413), status
    assert "Content-Type" not in response.headers  # Umami's plain-text errors have none
    if not head:
        message = response.get_data(as_text=True)
        assert message and not message.lstrip().startswith(("<", "{")), message[:200]


def check_basic(response, request):
    status = response.status_code
    if status == 204:
        assert not response.data
        return
    assert status == 400, status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]


# --- the test --------------------------------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def fuzz_app(request, app, database_url, tmp_path):
    """The app under fuzzing: the ``app`` fixture (in-process buffer), or one on the same
    database with the Redis buffer, where text Redis cannot encode would fail the hot path."""
    if request.param == "memory":
        yield app
        return
    url, prefix = request.getfixturevalue("redis_url")
    redis_app = make_app(database_url, tmp_path / "redis", REDIS_URL=url, REDIS_PREFIX=prefix)
    with redis_app.app_context():
        yield redis_app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def counted_pushes(fuzz_app, monkeypatch):
    """Count the records that reach the buffer, to check that each persists exactly once."""
    buffer = ingest().buffer
    pushed = []
    original = buffer.push

    def push(records):
        original(records)
        pushed.extend(records)
    monkeypatch.setattr(buffer, "push", push)
    # Site settings do not change here: cache the directory as production does, instead of
    # TestingConfig's reload on every lookup (which would dominate the persisting time).
    monkeypatch.setattr(ingest().sites, "ttl", 60.0)
    return pushed


def flush():
    ingest().flush()  # must not raise: no record may poison its batch
    db.session.rollback()
    assert ingest().buffer.backlog() == 0


def test_malformed_requests_never_fail_and_persist_cleanly(fuzz_app, counted_pushes):
    site = accounts.create_site("example.com")
    accounts.create_site("example.net")  # a second site: /count must resolve by host or fail
    user = accounts.create_user("fuzz", PASSWORD, role="a")
    secret, token = accounts.create_token(user, "fuzz")[1], cache_token.make(site.id)
    fuzz_app.test_client_class = IsolatedClient
    client = fuzz_app.test_client()
    rng = random.Random(SEED)
    plan = [family for family, n in ROUNDS.items() for _ in range(n)]
    rng.shuffle(plan)
    makers = {"count": lambda: count_request(rng), "api": lambda: api_request(rng, secret),
              "umami": lambda: umami_request(rng, site, token),
              "basic": lambda: basic_request(rng)}
    checks = {"count": check_count, "api": check_api, "umami": check_umami,
              "basic": check_basic}
    statuses = {family: set() for family in ROUNDS}
    for number, family in enumerate(plan, 1):
        request = makers[family]()
        response = client.open(**request)
        context = f"request {number} ({family}): {request!r}"[:3000]
        assert response.status_code < 500, context
        try:
            check_sendable(response)
            checks[family](response, request)
        except (AssertionError, KeyError, TypeError) as exc:
            raise AssertionError(f"{context}\nanswer {response.status_code} "
                                 f"{dict(response.headers)} {response.data[:300]!r}") from exc
        statuses[family].add(response.status_code)
        if number % FLUSH_EVERY == 0:
            flush()
    flush()

    # The generator reached both the happy and the error paths of every family.
    assert {200, 400} <= statuses["count"]
    assert {202, 400} <= statuses["api"]
    assert {200, 400} <= statuses["umami"]
    assert {204, 400} <= statuses["basic"]
    scalar = db.session.scalar
    stored = scalar(select(func.count()).select_from(Hit))
    logged = scalar(select(func.count()).select_from(BotHit))
    assert stored > 300
    # Every record that reached the buffer became exactly one hit or one bot-log entry.
    assert stored + logged == len(counted_pushes)
    assert scalar(select(func.sum(IngestBatch.num_hits))) == stored
    assert scalar(select(func.sum(HitCount.pageviews))) == stored
    for path in db.session.scalars(select(Path)):
        assert path.event or path.path.startswith("/"), path.path
        assert path.path.strip() and "\x00" not in path.path and len(path.path) <= 2048


@pytest.mark.parametrize("host", ["a" * 64 + ".com", "a..b"])
@pytest.mark.parametrize("method, path", [("GET", "/count?p=/x"), ("POST", "/api/v0/count"),
                                          ("POST", "/api/collect"), ("POST", "/collect")])
def test_unparseable_host_is_a_400_not_a_crash(client, site, host, method, path):
    """werkzeug refuses such a Host before any view runs; the answer is a 400 in the family's
    shape where one is known (JSON under /api/v0/), plain text elsewhere."""
    response = client.open(path, method=method, data=b"{}", content_type="application/json",
                           headers={"Host": host.encode().decode("latin-1")})
    assert response.status_code == 400
    if path.startswith("/api/v0/"):
        assert response.mimetype == "application/json" and "error" in response.get_json()
    else:
        assert response.mimetype == "text/plain"
