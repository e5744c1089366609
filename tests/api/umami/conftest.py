"""Fixtures of the Umami API tests: a logged-in Umami client (cookie or Bearer), a second
non-admin account, and Umami hits stored through /api/collect and the persister."""
import contextlib

import pytest

from app import accounts, clock
from tests.conftest import PASSWORD

UA_CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                 "(KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36")
UA_FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:88.0) Gecko/20100101 Firefox/88.0"
UA_SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 14_4 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/14.0.3 Mobile/15E148 Safari/604.1")


def umami_login(client, username, password=PASSWORD):
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.data
    return response.json["token"]


@pytest.fixture
def token(client, user):
    """alice's login token; ``client`` now carries the umami.auth cookie too."""
    return umami_login(client, user.username)


@pytest.fixture
def bob(app):
    """A non-admin account (Umami's is_admin false)."""
    return accounts.create_user("bob", PASSWORD, role="s")


@pytest.fixture
def owned_site(app, user):
    """A site owned by alice (the admin)."""
    return accounts.create_site("owned.example", name="Owned", owner=user)


@pytest.fixture
def collect(app, store_hits):
    """collect(site, kind, payload, ua=…, ip=…, at=unix seconds): one hit through the Umami
    payload mapping and the real persister (created_at set as the clock would)."""
    from app.tracking import payloads

    def send(site, kind="pageview", ua=UA_CHROME_WIN, ip="203.0.113.9", at=None, **payload):
        payload.setdefault("hostname", "example.com")
        payload.setdefault("screen", "1920x1080")
        payload.setdefault("language", "en-US")
        hit = payloads.umami_hit(kind, payload, site.id, ua, ip)
        if at is not None:
            hit.created_at = at
        return store_hits(hit)
    return send


@contextlib.contextmanager
def frozen(moment):
    """utcnow() pinned to ``moment`` for the block."""
    clock.freeze(moment)
    try:
        yield
    finally:
        clock.freeze(None)
