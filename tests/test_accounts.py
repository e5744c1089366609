"""Account services: users, sites, tokens, ignore lists and the once-only first run."""
import threading

import pytest
from sqlalchemy import select

from app import accounts
from app.auth import check_credentials, load_user
from app.exceptions import AlreadyDone, ValidationError
from app.models import ApiToken, AppState, IgnoredIp, Site, User
from tests.conftest import PASSWORD


def test_passwords_are_hashed_with_argon2(app, db):
    user = accounts.create_user("bob", PASSWORD)
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert check_credentials("BOB", PASSWORD) == user
    assert check_credentials("bob", "wrong password") is None
    assert check_credentials("nobody", PASSWORD) is None


@pytest.mark.parametrize("username, password, email, field", [
    ("", PASSWORD, None, "username"),
    ("has space", PASSWORD, None, "username"),
    ("<b>", PASSWORD, None, "username"),
    ("ok", "short", None, "password"),
    ("ok", PASSWORD, "not-an-email", "email"),
])
def test_create_user_rejects_bad_input(app, username, password, email, field):
    with pytest.raises(ValidationError) as exc:
        accounts.create_user(username, password, email=email)
    assert field in exc.value.errors
    assert accounts.user_count() == 0


def test_usernames_are_unique_case_insensitively(app):
    accounts.create_user("Bob", PASSWORD)
    with pytest.raises(ValidationError, match="already exists"):
        accounts.create_user("bob", PASSWORD)


def test_password_change_ends_existing_sessions(app):
    user = accounts.create_user("bob", PASSWORD)
    old_session_id = user.get_id()
    assert load_user(old_session_id) == user
    accounts.set_password(user, "another good password")
    assert load_user(old_session_id) is None
    assert load_user(user.get_id()) == user
    assert check_credentials("bob", "another good password") == user


def test_last_superuser_is_protected(app):
    root = accounts.create_user("root", PASSWORD, role="*")
    with pytest.raises(ValidationError):
        accounts.update_user(root, role="a")
    with pytest.raises(ValidationError):
        accounts.delete_user(root)
    second = accounts.create_user("root2", PASSWORD, role="*")
    accounts.update_user(root, role="a")
    assert root.role == "a" and second.role == "*"


@pytest.mark.parametrize("raw, domain", [
    ("example.com", "example.com"),
    ("https://WWW.Example.ORG:8080/path?q=1", "www.example.org"),
    ("stats.example.co.uk.", "stats.example.co.uk"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("localhost", "localhost"),
])
def test_domains_are_normalised(raw, domain):
    assert accounts.normalise_domain(raw) == domain


@pytest.mark.parametrize("raw", ["", "exa mple.com", "-bad.com", "a..b", "[::1]",
                                 "x" * 64 + ".com", "<script>.com"])
def test_bad_domains_are_rejected(raw):
    with pytest.raises(ValidationError, match="valid domain"):
        accounts.normalise_domain(raw)


def test_create_site_generates_identifiers_and_defaults(app):
    site = accounts.create_site("Example.com", name="Example")
    assert site.cname == "example.com"
    assert site.code.startswith("serve-") and len(site.uuid) == 36
    assert site.setting("collect") == 190
    assert site.setting("ip_mode") == "anonymised"
    assert site.setting("public") == "private"
    assert site.state == "a"
    with pytest.raises(ValidationError, match="already exists"):
        accounts.create_site("EXAMPLE.com")


def test_deleted_sites_release_their_domain(app):
    site = accounts.create_site("example.com")
    accounts.delete_site(site)
    assert site.state == "d" and accounts.active_sites() == []
    assert accounts.create_site("example.com").id != site.id


def test_update_site_merges_settings(app):
    site = accounts.create_site("example.com")
    accounts.update_site(site, settings={"ip_mode": "none", "data_retention": 90})
    assert site.setting("ip_mode") == "none" and site.setting("data_retention") == 90
    assert site.setting("collect") == 190
    other = accounts.create_site("other.com")
    with pytest.raises(ValidationError, match="already exists"):
        accounts.update_site(other, domain="example.com")


def test_site_ignore_lists_hold_canonical_networks(app, db):
    site = accounts.create_site("example.com")
    accounts.set_ignored_ips(site, ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "192.0.2.7"])
    assert [e.network for e in site.ignored_ips] == ["10.0.0.0/8", "192.0.2.7/32",
                                                     "2001:db8::/32"]
    assert [e.display for e in site.ignored_ips] == ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
    with pytest.raises(ValidationError, match="10.0.0.1/8"):
        accounts.set_ignored_ips(site, ["1.2.3.4", "10.0.0.1/8"])
    with pytest.raises(ValidationError, match="nonsense"):
        accounts.set_ignored_ips(site, ["nonsense"])
    db.session.rollback()
    assert len(site.ignored_ips) == 3


def test_global_ignore_list_is_idempotent(app, db):
    assert accounts.add_global_ignored_ip("192.168.1.1") == "192.168.1.1/32"
    accounts.add_global_ignored_ip("192.168.1.1")
    assert db.session.scalars(select(IgnoredIp.network).where(
        IgnoredIp.site_id.is_(None))).all() == ["192.168.1.1/32"]
    with pytest.raises(ValidationError):
        accounts.add_global_ignored_ip("999.1.1.1")


def test_tokens_store_only_a_hash(app, db, user, site):
    token, secret = accounts.create_token(user, "ci", accounts.permission_bits(["count", "stats"]),
                                          [site.id])
    assert len(secret) == 50 and set(secret) <= set("0123456789abcdefghijklmnopqrstuvwxyz")
    row = db.session.execute(select(ApiToken.__table__).where(ApiToken.id == token.id)).one()
    assert all(secret not in str(value) for value in row)
    assert token.prefix == secret[:6]
    assert token.permissions == 2 | 64 and token.sites == [site.id]


def test_token_secrets_are_unique(app, user):
    secrets = {accounts.create_token(user, f"t{i}")[1] for i in range(20)}
    assert len(secrets) == 20


@pytest.mark.parametrize("names, bits", [
    (["all"], 126), (["count"], 2), (["export", "stats"], 68),
    (["count", "export", "site-read", "site-create", "site-update", "stats"], 126),
])
def test_permission_bits(names, bits):
    assert accounts.permission_bits(names) == bits


@pytest.mark.parametrize("names", [[], [""], ["admin"], ["count", "everything"]])
def test_permission_bits_reject_nonsense(names):
    with pytest.raises(ValidationError):
        accounts.permission_bits(names)


def test_create_token_validation(app, user, site):
    with pytest.raises(ValidationError) as exc:
        accounts.create_token(user, "", 1, [site.id + 99])
    assert set(exc.value.errors) == {"name", "permissions", "sites"}
    reader = accounts.create_user("reader", PASSWORD, role="r")
    with pytest.raises(ValidationError, match="only admins"):
        accounts.create_token(reader, "nope")


def test_first_run_creates_superuser_and_site_once(app, db):
    user = accounts.first_run("admin", PASSWORD, None, "example.org", "My site")
    assert user.role == "*"
    site = db.session.scalar(select(Site))
    assert site.cname == "example.org" and site.owner_id == user.id
    with pytest.raises(AlreadyDone):
        accounts.first_run("second", PASSWORD, None, "example.net", "")
    assert accounts.user_count() == 1


def test_first_run_with_bad_input_keeps_the_chance(app, db):
    with pytest.raises(ValidationError) as exc:
        accounts.first_run("admin", "short", None, "not a domain", "")
    assert set(exc.value.errors) == {"password", "domain"}
    assert db.session.scalar(select(AppState)) is None
    assert accounts.first_run("admin", PASSWORD, None, "example.org", "").role == "*"


def test_concurrent_first_runs_create_exactly_one_admin(app, db):
    results = []
    barrier = threading.Barrier(4)

    def attempt(n):
        with app.app_context():
            barrier.wait()
            try:
                accounts.first_run(f"admin{n}", PASSWORD, None, f"site{n}.example", "")
                results.append("ok")
            except (AlreadyDone, ValidationError):
                results.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["ok", "refused", "refused", "refused"]
    assert accounts.user_count() == 1
    assert len(accounts.active_sites()) == 1


def test_site_changes_reach_this_process_site_list_on_commit(database_url, tmp_path):
    """With a cached site list (SITE_CACHE_SECONDS), a committed site change is seen at once
    by the process that made it; a change rolled back leaves the cache alone."""
    from app.extensions import db as _db
    from app.ingest import ingest
    from tests.conftest import _empty_tables, make_app
    app = make_app(database_url, tmp_path, SITE_CACHE_SECONDS="3600")
    with app.app_context():
        try:
            sites = ingest().sites
            first = accounts.create_site("first.example")
            assert sites.by_host("first.example").id == first.id
            second = accounts.create_site("second.example")
            assert sites.by_host("second.example").id == second.id
            accounts.set_ignored_ips(second, ["192.0.2.0/24"])
            assert sites.is_ignored(sites.by_id(second.id), "192.0.2.9")
            accounts.update_site(second, domain="renamed.example")
            assert sites.by_host("second.example") is None
            accounts.delete_site(first)
            assert sites.by_host("first.example") is None
            loaded = sites.snapshot()
            with pytest.raises(ValidationError):
                accounts.create_site("renamed.example")  # taken: nothing changes
            assert sites.snapshot() is loaded
        finally:
            _db.session.remove()
            _empty_tables()
            _db.engine.dispose()
