"""`flask doctor`: each check's verdict and fix text on real services — migrated and un-migrated
databases on both backends, the shared Redis (appendonly no) and private redis-server processes
started here with the settings a check must catch — and the command's output and exit status."""
import os
import re
import socket
import subprocess
import time

import pytest
import redis as redis_lib
from flask_migrate import stamp, upgrade
from mmdb_writer import MMDBWriter
from netaddr import IPSet

import config
from app import create_app, doctor
from app.extensions import db
from tests.conftest import BACKENDS, REDIS_URL, new_pg_database

SECRET = "doctor-test-secret-key-0123456789abcdefghij"
LINE = re.compile(r"(OK  |WARN|FAIL)  [a-z-]+: .+")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(directory, *settings):
    """A redis-server of this test's own (the shared one's settings must not change); returns
    (url, process). Stop it with stop_redis."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", *settings], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_lib.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"redis-server {settings} did not start") from None
            time.sleep(0.02)
    client.close()
    return f"redis://127.0.0.1:{port}/0", process


def stop_redis(process):
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def durable_redis(tmp_path_factory):
    """Redis as production wants it: AOF on, no eviction."""
    url, process = start_redis(tmp_path_factory.mktemp("redis"), "--appendonly", "yes",
                               "--maxmemory-policy", "noeviction")
    yield url
    stop_redis(process)


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_url(request, tmp_path_factory):
    """A database built by `flask db upgrade`, one per backend."""
    if request.param == "sqlite":
        url, drop = "sqlite:///" + str(tmp_path_factory.mktemp("doctor") / "ibex.db"), None
    else:
        url, drop = new_pg_database()
    app = create_app(config.TestingConfig(env={
        "DATABASE_URL": url, "IBEX_INSTANCE_DIR": str(tmp_path_factory.mktemp("instance"))}))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    if drop:
        drop()


def write_geoip(path, built=None):
    """A tiny MaxMind City database; ``built`` (Unix seconds) back-dates its build epoch."""
    class Writer(MMDBWriter):
        def _build_meta(self):
            meta = super()._build_meta()
            return meta if built is None else {**meta, "build_epoch": int(built)}
    writer = Writer(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                    languages=["en"], description="Ibex doctor test")
    writer.insert_network(IPSet(["66.66.66.0/24"]), {"country": {"iso_code": "US"}})
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture(scope="module")
def fresh_geoip(tmp_path_factory):
    return write_geoip(tmp_path_factory.mktemp("geoip") / "city.mmdb")


@pytest.fixture
def production(migrated_url, durable_redis, fresh_geoip, tmp_path):
    """build(**env) → (app, results): a production app, good unless ``env`` says otherwise,
    and the doctor's results for it (as a dict by check name)."""
    apps = []

    def build(**env):
        settings = {"SECRET_KEY": SECRET, "DATABASE_URL": migrated_url,
                    "REDIS_URL": durable_redis, "PROXY_HOPS": "1", "GEOIP_DB": fresh_geoip,
                    "IBEX_INSTANCE_DIR": str(tmp_path / "instance"), **env}
        app = create_app(config.ProductionConfig(env={k: v for k, v in settings.items()
                                                      if v is not None}))
        apps.append(app)
        with app.app_context():
            return app, doctor.run(app, production=True)
    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def invoke(app, monkeypatch, ibex_config):
    """Run `flask doctor` on ``app`` (in an app context, as the flask command gives it)."""
    if ibex_config:
        monkeypatch.setenv("IBEX_CONFIG", ibex_config)
    else:
        monkeypatch.delenv("IBEX_CONFIG", raising=False)
    with app.app_context():
        return app.test_cli_runner().invoke(args=["doctor"])


def by_name(results):
    return {result.name: result for result in results}


def levels(results):
    return {result.name: result.level for result in results}


def scratch_database(tmp_path):
    """For checks that do not depend on the database: an empty SQLite file, one backend."""
    return f"sqlite:///{tmp_path}/scratch.db"


def embedded(database_url, tmp_path, config_class=config.TestingConfig, **env):
    settings = {"DATABASE_URL": database_url, "IBEX_INSTANCE_DIR": str(tmp_path / "instance"),
                **env}
    app = create_app(config_class(env=settings))
    with app.app_context():
        results = doctor.run(app, production=False)
        db.engine.dispose()
    return results


def test_a_good_production_config_passes(production, migrated_url, monkeypatch):
    app, results = production()
    expected = {name: "OK" for name in (
        "secret-key", "mode", "database", "migrations", "proxy-hops", "session-cookie", "geoip",
        "redis", "redis-persistence", "redis-eviction", "instance-dir", "exports-dir")}
    if migrated_url.startswith("sqlite"):
        expected["mode"] = "WARN"
        assert "set DATABASE_URL=postgresql://" in by_name(results)["mode"].message
    assert levels(results) == expected
    assert by_name(results)["migrations"].message.startswith("at head (")

    outcome = invoke(app, monkeypatch, "production")
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.output.splitlines()
    assert all(LINE.fullmatch(line) for line in lines[:-1]), lines
    assert lines[-1] == (f"{sum(v == 'OK' for v in expected.values())} OK, "
                         f"{sum(v == 'WARN' for v in expected.values())} WARN, 0 FAIL")


def test_the_shared_redis_without_aof_fails_with_the_fix(production, monkeypatch):
    app, results = production(REDIS_URL=REDIS_URL)
    persistence = by_name(results)["redis-persistence"]
    assert persistence.level == "FAIL"
    assert persistence.message.startswith("appendonly is no: hits waiting in the buffer are lost")
    assert "`appendonly yes`" in persistence.message and "CONFIG REWRITE" in persistence.message
    assert by_name(results)["redis-eviction"].level == "OK"

    outcome = invoke(app, monkeypatch, "production")
    assert outcome.exit_code == 1
    assert "FAIL  redis-persistence: appendonly is no" in outcome.output
    assert outcome.output.splitlines()[-1].endswith("1 FAIL: fix the FAIL lines first")


def test_redis_that_evicts_fails(production, tmp_path):
    url, process = start_redis(tmp_path, "--appendonly", "yes", "--maxmemory", "100mb",
                               "--maxmemory-policy", "allkeys-lru")
    try:
        _, results = production(REDIS_URL=url)
    finally:
        stop_redis(process)
    eviction = by_name(results)["redis-eviction"]
    assert eviction.level == "FAIL" and "maxmemory-policy is allkeys-lru" in eviction.message
    assert "`maxmemory-policy noeviction`" in eviction.message
    assert by_name(results)["redis-persistence"].level == "OK"


def test_redis_without_config_command_is_a_warning(production, tmp_path):
    url, process = start_redis(tmp_path, "--appendonly", "yes", "--rename-command", "CONFIG", "")
    try:
        _, results = production(REDIS_URL=url)
    finally:
        stop_redis(process)
    persistence = by_name(results)["redis-persistence"]
    assert persistence.level == "WARN"
    assert persistence.message.startswith("could not read Redis's configuration")
    assert "appendonly is yes" in persistence.message


def test_unreachable_redis_fails(production):
    _, results = production(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert by_name(results)["redis"].level == "FAIL"
    assert "Redis did not answer (ConnectionError): check REDIS_URL" in \
        by_name(results)["redis"].message


def test_proxy_hops_zero_in_production_warns(production):
    _, results = production(PROXY_HOPS=None)
    hops = by_name(results)["proxy-hops"]
    assert hops.level == "WARN"
    assert hops.message == ("PROXY_HOPS is 0: behind nginx set PROXY_HOPS=1 or client IPs will "
                            "all be the proxy's")
    _, results = production(PROXY_HOPS="3")
    assert by_name(results)["proxy-hops"].level == "WARN"
    assert "clients can forge their IP" in by_name(results)["proxy-hops"].message


def test_insecure_session_cookie_in_production_warns(production):
    _, results = production(SESSION_COOKIE_SECURE="false")
    cookie = by_name(results)["session-cookie"]
    assert cookie.level == "WARN" and "SESSION_COOKIE_SECURE is off" in cookie.message


def test_production_without_redis_fails_and_on_sqlite_warns(production, tmp_path):
    _, results = production(REDIS_URL=None, DATABASE_URL=f"sqlite:///{tmp_path}/ibex.db")
    modes = [r for r in results if r.name == "mode"]
    assert [m.level for m in modes] == ["FAIL", "WARN"]
    assert "without REDIS_URL" in modes[0].message and "`flask worker`" in modes[0].message
    assert "on SQLite: set DATABASE_URL=postgresql://" in modes[1].message


def test_short_or_testing_secret_keys_fail(tmp_path):
    database_url = scratch_database(tmp_path)
    short = by_name(embedded(database_url, tmp_path, SECRET_KEY="too-short"))["secret-key"]
    assert short.level == "FAIL"
    assert short.message.startswith("SECRET_KEY has 9 characters, fewer than 32")
    assert "secrets.token_urlsafe(48)" in short.message
    default = by_name(embedded(database_url, tmp_path))["secret-key"]
    assert default.level == "FAIL" and "test suite's public default" in default.message


def test_generated_key_file_must_not_be_readable_by_others(tmp_path):
    database_url = scratch_database(tmp_path)
    results = embedded(database_url, tmp_path, config.DevelopmentConfig)
    key = by_name(results)["secret-key"]
    key_file = tmp_path / "instance" / "secret_key"
    assert key.level == "OK" and str(key_file) in key.message and "mode 600" in key.message
    key_file.chmod(0o644)
    key = by_name(embedded(database_url, tmp_path, config.DevelopmentConfig))["secret-key"]
    assert key.level == "FAIL" and f"chmod 600 {key_file}" in key.message


def test_geoip_unset_missing_broken_or_old(tmp_path):
    database_url = scratch_database(tmp_path)
    unset = by_name(embedded(database_url, tmp_path))["geoip"]
    assert unset.level == "WARN" and unset.message.startswith("GEOIP_DB is not set")
    assert "set GEOIP_DB=/path/to/GeoLite2-City.mmdb" in unset.message

    missing = by_name(embedded(database_url, tmp_path, GEOIP_DB=str(tmp_path / "nope.mmdb")))
    assert missing["geoip"].level == "FAIL" and "no such file" in missing["geoip"].message

    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database" * 10)
    broken = by_name(embedded(database_url, tmp_path, GEOIP_DB=str(junk)))["geoip"]
    assert broken.level == "FAIL" and "is not a MaxMind database" in broken.message

    built = time.time() - 200 * 86400
    old = write_geoip(tmp_path / "old.mmdb", built=built)
    stale = by_name(embedded(database_url, tmp_path, GEOIP_DB=old))["geoip"]
    assert stale.level == "WARN"
    assert f"was built {time.strftime('%Y-%m-%d', time.gmtime(built))}, 200 days ago: " \
           "update it" in stale.message

    fresh = write_geoip(tmp_path / "fresh.mmdb", built=time.time() - 10 * 86400)
    assert by_name(embedded(database_url, tmp_path, GEOIP_DB=fresh))["geoip"].level == "OK"


def test_unmigrated_database_fails_with_the_upgrade_command(database_url, tmp_path):
    # The suite's database is built by create_all: tables, but no migration recorded.
    migrations = by_name(embedded(database_url, tmp_path))["migrations"]
    assert migrations.level == "FAIL"
    assert migrations.message == ("no migration recorded in the database: run "
                                  "`flask db upgrade`")


def test_database_behind_or_ahead_of_the_code(migrated_url, tmp_path):
    app = create_app(config.TestingConfig(env={"DATABASE_URL": migrated_url,
                                               "IBEX_INSTANCE_DIR": str(tmp_path)}))
    with app.app_context():
        try:
            stamp(revision="0004")
            behind = by_name(doctor.run(app, production=False))["migrations"]
            db.session.execute(db.text("UPDATE alembic_version SET version_num = 'f00d'"))
            db.session.commit()
            ahead = by_name(doctor.run(app, production=False))["migrations"]
        finally:
            db.session.rollback()
            stamp(revision="head", purge=True)
            db.engine.dispose()
    assert behind.level == "FAIL"
    assert re.fullmatch(r"the database is at 0004, this code needs \w+: run `flask db upgrade`",
                        behind.message)
    assert ahead.level == "WARN" and "at f00d, which this code" in ahead.message


def test_unreachable_database_fails(tmp_path):
    url = f"postgresql://ibex:db-password@127.0.0.1:{free_port()}/ibex"
    results = by_name(embedded(url, tmp_path))
    assert results["database"].level == "FAIL"
    assert results["database"].message.startswith("the database did not answer (OperationalError)")
    assert "migrations" not in results


def test_an_exports_path_that_is_a_file_fails(tmp_path):
    database_url = scratch_database(tmp_path)
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "exports").write_text("in the way")
    results = by_name(embedded(database_url, tmp_path))
    assert results["instance-dir"].level == "OK"
    assert results["exports-dir"].level == "FAIL"
    assert "is not a directory" in results["exports-dir"].message


def test_the_command_in_embedded_mode(app, monkeypatch):
    outcome = invoke(app, monkeypatch, None)
    # The suite's app: the testing secret key and no migration recorded.
    assert outcome.exit_code == 1
    assert "FAIL  secret-key:" in outcome.output and "FAIL  migrations:" in outcome.output
    assert "OK    mode: embedded default" in outcome.output
    assert all(LINE.fullmatch(line) for line in outcome.output.splitlines()[:-1])


def test_doctor_does_not_create_what_it_checks(tmp_path):
    database_url = scratch_database(tmp_path)
    embedded(database_url, tmp_path)
    assert not os.path.exists(tmp_path / "instance" / "exports")
