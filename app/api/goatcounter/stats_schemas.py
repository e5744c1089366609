"""Marshmallow schemas of the GoatCounter statistics endpoints (spec §5.6–§5.11): the query
parameters they accept and the objects they answer with. The views validate with them and
/api.json documents them."""
from marshmallow import Schema, fields, post_dump, validate

from app.api.goatcounter.schemas import Bool, Int32, Limit, StringList, Time

GROUP_NAMES = ("hour", "day", "week", "month")


class RangeArgs(Schema):
    start = Time(metadata={"description": "range start (YYYY-MM-DD or RFC 3339; default: "
                                          "00:00 UTC seven days ago)"})
    end = Time(metadata={"description": "range end, inclusive (default: 23:59:59 UTC today)"})


class PathFilterArgs(RangeArgs):
    include_paths = StringList(metadata={"description": "only these path ids (or names, with "
                                                       "path_by_name), comma-separated"})
    path_by_name = Bool(load_default=False, metadata={
        "description": "include_paths/exclude_paths hold exact path names (case-insensitive)"})


class TotalArgs(PathFilterArgs):
    pass


class HitsArgs(PathFilterArgs):
    limit = Limit(default=20, maximum=100)
    exclude_paths = StringList(metadata={"description": "skip these path ids (or names); "
                                                       "used for paging"})
    group = fields.String(validate=validate.OneOf((*GROUP_NAMES, "0", "1", "2", "3")),
                          metadata={"description": "hour, day, week or month (or 0-3): what "
                                                   "max refers to; default hour"})
    daily = Bool(load_default=False, metadata={"description": "deprecated: group=day"})


class RefsArgs(RangeArgs):
    limit = Limit(default=20, maximum=100)
    offset = Int32(load_default=0, validate=validate.Range(min=0))


class PageArgs(PathFilterArgs):
    limit = Limit(default=20, maximum=100)
    offset = Int32(load_default=0, validate=validate.Range(min=0))


class PathsArgs(Schema):
    limit = Limit(default=20, maximum=200)
    after = Int32(load_default=0, metadata={"description": "only paths with an id above this"})


class IntList(fields.List):
    """A list of whole numbers, dumped as it is: a year of Day objects holds 8,760 of them per
    path, and serialising each through fields.Integer was most of /stats/hits' time."""

    def __init__(self, **kwargs):
        super().__init__(fields.Integer(), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else list(value)


class DaySchema(Schema):
    """Visitors of one day; ``weekly``/``monthly`` appear only where non-zero (spec §5.7)."""
    day = fields.Date(required=True)
    hourly = IntList(required=True, metadata={"description": "24 values: visitors per hour 00-23"})
    daily = fields.Integer(required=True)
    weekly = fields.Integer()
    monthly = fields.Integer()

    @post_dump
    def _omit_zero(self, data, **kwargs):
        for key in ("weekly", "monthly"):
            if not data.get(key):
                data.pop(key, None)
        return data


class HitListSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "visitors in the range"})
    path_id = fields.Integer(required=True)
    path = fields.String(required=True)
    event = fields.Boolean(required=True)
    title = fields.String(required=True)
    max = fields.Integer(required=True)
    stats = fields.List(fields.Nested(DaySchema), required=True)


class HitsResponse(Schema):
    hits = fields.List(fields.Nested(HitListSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "sum of the returned counts"})
    more = fields.Boolean(required=True)


class TotalResponse(Schema):
    total = fields.Integer(required=True)
    total_events = fields.Integer(required=True)
    total_utc = fields.Integer(required=True)
    stats = fields.List(fields.Nested(DaySchema), required=True)


class RefStatSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)
    ref_scheme = fields.String(required=True, validate=validate.OneOf("hgco"))


class RefsResponse(Schema):
    refs = fields.List(fields.Nested(RefStatSchema), required=True)
    more = fields.Boolean(required=True)


class StatSchema(Schema):
    """``id`` is omitted when empty; ``ref_scheme`` only for toprefs."""
    id = fields.String()
    name = fields.String(required=True)
    count = fields.Integer(required=True)
    ref_scheme = fields.String()

    @post_dump
    def _omit_empty(self, data, **kwargs):
        for key in ("id", "ref_scheme"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class StatsResponse(Schema):
    stats = fields.List(fields.Nested(StatSchema), required=True)
    more = fields.Boolean(required=True)


class DrillStatSchema(Schema):
    name = fields.String(required=True)
    count = fields.Integer(required=True)


class DrillResponse(Schema):
    stats = fields.List(fields.Nested(DrillStatSchema), required=True)
    more = fields.Boolean(required=True)


class PathSchema(Schema):
    id = fields.Integer(required=True)
    path = fields.String(required=True)
    title = fields.String(required=True)
    event = fields.Boolean(required=True)


class PathsResponse(Schema):
    paths = fields.List(fields.Nested(PathSchema), required=True)
    more = fields.Boolean(required=True)
