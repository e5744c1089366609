"""Umami (v1.17) API family, /api/auth/…, /api/website(s)/…, /api/share/… (Umami API issue)."""
from flask import Blueprint

bp = Blueprint("umami_api", __name__, url_prefix="/api")
