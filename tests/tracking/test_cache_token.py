"""Umami's cache token: the JWT Umami sends ({"alg":"HS256"} only), made once a second per site."""
import jwt
import pytest

from app.tracking import cache_token


@pytest.mark.parametrize("site_id", [1, 42, 2 ** 31 - 1])
def test_tokens_are_the_jwts_pyjwt_makes(app, monkeypatch, site_id):
    monkeypatch.setattr(cache_token.time, "time", lambda: 1796050000.75)
    expected = jwt.encode({"website_id": site_id, "iat": 1796050000}, cache_token._key(),
                          algorithm="HS256", headers={"typ": None})
    assert cache_token.make(site_id) == expected


def test_tokens_are_read_back_and_forgeries_refused(app):
    token = cache_token.make(7)
    assert cache_token.read(token) == 7
    assert cache_token.read(token) == 7  # remembered
    forged = jwt.encode({"website_id": 8, "iat": 1}, "another key", algorithm="HS256")
    assert cache_token.read(forged) is None
    head, claims, _ = token.split(".")
    assert cache_token.read(f"{head}.{claims}.AAAA") is None
    for junk in ("", "x", None, 7, "a.b.c", "x" * 2049):
        assert cache_token.read(junk) is None


def test_a_token_of_another_secret_is_refused_even_when_remembered(app, database_url, tmp_path):
    from tests.conftest import make_app
    token = cache_token.make(7)
    assert cache_token.read(token) == 7
    other = make_app(database_url, tmp_path, SECRET_KEY="another-secret-key-of-enough-length-123")
    with other.app_context():
        assert cache_token.read(token) is None


def test_a_new_second_or_another_secret_makes_a_new_token(app, database_url, tmp_path, monkeypatch):
    now = [1796050000.1]
    monkeypatch.setattr(cache_token.time, "time", lambda: now[0])
    first = cache_token.make(3)
    now[0] = 1796050000.9
    assert cache_token.make(3) == first            # the same second: the same token
    assert cache_token.make(4) != first
    now[0] = 1796050001.0
    later = cache_token.make(3)
    assert later != first
    assert jwt.decode(later, cache_token._key(), algorithms=["HS256"]) == {
        "website_id": 3, "iat": 1796050001}
    from tests.conftest import make_app
    other = make_app(database_url, tmp_path, SECRET_KEY="another-secret-key-of-enough-length-123")
    with other.app_context():
        theirs = cache_token.make(3)
        assert theirs != later and cache_token.read(theirs) == 3
