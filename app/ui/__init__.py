"""The server-rendered UI (Jinja + HTMX): one blueprint per area."""
from app.ui import account, dashboard, exports, imports, pages, sites, users

BLUEPRINTS = (pages.bp, sites.bp, dashboard.bp, users.bp, account.bp, exports.bp, imports.bp)
