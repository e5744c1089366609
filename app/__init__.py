"""The application factory. It wires configuration, extensions, blueprints, errors and CLI."""
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import config as config_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config=None):
    """Build the Ibex app. ``config`` is a config object (default: chosen by IBEX_CONFIG)."""
    config = config or config_module.load()
    app = Flask(__name__, instance_path=config.INSTANCE_DIR, instance_relative_config=False,
                static_folder=os.path.join(ROOT, "static"),
                template_folder=os.path.join(ROOT, "templates"))
    app.config.from_object(config)
    _configure_secret_key(app, config)
    config.check()
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    from app import extensions, logs
    logs.init_app(app)
    extensions.init_app(app)
    _register_blueprints(app)
    _register_errors_and_cli(app)
    return app


def _configure_secret_key(app, config):
    if not app.config.get("SECRET_KEY") and config.GENERATE_SECRET_KEY:
        from app.instance import instance_secret_key
        app.config["SECRET_KEY"] = config.SECRET_KEY = instance_secret_key(config.SECRET_KEY_FILE)


def _register_blueprints(app):
    from app.api.basic import bp as basic_api
    from app.api.goatcounter import bp as goatcounter_api
    from app.api.openapi import bp as openapi
    from app.api.umami import bp as umami_api
    from app.health import bp as health
    from app.tracking import bp as tracking
    from app.extensions import csrf
    from app.ui import BLUEPRINTS as ui_blueprints
    for blueprint in (tracking, goatcounter_api, umami_api, basic_api, openapi):
        csrf.exempt(blueprint)  # no cookie authentication here: payloads and API tokens
    for blueprint in (tracking, goatcounter_api, umami_api, basic_api, openapi, health,
                      *ui_blueprints):
        app.register_blueprint(blueprint)
    from app import logs
    from app.tracking.sessionless import TrackingSessionInterface, tracking_paths
    hot = tracking_paths(app) | tracking_paths(app, "health")
    app.session_interface = TrackingSessionInterface(hot)
    logs.quiet(app, hot)


def _register_errors_and_cli(app):
    from app import cli, errors
    errors.register(app)
    cli.register(app)
