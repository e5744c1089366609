"""Tracking blueprint: /count, /collect, /api/collect and the tracking scripts (ingestion issue)."""
from flask import Blueprint

bp = Blueprint("tracking", __name__)
