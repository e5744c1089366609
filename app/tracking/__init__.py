"""Tracking blueprint: /count, /collect, /api/collect, the tracking scripts and the visitor
counter. The tracking views only validate, resolve the site and push to the ingest buffer."""
from flask import Blueprint

from app.tracking import counter, routes, scripts

bp = Blueprint("tracking", __name__)
routes.register(bp)
scripts.register(bp)
counter.register(bp)
