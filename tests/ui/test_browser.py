"""A real browser (Debian's Chromium through Playwright) walks first-run setup, logout, login
and the API-token pages of a live server with CSRF protection on, so every form it submits must
carry a real CSRF token."""
import re
import threading

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from app import accounts
from app.auth import authenticate_token
from app.exceptions import AuthError
from app.extensions import db
from app.models import ApiToken
from tests.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USERNAME = "admin"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(tmp_path):
    """Ibex on its own SQLite database, served by a threaded werkzeug server, CSRF enabled."""
    app = make_app("sqlite:///" + str(tmp_path / "browser.db"), tmp_path)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ibex-live-server", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()
        finally:
            browser.close()


def _open_user_menu(page):
    menu = page.locator("details.usermenu")
    menu.locator("summary", has_text=USERNAME).click()
    expect(menu).to_have_attribute("open", "")
    return menu


def test_setup_login_and_api_tokens_in_a_real_browser(live_server, page, tmp_path):
    app, base = live_server
    console_errors, dialogs, static_status = [], [], {}
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(f"uncaught: {exc}"))
    page.on("response", lambda response: static_status.__setitem__(response.url, response.status)
            if "/static/" in response.url else None)

    def accept(dialog):
        dialogs.append((dialog.type, dialog.message))
        dialog.accept()
    page.on("dialog", accept)

    # CSRF really is enforced: a POST without the token is refused and sets nothing up.
    refused = page.request.post(base + "/setup", form={
        "username": USERNAME, "password": PASSWORD, "confirm": PASSWORD, "domain": "evil.example"})
    assert refused.status == 400
    assert "not sent from an Ibex page" in refused.text()
    with app.app_context():
        assert accounts.user_count() == 0

    # First run: / leads to the setup page.
    page.goto(base + "/")
    expect(page).to_have_url(base + "/setup")
    expect(page.get_by_role("heading", name="Welcome to Ibex")).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "object"
    assert static_status.get(base + "/static/vendor/htmx.min.js") == 200
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("Your site's domain").fill("example.org")
    page.get_by_role("button", name="Create account and site").click()

    # … and lands on the new site's tracking code.
    expect(page).to_have_url(re.compile(re.escape(base) + r"/sites/\d+/tracking$"))
    expect(page.get_by_text("Welcome to Ibex. Add the tracking code")).to_be_visible()
    with app.app_context():
        [site] = accounts.active_sites()
        assert site.cname == "example.org"
        site_uuid = site.uuid
    expect(page.get_by_role("heading", name="example.org")).to_be_visible()
    snippets = page.locator(".snippet code")
    expect(snippets).to_have_count(3)
    expect(snippets.nth(0)).to_have_text(
        f'<script data-goatcounter="{base}/count" async src="{base}/count.js"></script>')
    expect(snippets.nth(1)).to_have_text(
        f'<script async defer data-website-id="{site_uuid}" src="{base}/umami.js"></script>')
    expect(snippets.nth(2)).to_have_text(f'<script src="{base}/track.js" defer></script>')

    # Log out through the user menu.
    menu = _open_user_menu(page)
    menu.get_by_role("menuitem", name="Log out").click()
    expect(page).to_have_url(base + "/login")
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    expect(page.locator("details.usermenu")).to_have_count(0)
    page.goto(base + "/user/tokens")
    expect(page).to_have_url(re.compile(re.escape(base) + r"/login\?next="))

    # Log in again.
    page.goto(base + "/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()

    # Create an API token through the user menu.
    menu = _open_user_menu(page)
    menu.get_by_role("menuitem", name="API tokens").click()
    expect(page).to_have_url(base + "/user/tokens")
    expect(page.get_by_text("You have no API tokens yet.")).to_be_visible()
    page.get_by_label("Name").fill("browser token")
    page.get_by_label("Record pageviews").check()
    page.get_by_label("Read statistics").check()
    page.get_by_role("button", name="Create token").click()

    expect(page.get_by_role("heading", name="Token “browser token” created")).to_be_visible()
    secret = page.locator("#token-secret").inner_text().strip()
    assert re.fullmatch(r"[0-9a-z]{50}", secret), secret
    with app.app_context():
        token = authenticate_token("Bearer " + secret)
        assert token.name == "browser token"
        assert token.permissions == 2 | 64
        assert token.permission_names == ["count", "stats"]
        assert token.sites == [-1]
        assert token.user.username == USERNAME
        token_id = token.id
        db.session.remove()

    # Shown once: the tokens page no longer has the secret, but lists the token.
    page.goto(base + "/user/tokens")
    expect(page.get_by_role("heading", name="Your tokens")).to_be_visible()
    expect(page.locator("#token-secret")).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("tbody tr", has_text="browser token")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(secret[:6] + "…")
    expect(row).to_contain_text("count, stats")
    expect(row.locator("td").nth(5)).not_to_have_text("never")  # used by the check above

    # Revoke it (the form asks for confirmation).
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token browser token revoked; it no longer works.")).to_be_visible()
    assert dialogs == [("confirm", "Revoke browser token? Programs using it stop working.")]
    expect(page).to_have_url(base + "/user/tokens")
    row = page.locator("tbody tr", has_text="browser token")
    expect(row).to_have_class("revoked")
    expect(row.locator("td.actions")).to_have_text(re.compile(r"^\s*revoked \d{4}-\d\d-\d\d\s*$"))
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    with app.app_context():
        with pytest.raises(AuthError):
            authenticate_token("Bearer " + secret)
        assert db.session.get(ApiToken, token_id).revoked_at is not None
        db.session.remove()

    screenshot = tmp_path / "api-tokens.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert console_errors == []
    assert static_status and all(status in (200, 304) for status in static_status.values()), \
        static_status
