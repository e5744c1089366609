"""A property-based fuzz run: schemathesis generates requests for every operation of
/openapi.json and sends them to a real app on SQLite, with a seeded admin, site, pageviews and
tokens so authenticated operations run past their login checks. No request may answer 5xx; a
failure names the request, the answer and the traceback the app logged. Bounded: a fixed seed
and a few examples per operation (IBEX_FUZZ_EXAMPLES and IBEX_FUZZ_SEED for a longer or another
run)."""
import itertools
import logging
import os
import traceback

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from app import accounts
from app.api.goatcounter.schemas import Bool
from app.extensions import db
from app.models import ALL_PERMISSIONS, ApiToken, Site, User
from tests.conftest import PASSWORD, make_app

EXAMPLES = int(os.environ.get("IBEX_FUZZ_EXAMPLES", "4"))
SEED = int(os.environ.get("IBEX_FUZZ_SEED", "20261130"))
# Requests that may change what later requests rely on (a site deleted, a token revoked, a
# password changed): the seed is checked after each, and made anew if it was.
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Seed:
    """An admin, a site with pageviews (sharing on), a GoatCounter token for that site, a Basic
    token for all sites and an Umami login token; made anew whenever a request may have
    deleted or revoked one of them."""

    counter = itertools.count(1)

    def __init__(self, app):
        self.app = app
        self.make(with_hits=True)

    def make(self, with_hits=False):
        from app.api.umami import auth, services
        from app.ingest import ingest
        from app.ingest.hit_in import HitIn
        number = next(self.counter)
        with self.app.app_context():
            user = accounts.create_user(f"fuzz{number}", PASSWORD, role="a")
            site = accounts.create_site(f"fuzz{number}.example.com", name="Fuzzed", owner=user)
            services.update_website(site, None, None, True)
            self.domain, self.site_id, self.user_id = site.cname, site.id, user.id
            self.share_id = site.share_id
            gc_token, self.goatcounter = accounts.create_token(user, "fuzz", ALL_PERMISSIONS,
                                                               [site.id])
            basic_token, self.basic = accounts.create_token(user, "fuzz basic")
            self.token_ids = (gc_token.id, basic_token.id)
            self.token_id = basic_token.id
            self.umami = auth.issue_login_token(user)
            if with_hits:
                ingest().push(*(HitIn(site_id=site.id, path=f"/page/{n % 3}", title="Page",
                                      referrer="https://ref.example.org/", width=1280,
                                      user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
                                      ip=f"192.0.2.{n}") for n in range(1, 12)))
                ingest().flush()
            db.session.remove()

    def refresh(self):
        """Make the seed anew if a request deleted, revoked or changed part of it."""
        from app.api.umami import auth
        with self.app.app_context():
            user, site = db.session.get(User, self.user_id), db.session.get(Site, self.site_id)
            tokens = [db.session.get(ApiToken, token_id) for token_id in self.token_ids]
            intact = (user is not None and user.is_admin and site is not None and site.active
                      and (site.cname, site.share_id) == (self.domain, self.share_id)
                      and all(token is not None and token.active for token in tokens)
                      and auth.login_for(self.umami) is not None)
            db.session.remove()
        if not intact:
            self.make()

    def path_values(self):
        """Path parameters naming the seeded objects, for the cases that use them."""
        return {"site_id": self.site_id, "website_id": self.site_id, "user_id": self.user_id,
                "token_id": self.token_id, "share_id": self.share_id, "domain": self.domain,
                "path_id": 1, "page": "browsers", "key": "Firefox"}

    def headers(self, family):
        token = {"GoatCounter": self.goatcounter, "Umami": self.umami, "Basic": self.basic}
        if family == "Tracking":
            return {"Origin": f"https://{self.domain}"}
        return {"Authorization": f"Bearer {token[family]}"} if family in token else {}


class Logged(logging.Handler):
    """What the app logged while answering, tracebacks included."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.lines.append(text)


@pytest.fixture
def fuzzed(tmp_path):
    """(schema, seed, log): /openapi.json of a fresh app on SQLite with its seed."""
    app = make_app("sqlite:///" + str(tmp_path / "fuzz.db"), tmp_path)
    with app.app_context():
        db.create_all()
    seed = Seed(app)
    log = Logged()
    app.logger.addHandler(log)
    config = SchemathesisConfig.from_dict({
        "seed": SEED, "generation": {"max-examples": EXAMPLES, "database": "none"},
        # Generated cases only: the schema's own examples cannot carry use_seeded_ids.
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False},
                   "stateful": {"enabled": False}},
        "suppress-health-check": ["all"], "warnings": False})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    yield schema, seed, log
    app.logger.removeHandler(log)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fuzz_schema(fuzzed):
    return fuzzed[0]


schema = schemathesis.pytest.from_fixture("fuzz_schema")


def deliberate_5xx(case, status):
    """GoatCounter's /api/v0/test answers the status it is asked for and fails on ``panic``
    (spec §5.12): conformance tests rely on both."""
    if case.path != "/api/v0/test":
        return False
    args = case.query if case.method == "GET" else case.body
    if not isinstance(args, dict):
        return False
    return (str(args.get("panic")).strip().lower() in Bool.TRUE
            or str(args.get("status")).strip() == str(status))


@schema.parametrize()
@schema.given(use_seeded_ids=st.booleans())
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_request_answers_5xx(case, use_seeded_ids, fuzzed):
    _, seed, log = fuzzed
    family = (case.operation.definition.raw.get("tags") or ["Other"])[0]
    if use_seeded_ids:
        values = seed.path_values()
        for name in case.path_parameters:
            if name in values:
                case.path_parameters[name] = values[name]
    log.lines.clear()
    response = case.call(headers=seed.headers(family))
    if case.method not in SAFE_METHODS:
        seed.refresh()
    if response.status_code < 500 or deliberate_5xx(case, response.status_code):
        return
    query = "&".join(f"{k}={v}" for k, v in (case.query or {}).items())
    body = None if type(case.body).__name__ == "NotSet" else case.body
    pytest.fail(
        f"{case.method} {case.formatted_path}{'?' + query if query else ''} answered "
        f"{response.status_code}\nsent as: {family} (seeded credentials)\n"
        f"request headers: {dict(case.headers or {})}\nrequest body: {body!r}\n"
        f"response: {response.text[:2000]}\napp log:\n" + "\n".join(log.lines), pytrace=False)
