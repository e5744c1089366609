"""Domain exceptions raised by services; each surface (UI, API family) maps them to its own
error shape."""


class ValidationError(Exception):
    """Bad input for named fields: ``errors`` maps a field name to a list of messages."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = {key: list(value) for key, value in errors.items()}

    @classmethod
    def single(cls, field, message):
        return cls({field: [message]})

    def __str__(self):
        return "; ".join(f"{key}: {', '.join(msgs)}" for key, msgs in sorted(self.errors.items()))


class AuthError(Exception):
    """No usable credentials (401). ``reason``: missing, format, unknown, not-admin."""

    MESSAGES = {
        "missing": "no Authorization header",
        "format": "wrong format for Authorization header",
        "unknown": "unknown token",
        "not-admin": "only admins can create and use API keys",
    }

    def __init__(self, reason):
        super().__init__(self.MESSAGES[reason])
        self.reason = reason
        self.message = self.MESSAGES[reason]


class PermissionDenied(Exception):
    """Credentials are valid but do not allow this (403)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class SiteNotFound(Exception):
    """No active site matches what the request addressed."""


class AlreadyDone(Exception):
    """A once-only action (first-run setup, bootstrap token) has already happened."""
