"""GET /api/v0/me (spec §5.1) and the authentication rules every endpoint shares (spec §2.3),
seen through /me: header formats, unknown and revoked tokens, non-admin users, site access."""
import base64
import json

import pytest

from app import accounts
from app.extensions import db


def bearer(token):
    return {"Authorization": f"Bearer {token.secret}"}


def test_me_answers_the_user_and_the_token(client, user, site, api_token):
    response = client.get("/api/v0/me", headers=bearer(api_token))
    assert response.status_code == 200
    body = response.get_json()
    assert body["token"] == {"name": "test token", "permissions": 126, "sites": [-1]}
    me = body["user"]
    assert list(me) == ["id", "site", "email", "email_verified", "totp_enabled", "access",
                        "login_at", "open_at", "reset_at", "settings", "last_report_at",
                        "created_at", "updated_at"]
    assert me["id"] == user.id and me["site"] == site.id and me["email"] == "alice@example.org"
    assert me["access"] == {"all": "a"}
    assert me["email_verified"] is False and me["totp_enabled"] is False
    assert me["created_at"].endswith("Z") and me["updated_at"] is None


def test_me_user_settings_have_goatcounter_defaults(client, api_token):
    settings = client.get("/api/v0/me", headers=bearer(api_token)).get_json()["user"]["settings"]
    assert settings["language"] == "en-GB"
    assert settings["date_format"] == "2 Jan ’06"
    assert settings["number_format"] == 8239
    assert settings["timezone"] == ".UTC"
    assert settings["views"] == [{"name": "default", "filter": "", "group": 0, "period": "week"}]
    assert [widget["n"] for widget in settings["widgets"]] == [
        "pages", "totalpages", "toprefs", "campaigns", "browsers", "systems", "locations",
        "languages", "sizes"]
    assert settings["widgets"][0]["s"] == {"limit_pages": 10, "limit_refs": 10, "style": "line"}
    assert {"email_reports", "fewer_numbers", "theme", "datepicker", "twenty_four_hours",
            "sunday_starts_week", "fewer_numbers_lock_until"} <= set(settings)


def test_me_never_shows_secrets(client, user, api_token):
    text = client.get("/api/v0/me", headers=bearer(api_token)).get_data(as_text=True)
    assert "argon2" not in text and user.password_hash not in text
    assert api_token.secret not in text and "session_token" not in text
    assert user.session_token not in text


def test_me_takes_any_token_and_ignores_the_query_string(client, user, site):
    token, secret = accounts.create_token(user, "count only", permissions=2)
    response = client.get("/api/v0/me?whatever=1", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.get_json()["token"]["permissions"] == 2


def test_basic_auth_with_any_username(client, api_token):
    for user_part in ("", "anyone"):
        credentials = base64.b64encode(f"{user_part}:{api_token.secret}".encode()).decode()
        response = client.get("/api/v0/me", headers={"Authorization": f"Basic {credentials}"})
        assert response.status_code == 200, user_part


@pytest.mark.parametrize("header, message", [
    (None, "no Authorization header"),
    ("Bearer", "wrong format for Authorization header"),
    ("Bearer a b", "wrong format for Authorization header"),
    ("bearer abcdefghijkl", "wrong format for Authorization header"),
    ("Token abcdefghijkl", "wrong format for Authorization header"),
    ("Basic !!!not-base64", "wrong format for Authorization header"),
    ("Bearer nosuchtoken1234567890", "unknown token"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "unknown token"),
    ("Basic " + base64.b64encode(b"user:").decode(), "unknown token"),
])
def test_401s_have_goatcounter_texts_and_www_authenticate(client, site, header, message):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v0/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": message}
    assert response.headers["WWW-Authenticate"] == "Basic realm=GoatCounter"


def test_revoked_token_is_unknown(client, api_token):
    accounts.revoke_token(api_token)
    response = client.get("/api/v0/me", headers=bearer(api_token))
    assert response.status_code == 401 and response.get_json() == {"error": "unknown token"}


def test_token_of_a_user_who_is_no_longer_admin_is_401(client, user, api_token):
    accounts.update_user(user, role="s")
    response = client.get("/api/v0/me", headers=bearer(api_token))
    assert response.status_code == 401
    assert response.get_json() == {"error": "only admins can create and use API keys"}


def test_token_not_valid_for_the_addressed_site_is_403(client, user, site):
    other = accounts.create_site("other.example")
    token, secret = accounts.create_token(user, "other only", sites=[other.id])
    response = client.get("/api/v0/me", headers={"Authorization": f"Bearer {secret}",
                                                 "Host": "example.com"})
    assert response.status_code == 403
    assert response.get_json() == {"error": "this token does not have access to this site"}
    # Without a Host naming a site, the token's single site is the one addressed.
    response = client.get("/api/v0/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.get_json()["user"]["site"] == other.id


def test_site_is_addressed_by_host_then_token_then_the_only_site(client, user, site, api_token):
    other = accounts.create_site("other.example")
    response = client.get("/api/v0/me", headers={**bearer(api_token), "Host": "OTHER.example:8080"})
    assert response.get_json()["user"]["site"] == other.id
    # Two sites, an all-sites token and a Host that is no site's: nothing is addressed.
    response = client.get("/api/v0/me", headers=bearer(api_token))
    assert response.status_code == 400
    assert response.get_json() == {"error": 'no site at this domain ("localhost")'}


def test_no_site_at_all_is_400(client, user):
    token, secret = accounts.create_token(user, "t")
    db.session.execute(db.text("UPDATE sites SET state = 'd'"))
    db.session.commit()
    response = client.get("/api/v0/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 400
    assert json.loads(response.data)["error"].startswith("no site at this domain")
