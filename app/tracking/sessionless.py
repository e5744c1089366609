"""The tracking endpoints never use the UI's cookie session: their requests get an empty session
that is neither read from nor written to a cookie (no signing serializer per request, no
``Vary: Cookie`` or ``Set-Cookie`` on tracking answers). Every other path keeps Flask's signed
cookie session, so the UI and Flask-Login work as before."""
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class UnsavedSession(SecureCookieSession):
    """An empty session for a tracking request. Writes (e.g. Flask-Login reading a remember
    cookie while an error page renders) are allowed and dropped with the request."""


class TrackingSessionInterface(SecureCookieSessionInterface):
    def __init__(self, sessionless_paths):
        self.sessionless_paths = frozenset(sessionless_paths)

    def open_session(self, app, request):
        # Runs before URL matching, so the request's endpoint is not known yet: match the path.
        if request.path in self.sessionless_paths:
            return UnsavedSession()
        return super().open_session(app, request)

    def is_null_session(self, obj):
        return isinstance(obj, UnsavedSession) or super().is_null_session(obj)


def tracking_paths(app, blueprint="tracking"):
    """The fixed paths of the tracking blueprint's routes in ``app``."""
    return {rule.rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith(blueprint + ".") and not rule.arguments}
