"""Tokens made through the Basic API are ordinary Ibex tokens: they show on their owner's
API-token page (prefix only, never the secret) and revoking them there ends them in the API;
tokens made on that page work in the Basic API."""
import re

from app import accounts
from tests.conftest import PASSWORD, login


def test_api_tokens_on_the_ui_token_page(client, new_client, db):
    root = accounts.create_user("root", PASSWORD, role="*")
    made = client.post("/api/tokens/generate").json
    secret, ident = made["token"], made["id"]
    headers = {"Authorization": f"Bearer {secret}"}
    second = client.post("/api/tokens/generate", headers=headers).json

    browser = new_client()
    assert login(browser, root.username).status_code == 302
    page = browser.get("/user/tokens").get_data(as_text=True)
    assert page.count('<td class="tokenname">Basic API</td>') == 2
    assert f"<code>{secret[:6]}…</code>" in page
    assert secret not in page and second["token"] not in page
    assert "count, export, site read, site create, site update, stats" in page

    # Revoked on the page: the API refuses it at once and no longer lists it.
    response = browser.post(f"/user/tokens/{second['id']}/revoke")
    assert response.status_code == 302
    listed = client.get("/api/tokens", headers=headers).json
    assert [token["id"] for token in listed] == [ident]
    refused = client.get("/api/sites", headers={"Authorization": f"Bearer {second['token']}"})
    assert (refused.status_code, refused.json) == (401, {"error": "unauthorized"})


def test_a_token_made_on_the_page_works_in_the_basic_api(client, new_client, db, user):
    browser = new_client()
    assert login(browser, user.username).status_code == 302
    response = browser.post("/user/tokens", data={
        "name": "dashboard", "permissions": ["site-read", "stats"], "all_sites": "y"})
    assert response.status_code == 201
    secret = re.search(r'<code id="token-secret">([0-9a-z]+)</code>',
                       response.get_data(as_text=True))[1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/sites", headers=headers).status_code == 200
    assert client.get("/api/stats", headers=headers).status_code == 200
    # Without site-create it cannot add sites; the bootstrap is closed while it is active.
    assert client.post("/api/sites", json={"domain": "x.example"}, headers=headers).status_code \
        == 403
    assert client.post("/api/tokens/generate").status_code == 401
