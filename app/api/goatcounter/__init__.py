"""GoatCounter API family, /api/v0/… (routes arrive with the GoatCounter API issue)."""
from flask import Blueprint

bp = Blueprint("goatcounter_api", __name__, url_prefix="/api/v0")
