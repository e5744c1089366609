"""Fixtures of the Basic API tests: a full-permission token of an admin and its header."""
import pytest

from app import accounts

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
FIREFOX_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 "
               "Firefox/121.0")


@pytest.fixture
def secret(user):
    """The secret of an all-permission, all-sites token of the admin ``user``."""
    _token, secret = accounts.create_token(user, "basic tests")
    return secret


@pytest.fixture
def auth(secret):
    return {"Authorization": f"Bearer {secret}"}
