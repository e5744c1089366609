"""Tracking blueprint: /count, /collect, /api/collect and the tracking scripts. The views only
validate, resolve the site and push to the ingest buffer."""
from flask import Blueprint

from app.tracking import routes, scripts

bp = Blueprint("tracking", __name__)
routes.register(bp)
scripts.register(bp)
