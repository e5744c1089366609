"""WSGI entry point: gunicorn serves ``wsgi:app``; ``flask`` finds it through .flaskenv."""
from app import create_app

app = create_app()
