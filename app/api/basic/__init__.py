"""Basic API family, /api/sites, /api/ignore, /api/tokens, /api/stats (Basic API issue)."""
from flask import Blueprint

bp = Blueprint("basic_api", __name__, url_prefix="/api")
