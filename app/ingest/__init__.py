"""The write side: tracking payloads → HitIn → buffer → persister (enrich, then one transaction
of raw hits, dimensions and rollups)."""
from flask import current_app


def init_app(app):
    from app.ingest.service import Ingest
    app.extensions["ingest"] = Ingest(app)


def ingest():
    """The current app's ingest runtime."""
    return current_app.extensions["ingest"]
