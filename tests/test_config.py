"""Configuration: environment variables, the embedded secret key, production refusals, proxies."""
import os
import stat

import pytest
from flask import request

import config
from app import create_app


def test_defaults_are_the_embedded_mode(tmp_path):
    cfg = config.DevelopmentConfig(env={"IBEX_INSTANCE_DIR": str(tmp_path)})
    assert cfg.SQLALCHEMY_DATABASE_URI == f"sqlite:///{tmp_path}/ibex.db"
    assert cfg.REDIS_URL is None
    assert cfg.RATELIMIT_STORAGE_URI == "memory://"
    assert cfg.PERSIST_INTERVAL == 10
    assert cfg.PROXY_HOPS == 0
    assert cfg.GEOIP_DB is None
    assert cfg.RATELIMIT_ENABLED is True


def test_environment_overrides():
    cfg = config.ProductionConfig(env={
        "DATABASE_URL": "postgres://u@db/ibex", "REDIS_URL": "redis://r:6379/2",
        "PERSIST_INTERVAL": "2.5", "PROXY_HOPS": "1", "GEOIP_DB": "/srv/geo.mmdb",
        "RATELIMIT_ENABLED": "false", "SECRET_KEY": "x" * 40})
    assert cfg.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@db/ibex"
    assert cfg.RATELIMIT_STORAGE_URI == "redis://r:6379/2"
    assert cfg.PERSIST_INTERVAL == 2.5
    assert cfg.PROXY_HOPS == 1
    assert cfg.GEOIP_DB == "/srv/geo.mmdb"
    assert cfg.RATELIMIT_ENABLED is False
    assert cfg.SESSION_COOKIE_SECURE is True


def test_config_is_chosen_by_ibex_config():
    assert isinstance(config.load(env={}), config.DevelopmentConfig)
    assert isinstance(config.load(env={"IBEX_CONFIG": "production"}), config.ProductionConfig)
    with pytest.raises(RuntimeError, match="IBEX_CONFIG must be one of"):
        config.load(env={"IBEX_CONFIG": "staging"})


def test_production_refuses_to_start_without_secret_key(tmp_path):
    env = {"IBEX_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "sqlite://"}
    with pytest.raises(RuntimeError, match="needs SECRET_KEY"):
        create_app(config.ProductionConfig(env=env))
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app(config.ProductionConfig(env={**env, "SECRET_KEY": "short"}))
    assert not (tmp_path / "secret_key").exists()  # production never invents a key
    app = create_app(config.ProductionConfig(env={**env, "SECRET_KEY": "k" * 48}))
    assert app.config["SECRET_KEY"] == "k" * 48


def test_embedded_mode_generates_a_private_secret_key_once(tmp_path):
    env = {"IBEX_INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": "sqlite://"}
    first = create_app(config.DevelopmentConfig(env=env))
    key_file = tmp_path / "instance" / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) >= 32
    second = create_app(config.DevelopmentConfig(env=env))
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_embedded_mode_uses_secret_key_from_environment(tmp_path):
    env = {"IBEX_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "sqlite://",
           "SECRET_KEY": "s" * 40}
    app = create_app(config.DevelopmentConfig(env=env))
    assert app.config["SECRET_KEY"] == "s" * 40
    assert not (tmp_path / "secret_key").exists()


def _remote_addr_app(tmp_path, hops):
    app = create_app(config.TestingConfig(env={
        "IBEX_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "sqlite://", "PROXY_HOPS": hops}))
    app.add_url_rule("/_ip", "ip", lambda: request.remote_addr or "")
    return app.test_client()


def test_proxy_hops_decide_which_forwarded_address_is_the_client(tmp_path):
    headers = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
    direct = _remote_addr_app(tmp_path, "0")
    assert direct.get("/_ip", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).text \
        == "10.0.0.2"
    behind_one = _remote_addr_app(tmp_path, "1")
    # One trusted proxy: the address it saw (the right-most entry), never a spoofed one.
    assert behind_one.get("/_ip", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.2"}).text \
        == "203.0.113.9"


def test_blueprints_for_every_family_are_registered(tmp_path):
    app = create_app(config.TestingConfig(env={"IBEX_INSTANCE_DIR": str(tmp_path),
                                               "DATABASE_URL": "sqlite://"}))
    assert {"tracking", "goatcounter_api", "umami_api", "basic_api", "ui"} <= set(app.blueprints)


def test_password_hashing_is_strong_outside_tests(tmp_path):
    from app.auth import hash_password, verify_password
    env = {"IBEX_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": "sqlite://", "SECRET_KEY": "k" * 40}
    for cfg in (config.DevelopmentConfig(env=env), config.ProductionConfig(env=env)):
        with create_app(cfg).app_context():
            hashed = hash_password("secret password")
            assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
            assert verify_password(hashed, "secret password")
    with create_app(config.TestingConfig(env=env)).app_context():
        fast = hash_password("secret password")
        assert fast.startswith("$argon2id$") and "m=65536" not in fast
        assert verify_password(hashed, "secret password")  # any parameters verify
