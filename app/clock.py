"""The one clock Ibex reads: naive UTC datetimes everywhere, overridable in tests."""
from datetime import datetime, timezone

_frozen = None


def utcnow():
    """Current time as a naive datetime in UTC (the database convention throughout Ibex)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc).replace(tzinfo=None)


def freeze(moment):
    """Pin utcnow() to ``moment`` (naive UTC); ``None`` unfreezes. For tests and imports."""
    global _frozen
    _frozen = moment


def rfc3339(moment):
    """RFC 3339 UTC with a Z suffix and no fractional seconds, or None."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat() + "Z"
