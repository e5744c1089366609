"""The server-rendered UI (Jinja + HTMX): one blueprint per area."""
from app.ui import account, pages, sites, users

BLUEPRINTS = (pages.bp, sites.bp, users.bp, account.bp)
