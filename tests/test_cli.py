"""The flask users|sites|tokens commands: their stable output, their errors, and what they store.
One test runs the real `flask` executable to prove the .flaskenv/wsgi wiring end to end."""
import base64
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

import config
from app import create_app
from app.auth import authenticate_token, verify_password
from app.exceptions import AuthError
from app.extensions import db as _db
from app.models import ApiToken, Site, User

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).with_name("flask")
PASSWORD = "correct horse battery"
SECRET_RE = re.compile(r"^[0-9a-z]{50}$")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=[str(arg) for arg in args])
    return run


@pytest.fixture
def admin(cli):
    result = cli("users", "create", "admin", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    return _db.session.scalar(select(User).where(User.username == "admin"))


def _token_secret(result):
    """The secret is alone on the last line of `tokens create`."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    secret = lines[-1]
    assert SECRET_RE.match(secret), lines
    assert all(secret not in line for line in lines[:-1])
    return secret


def _basic(secret):
    return "Basic " + base64.b64encode(b":" + secret.encode()).decode()


def _list_rows(result):
    assert result.exit_code == 0, result.output
    return [line.split("\t") for line in result.stdout.splitlines()]


# --- users -----------------------------------------------------------------------------------

def test_users_create_prints_the_new_user_and_stores_an_argon2_hash(cli, db):
    result = cli("users", "create", "bob", "--password", PASSWORD, "--email", "bob@example.org")

    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "bob"))
    assert result.stdout == f"id: {user.id}\nusername: bob\nrole: a\n"
    assert user.role == "a"  # the default
    assert user.email == "bob@example.org"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD + "x")


@pytest.mark.parametrize("role", ["r", "s", "a", "*"])
def test_users_create_with_a_role(cli, db, role):
    result = cli("users", "create", "carol", "--password", PASSWORD, "--role", role)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"role: {role}"
    assert db.session.scalar(select(User.role).where(User.username == "carol")) == role


def test_users_create_rejects_an_unknown_role(cli, db):
    result = cli("users", "create", "carol", "--password", PASSWORD, "--role", "x")

    assert result.exit_code != 0
    assert "--role" in result.output
    assert db.session.scalar(select(User).where(User.username == "carol")) is None


@pytest.mark.parametrize("username", ["admin", "ADMIN"])
def test_users_create_refuses_a_duplicate_username(cli, db, admin, username):
    result = cli("users", "create", username, "--password", "another password")

    assert result.exit_code != 0
    assert "Error: username: already exists" in result.output
    assert len(db.session.scalars(select(User)).all()) == 1


def test_users_create_refuses_a_short_password(cli, db):
    result = cli("users", "create", "dave", "--password", "1234567")

    assert result.exit_code != 0
    assert "Error: password: must be at least 8 characters" in result.output
    assert db.session.scalar(select(User).where(User.username == "dave")) is None


def test_users_create_refuses_a_bad_username(cli, db):
    result = cli("users", "create", "no spaces", "--password", PASSWORD)

    assert result.exit_code != 0
    assert "Error: username:" in result.output
    assert db.session.scalars(select(User)).all() == []


# --- sites -----------------------------------------------------------------------------------

def test_sites_create_prints_id_code_and_uuid_of_the_stored_site(cli, db):
    result = cli("sites", "create", "https://WWW.Example.org:8080/blog", "--name", "My blog")

    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"id: (\d+)\ncode: (\S+)\nuuid: ([0-9a-f-]{36})\n", result.stdout)
    assert match, result.stdout
    site = db.session.get(Site, int(match[1]))
    assert (site.code, site.uuid) == (match[2], match[3])
    assert site.cname == "www.example.org"
    assert site.name == "My blog"
    assert site.state == "a"


def test_sites_create_without_a_name_shows_the_domain(cli, db):
    result = cli("sites", "create", "example.net")

    assert result.exit_code == 0, result.output
    site_id = int(result.stdout.splitlines()[0].removeprefix("id: "))
    site = db.session.get(Site, site_id)
    assert site.display_name == "example.net"
    [listed] = [line.split("\t") for line in cli("sites", "list").stdout.splitlines()]
    assert listed[:4] == [str(site.id), "example.net", site.code, site.uuid]


@pytest.mark.parametrize("domain", ["not a domain", "exa_mple.org", "-bad.example", "[::1]", ""])
def test_sites_create_refuses_an_invalid_domain(cli, db, domain):
    result = cli("sites", "create", "--", domain)

    assert result.exit_code != 0
    assert "Error: domain: must be a valid domain" in result.output
    assert db.session.scalars(select(Site)).all() == []


def test_sites_create_refuses_a_duplicate_domain(cli, db):
    assert cli("sites", "create", "example.net").exit_code == 0

    result = cli("sites", "create", "EXAMPLE.net")

    assert result.exit_code != 0
    assert "Error: domain: already exists" in result.output
    assert len(db.session.scalars(select(Site)).all()) == 1


# --- tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("permissions, bits, names", [
    ("count", 2, ["count"]),
    ("count,export", 6, ["count", "export"]),
    ("site-read,site-create,site-update", 56, ["site-read", "site-create", "site-update"]),
    ("stats", 64, ["stats"]),
    ("all", 126, ["count", "export", "site-read", "site-create", "site-update", "stats"]),
])
def test_tokens_create_secret_authenticates_with_the_requested_permissions(
        cli, db, admin, permissions, bits, names):
    result = cli("tokens", "create", "--user", "admin", "--name", "deploy",
                 "--permissions", permissions)
    secret = _token_secret(result)

    token = authenticate_token("Bearer " + secret)
    assert token.permissions == bits
    assert token.permission_names == names
    assert token.sites == [-1]
    assert token.name == "deploy"
    assert token.user_id == admin.id
    assert result.stdout.splitlines()[:-1] == [f"id: {token.id}",
                                               f"permissions: {','.join(names)}"]
    assert authenticate_token(_basic(secret)).id == token.id


def test_tokens_create_defaults_to_all_permissions_and_all_sites(cli, admin):
    secret = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "everything"))

    token = authenticate_token("Bearer " + secret)
    assert token.permissions == 126
    assert token.sites == [-1]
    assert token.allows_site(12345)


def test_tokens_create_limited_to_sites(cli, db, admin):
    ids = []
    for domain in ("a.example", "b.example", "c.example", "d.example"):
        result = cli("sites", "create", domain)
        assert result.exit_code == 0, result.output
        ids.append(int(result.stdout.splitlines()[0].removeprefix("id: ")))
    third, fourth = ids[2], ids[3]

    secret = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "two sites",
                               "--permissions", "stats", "--site", third, "--site", fourth))

    token = authenticate_token(_basic(secret))
    assert token.sites == [third, fourth]
    assert token.allows_site(third) and token.allows_site(fourth)
    assert not token.allows_site(ids[0])
    [row] = _list_rows(cli("tokens", "list"))
    assert row[4] == f"{third},{fourth}"


def test_tokens_create_stores_only_a_hash_of_the_secret(cli, db, admin):
    cli("sites", "create", "example.net")
    secret = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "hashed"))

    rows = db.session.execute(select(ApiToken.__table__)).mappings().all()
    assert len(rows) == 1
    assert ApiToken.hash_secret(secret) == rows[0]["secret_hash"] != secret
    assert rows[0]["prefix"] == secret[:6]
    for column, value in rows[0].items():
        assert secret not in str(value), column
    # … nor in any other table.
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            assert secret not in repr(tuple(row)), table.name


def test_tokens_create_errors(cli, db, admin):
    assert cli("users", "create", "reader", "--password", PASSWORD, "--role", "r").exit_code == 0
    cases = [
        (["--user", "ghost"], "Error: no user 'ghost'"),
        (["--user", "reader"], "only admins can create and use API keys"),
        (["--user", "admin", "--permissions", "count,bogus"], "unknown: bogus"),
        (["--user", "admin", "--permissions", ","], "must select at least one"),
        (["--user", "admin", "--site", "999"], "Error: sites: no such site"),
    ]
    for args, message in cases:
        result = cli("tokens", "create", "--name", "nope", *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert not SECRET_RE.match(result.output.splitlines()[-1])
    assert db.session.scalars(select(ApiToken)).all() == []


def test_tokens_create_requires_user_and_name(cli, admin):
    assert cli("tokens", "create", "--name", "x").exit_code != 0
    assert cli("tokens", "create", "--user", "admin").exit_code != 0


def test_tokens_list_shows_active_tokens_without_secrets(cli, admin):
    first = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "one",
                              "--permissions", "count,export"))
    second = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "two"))
    one, two = authenticate_token("Bearer " + first), authenticate_token("Bearer " + second)

    result = cli("tokens", "list")
    rows = _list_rows(result)

    assert first not in result.output and second not in result.output
    assert [row[:6] for row in rows] == [
        [str(one.id), "one", "admin", "count,export", "all", first[:6] + "…"],
        [str(two.id), "two", "admin", "count,export,site-read,site-create,site-update,stats",
         "all", second[:6] + "…"],
    ]
    for row in rows:
        assert len(row) == 9
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[6])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[7])  # authenticated above
        assert row[8] == "active"


def test_tokens_list_says_never_for_an_unused_token(cli, admin):
    _token_secret(cli("tokens", "create", "--user", "admin", "--name", "unused"))

    [row] = _list_rows(cli("tokens", "list"))
    assert row[7] == "never"


def test_tokens_revoke_stops_the_token_at_once(cli, admin):
    keep = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "keep"))
    drop = _token_secret(cli("tokens", "create", "--user", "admin", "--name", "drop"))
    token_id = authenticate_token("Bearer " + drop).id

    result = cli("tokens", "revoke", token_id)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"revoked {token_id}\n"
    for header in ("Bearer " + drop, _basic(drop)):
        with pytest.raises(AuthError) as raised:
            authenticate_token(header)
        assert raised.value.reason == "unknown"
    assert authenticate_token("Bearer " + keep).name == "keep"
    assert [row[1] for row in _list_rows(cli("tokens", "list"))] == ["keep"]
    everything = {row[1]: row for row in _list_rows(cli("tokens", "list", "--all"))}
    assert set(everything) == {"keep", "drop"}
    assert everything["keep"][8] == "active"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", everything["drop"][8])
    # Revoking again is harmless and keeps the first revocation time.
    again = cli("tokens", "revoke", token_id)
    assert again.exit_code == 0
    assert {row[1]: row for row in _list_rows(cli("tokens", "list", "--all"))}["drop"][8] \
        == everything["drop"][8]


def test_tokens_revoke_an_unknown_id_fails(cli, admin):
    _token_secret(cli("tokens", "create", "--user", "admin", "--name", "keep"))

    result = cli("tokens", "revoke", 999)

    assert result.exit_code != 0
    assert "Error: no token 999" in result.output
    assert [row[-1] for row in _list_rows(cli("tokens", "list"))] == ["active"]


# --- the real executable ---------------------------------------------------------------------

def _flask_env(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("FLASK_", "IBEX_")) and key not in (
               "SECRET_KEY", "DATABASE_URL", "REDIS_URL")}
    env.update(FLASK_APP="wsgi", IBEX_INSTANCE_DIR=str(tmp_path / "instance"),
               DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    return env


def _flask(env, *args):
    result = subprocess.run([str(FLASK), *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_flask_executable_end_to_end(tmp_path):
    env = _flask_env(tmp_path)
    _flask(env, "db", "upgrade")
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32

    _flask(env, "users", "create", "admin", "--password", PASSWORD)
    site_out = _flask(env, "sites", "create", "example.org", "--name", "Example")
    token_out = _flask(env, "tokens", "create", "--user", "admin", "--name", "ci",
                       "--permissions", "count,stats")
    # Without FLASK_APP the .flaskenv file names the app.
    env_without_app = {k: v for k, v in env.items() if k != "FLASK_APP"}
    listed = _flask(env_without_app, "sites", "list")

    match = re.fullmatch(r"id: (\d+)\ncode: (\S+)\nuuid: ([0-9a-f-]{36})\n", site_out)
    assert match, site_out
    assert listed.split("\t")[:4] == [match[1], "example.org", match[2], match[3]]
    secret = token_out.splitlines()[-1]
    assert SECRET_RE.match(secret), token_out
    # The key was generated once and reused by every later command.
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    app = create_app(config.TestingConfig(env={"DATABASE_URL": env["DATABASE_URL"],
                                               "IBEX_INSTANCE_DIR": str(tmp_path / "other")}))
    with app.app_context():
        try:
            site = _db.session.get(Site, int(match[1]))
            assert (site.code, site.uuid, site.name) == (match[2], match[3], "Example")
            token = authenticate_token(_basic(secret))
            assert token.permissions == 2 | 64
            assert token.user.username == "admin"
            assert secret not in repr(
                _db.session.execute(select(ApiToken.__table__)).all())
        finally:
            _db.session.remove()
            _db.engine.dispose()


def test_flask_jobs_lists_the_schedule_and_runs_a_job(cli):
    listed = cli("jobs", "list")
    assert listed.exit_code == 0, listed.output
    names = [line.split("\t")[0] for line in listed.output.splitlines() if "\t" in line]
    assert {"purge-expired-hits", "purge-bot-log", "delete-expired-sessions",
            "delete-expired-exports"} <= set(names)
    ran = cli("jobs", "run", "purge-bot-log")
    assert ran.exit_code == 0, ran.output
    assert cli("jobs", "run", "no-such-job").exit_code != 0
