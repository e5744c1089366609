"""Marshmallow fields and schemas of the GoatCounter API family: the query and JSON forms
GoatCounter accepts (spec §4.4) and the objects it answers with (§5). The same schemas validate
requests and describe them in /api.json."""
import json
import re
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import Response
from marshmallow import Schema, fields

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# True while a JSON body is loaded: JSON has types, so "3" is no number and "true" no boolean
# there (a query string has only strings).
json_input = ContextVar("goatcounter_json_input", default=False)


class Int(fields.Integer):
    """A whole number (strict: 1.5 and "1.5" are refused), GoatCounter's message."""

    default_error_messages = {"invalid": "must be a whole number",
                              "too_large": "must be a whole number"}

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):  # JSON true is not 1
            raise self.make_error("invalid")
        if isinstance(value, str):
            if json_input.get():
                raise self.make_error("invalid")
            value = value.strip()
            if not re.fullmatch(r"[+-]?\d+", value):
                raise self.make_error("invalid")
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Int32(Int):
    """A whole number that fits a signed 32-bit integer (GoatCounter's ids)."""

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if not -2**31 <= number < 2**31:
            raise self.make_error("invalid")
        return number


class Limit(Int):
    """A page size: missing → ``default``; clamped (never refused) to ``minimum``…``maximum``
    (spec §5: "limit is clamped to at most 100 … and at least 1")."""

    def __init__(self, default=20, minimum=1, maximum=100, **kwargs):
        self.minimum, self.maximum = minimum, maximum
        kwargs.setdefault("metadata", {}).update(
            {"description": f"clamped to {minimum}…{maximum}", "default": default})
        super().__init__(load_default=default, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if self.maximum is not None:
            number = min(number, self.maximum)
        return max(number, self.minimum)


class Bool(fields.Field):
    """true/false/1/0/on/off (any case) in a query string; a JSON boolean in a body."""

    TRUE = frozenset({"true", "1", "on", "t", "yes"})
    FALSE = frozenset({"false", "0", "off", "f", "no", ""})
    default_error_messages = {"invalid": "must be a boolean"}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else bool(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and not json_input.get():
            text = value.strip().lower()
            if text in self.TRUE:
                return True
            if text in self.FALSE:
                return False
        raise self.make_error("invalid")


class Time(fields.Field):
    """A moment as a naive UTC datetime. Accepts ``YYYY-MM-DD`` (midnight UTC) or RFC 3339
    (``2020-06-18T14:42:00Z``, any offset); emits RFC 3339 in UTC with ``Z``."""

    default_error_messages = {"invalid": "must be a date as ‘2006-01-02’ or ‘2006-01-02T15:04:05Z07:00’"}

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else rfc3339(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        try:
            if _DAY.match(text):
                return datetime.strptime(text, "%Y-%m-%d")
            if "T" not in text.upper() or len(text) < 20:
                raise ValueError(text)
            moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:  # RFC 3339 requires an offset
            raise self.make_error("invalid")
        return moment.astimezone(UTC).replace(tzinfo=None)


def rfc3339(moment):
    """A naive UTC (or aware) datetime as GoatCounter writes it: 2020-06-18T14:42:00Z."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


class StringList(fields.Field):
    """A list of strings sent and shown as one comma-joined string (GoatCounter's ``ignore_ips``,
    ``collect_regions``, ``allow_embed``; spec §1.2). Split on commas — on whitespace when there
    is no comma — entries trimmed, empty ones dropped. A JSON array of strings is accepted too."""

    default_error_messages = {"invalid": "must be a comma-separated list"}

    def _serialize(self, value, attr, obj, **kwargs):
        return ",".join(value or ())

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise self.make_error("invalid")
            return [item.strip() for item in value if item.strip()]
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return split_list(value)


def split_list(text):
    parts = text.split(",") if "," in text else text.split()
    return [part.strip() for part in parts if part.strip()]


class IdList(fields.Field):
    """A list of ids: ``1,2,3`` in a query string, or a JSON array of whole numbers."""

    default_error_messages = {"invalid": "must be a comma-separated list of whole numbers"}

    def _serialize(self, value, attr, obj, **kwargs):
        return list(value or ())

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):  # "1,2,3": the query form (also taken in JSON)
            items = [int(item) if re.fullmatch(r"[+-]?\d{1,10}", item) else item
                     for item in split_list(value)]
        elif isinstance(value, list):
            items = value
        else:
            raise self.make_error("invalid")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not -2**31 <= item < 2**31:
                raise self.make_error("invalid")
        return list(items)


def respond(schema, obj, status=200):
    """``obj`` dumped with ``schema`` as GoatCounter writes success bodies: fields in the
    schema's order, indented by two spaces, a trailing newline."""
    schema = schema() if isinstance(schema, type) else schema
    body = json.dumps(schema.dump(obj), indent=2, ensure_ascii=False) + "\n"
    return Response(body, status, mimetype="application/json")


class NoArgs(Schema):
    """Endpoints that take no parameters."""


class ErrorSchema(Schema):
    error = fields.String(metadata={"example": "not found"})


class ValidationErrorSchema(Schema):
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"example": {"settings.public": ["must be set"]}})


# --- objects the API answers with (spec §5.1, §5.13) -----------------------------------------

class WidgetSchema(Schema):
    n = fields.String(metadata={"description": "widget name"})
    s = fields.Dict(metadata={"description": "widget settings"})


class ViewSchema(Schema):
    name = fields.String()
    filter = fields.String()
    group = fields.Integer()
    period = fields.String()


class UserSettingsSchema(Schema):
    class Meta:
        ordered = True

    twenty_four_hours = fields.Boolean()
    sunday_starts_week = fields.Boolean()
    language = fields.String()
    date_format = fields.String()
    number_format = fields.Integer(metadata={"description": "a Unicode code point"})
    timezone = fields.String(metadata={"example": "NL.Europe/Amsterdam"})
    widgets = fields.List(fields.Nested(WidgetSchema))
    views = fields.List(fields.Nested(ViewSchema))
    email_reports = fields.Integer(metadata={"description": "0 never … 4 monthly"})
    fewer_numbers = fields.Boolean()
    fewer_numbers_lock_until = Time(allow_none=True)
    theme = fields.String()
    datepicker = fields.Boolean()


class UserSchema(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    site = fields.Integer(metadata={"description": "the account site"})
    email = fields.String()
    email_verified = fields.Boolean()
    totp_enabled = fields.Boolean()
    access = fields.Dict(keys=fields.String(), values=fields.String(),
                         metadata={"example": {"all": "a"}})
    login_at = Time(allow_none=True)
    open_at = Time(allow_none=True)
    reset_at = Time(allow_none=True)
    settings = fields.Nested(UserSettingsSchema)
    last_report_at = Time()
    created_at = Time()
    updated_at = Time(allow_none=True)


class TokenSchema(Schema):
    class Meta:
        ordered = True

    name = fields.String()
    permissions = fields.Integer(metadata={"description": "bitmask (spec §2.2)"})
    sites = fields.List(fields.Integer(), metadata={"description": "-1: every site"})


class MeSchema(Schema):
    user = fields.Nested(UserSchema)
    token = fields.Nested(TokenSchema)


class SiteSettingsSchema(Schema):
    """SiteSettings; the lists travel as comma-joined strings (arrays accepted on input)."""
    class Meta:
        ordered = True

    public = fields.String(metadata={"enum": ["private", "secret", "public"]})
    secret = fields.String()
    allow_counter = Bool()
    allow_bosmang = Bool()
    data_retention = Int(metadata={"description": "days; 0 keeps data forever, else 31…1825"})
    ignore_ips = StringList(metadata={"example": "192.0.2.1,2001:db8::1"})
    collect = Int(metadata={"description": "bit flags (spec §5.14); 0: the default, 190"})
    collect_regions = StringList(metadata={"example": "US,RU,CN"})
    allow_embed = StringList()


class SiteSchema(Schema):
    """A Site. Output spells the settings key ``setttings`` (GoatCounter's); creation accepts
    ``setttings`` and ``settings``. id, parent and cname_setup_at are read-only, the other
    timestamps, state, code and received_data are set by the server."""
    class Meta:
        ordered = True

    id = fields.Integer()
    parent = fields.Integer(allow_none=True)
    cname = fields.String(allow_none=True)
    cname_setup_at = Time(allow_none=True)
    code = fields.String()
    link_domain = fields.String()
    settings = fields.Nested(SiteSettingsSchema, data_key="setttings",
                             metadata={"aliases": ["settings"]})
    user_defaults = fields.Nested(UserSettingsSchema)
    received_data = Bool()
    state = fields.String(metadata={"enum": ["a", "d"]})
    created_at = Time()
    updated_at = Time(allow_none=True)
    first_hit_at = Time()


class SitesSchema(Schema):
    sites = fields.List(fields.Nested(SiteSchema))


class SiteUpdateSchema(Schema):
    """POST (replace) and PATCH (merge) of /api/v0/sites/{id}: only these three change;
    the read-only id, parent and cname_setup_at are accepted and ignored."""
    cname = fields.String(allow_none=True)
    link_domain = fields.String(allow_none=True)
    settings = fields.Nested(SiteSettingsSchema, metadata={"aliases": ["setttings"]})
    id = fields.Raw(load_only=True)
    parent = fields.Raw(load_only=True)
    cname_setup_at = fields.Raw(load_only=True)
