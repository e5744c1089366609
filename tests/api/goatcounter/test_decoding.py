"""Request decoding of the GoatCounter API (spec §4.3–4.4): query strings and JSON bodies with
marshmallow schemas, unknown parameters, CamelCase aliases, the reusable fields."""
from datetime import datetime

import pytest
from marshmallow import Schema, fields

from app.api.goatcounter.decoding import ApiError, camel_names, json_args, query_args
from app.api.goatcounter.schemas import Bool, IdList, Int, Int32, Limit, StringList, Time


class HitsArgs(Schema):
    start = Time()
    end = Time()
    limit = Limit(default=10, maximum=100)
    daily = Bool(load_default=False)
    include_paths = IdList()
    path_by_name = Bool()
    after = Int()


class Inner(Schema):
    path = fields.String()
    size = StringList()


class Body(Schema):
    name = fields.String()
    count = Int()
    hits = fields.List(fields.Nested(Inner))
    settings = fields.Nested(Inner, data_key="setttings")


def _query(app, url, schema=HitsArgs):
    with app.test_request_context(url):
        return query_args(schema)


def _json(app, data, schema=Body, content_type="application/json"):
    with app.test_request_context("/api/v0/x", method="POST", data=data,
                                  content_type=content_type):
        return json_args(schema)


def _error(call, *args, **kwargs):
    with pytest.raises(ApiError) as info:
        call(*args, **kwargs)
    return info.value.status, info.value.message


# --- query strings ---------------------------------------------------------------------------

def test_query_values_are_decoded(app):
    args = _query(app, "/?start=2020-06-17&end=2020-06-19T10:30:00%2B02:00&limit=3&daily=on"
                       "&include_paths=1,2,%203")
    assert args == {"start": datetime(2020, 6, 17), "end": datetime(2020, 6, 19, 8, 30),
                    "limit": 3, "daily": True, "include_paths": [1, 2, 3]}


def test_defaults_apply_when_a_parameter_is_missing(app):
    assert _query(app, "/") == {"limit": 10, "daily": False}


def test_query_accepts_go_style_camel_case_aliases(app):
    args = _query(app, "/?Limit=5&After=7&IncludePaths=4&PathByName=true&Daily=0")
    assert args == {"limit": 5, "after": 7, "include_paths": [4], "path_by_name": True,
                    "daily": False}


def test_camel_names_follow_go_initialisms():
    assert camel_names("include_paths") == {"IncludePaths"}
    assert camel_names("path_id") == {"PathId", "PathID"}
    assert camel_names("limit") == {"Limit"}


def test_unknown_query_parameter_is_refused_by_name(app):
    assert _error(_query, app, "/?limit=3&bogus=1") == (400, 'unknown parameter: "bogus"')
    # Only the snake_case name and its CamelCase alias are known, not other spellings.
    assert _error(_query, app, "/?LIMIT=3") == (400, 'unknown parameter: "LIMIT"')


@pytest.mark.parametrize("url, field", [
    ("/?limit=x", "limit: must be a whole number"),
    ("/?limit=1.5", "limit: must be a whole number"),
    ("/?daily=maybe", "daily: must be a boolean"),
    ("/?start=2020-13-01", "start: must be a date as"),
    ("/?start=yesterday", "start: must be a date as"),
    ("/?start=2020-06-17T10:00:00", "start: must be a date as"),  # RFC 3339 needs an offset
    ("/?include_paths=1,a", "include_paths: must be a comma-separated list of whole numbers"),
    ("/?include_paths=99999999999", "include_paths: must be"),
])
def test_malformed_query_values_are_400_with_details(app, url, field):
    status, message = _error(_query, app, url)
    assert status == 400
    assert message.startswith("invalid query parameters: " + field), message


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("TRUE", True), ("1", True), ("on", True),
    ("false", False), ("0", False), ("off", False), ("Off", False)])
def test_query_booleans(app, value, expected):
    assert _query(app, f"/?daily={value}")["daily"] is expected


@pytest.mark.parametrize("value, expected", [("0", 1), ("-5", 1), ("1", 1), ("100", 100),
                                             ("101", 100), ("100000", 100)])
def test_limit_is_clamped_not_refused(app, value, expected):
    assert _query(app, f"/?limit={value}")["limit"] == expected


def test_time_accepts_days_and_rfc3339_with_offsets(app):
    assert _query(app, "/?start=2020-06-17T14:42:00Z")["start"] == datetime(2020, 6, 17, 14, 42)
    assert _query(app, "/?start=2020-06-17T14:42:00.5-01:00")["start"] == \
        datetime(2020, 6, 17, 15, 42, 0, 500000)


def test_multiple_errors_are_all_reported_in_key_order(app):
    _, message = _error(_query, app, "/?start=x&limit=y")
    assert message.index("limit:") < message.index("start:")


# --- JSON bodies -----------------------------------------------------------------------------

def test_json_body_is_decoded(app):
    body = b'{"name": "x", "count": 3, "hits": [{"path": "/a", "size": "1,2"}]}'
    assert _json(app, body) == {"name": "x", "count": 3,
                                "hits": [{"path": "/a", "size": ["1", "2"]}]}


def test_json_accepts_arrays_for_string_lists_and_camel_case_keys(app):
    assert _json(app, b'{"Name": "x", "hits": [{"size": ["1920", "1080"]}]}') == \
        {"name": "x", "hits": [{"size": ["1920", "1080"]}]}


def test_json_data_keys_are_the_wire_names(app):
    assert _json(app, b'{"setttings": {"path": "/p"}}') == {"settings": {"path": "/p"}}
    assert _error(_json, app, b'{"settings": {}}') == (400, 'unknown parameter: "settings"')


def test_unknown_json_keys_are_refused_also_when_nested(app):
    assert _error(_json, app, b'{"name": "x", "nope": 1}') == (400, 'unknown parameter: "nope"')
    assert _error(_json, app, b'{"hits": [{"path": "/a"}, {"inner_bad": 1}]}') == \
        (400, 'unknown parameter: "inner_bad"')
    assert _error(_json, app, b'{"setttings": {"deep": 1}}') == (400, 'unknown parameter: "deep"')


@pytest.mark.parametrize("body", [b'{"name": 1}', b'{"count": "3"}', b'{"count": true}',
                                  b'{"hits": {}}', b'{"hits": [1]}', b'{"count": 1.5}',
                                  b'{"hits": [{"size": 1}]}'])
def test_type_mismatches_are_invalid_json(app, body):
    status, message = _error(_json, app, body)
    assert status == 400 and message.startswith("invalid JSON: "), message


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'"text"', b"nul", b"\xff\xfe"])
def test_malformed_json_is_400(app, body):
    status, message = _error(_json, app, body)
    assert status == 400 and message.startswith("invalid JSON: "), message


def test_empty_json_body_is_an_empty_object(app):
    assert _json(app, b"") == {}
    assert _json(app, b"  ", content_type="application/json; charset=utf-8") == {}


def test_a_body_with_another_content_type_is_415_without_a_message(app):
    assert _error(_json, app, b'{"name": "x"}', content_type="text/plain") == (415, None)
    assert _error(_json, app, b"name=x",
                  content_type="application/x-www-form-urlencoded") == (415, None)


def test_an_empty_body_without_json_content_type_is_415_with_a_message(app):
    assert _error(_json, app, b"", content_type="text/plain") == \
        (415, 'unable to handle Content-Type "text/plain"')
    assert _error(_json, app, b"", content_type=None) == (415, 'unable to handle Content-Type ""')


def test_schema_classes_and_instances_both_work(app):
    assert _json(app, b'{"count": 2}', schema=Body()) == {"count": 2}


def test_int32_refuses_numbers_outside_32_bits(app):
    class Ids(Schema):
        id = Int32()
    assert _json(app, b'{"id": 2147483647}', schema=Ids) == {"id": 2147483647}
    assert _error(_json, app, b'{"id": 2147483648}', schema=Ids)[1] == \
        "invalid JSON: id: must be a whole number"


# --- how the blueprint renders decoding and validation errors --------------------------------

def _rendered(app, exc):
    with app.test_request_context("/api/v0/count", method="POST"):
        response = app.make_response(app.handle_user_exception(exc))
        return response.status_code, response.get_data(as_text=True), response


def test_api_error_is_rendered_as_an_error_object(app):
    status, _, response = _rendered(app, ApiError(400, 'unknown parameter: "x"'))
    assert status == 400 and response.get_json() == {"error": 'unknown parameter: "x"'}


def test_api_error_without_message_has_an_empty_body(app):
    status, body, _ = _rendered(app, ApiError(415))
    assert (status, body) == (415, "")


def test_validation_error_is_rendered_with_sorted_keys(app):
    from app.exceptions import ValidationError
    status, body, response = _rendered(app, ValidationError(
        {"settings.public": ["must be one of ‘private, secret, public’"], "cname": ["must be set"]}))
    assert status == 400
    assert response.get_json() == {"errors": {"cname": ["must be set"], "settings.public": [
        "must be one of ‘private, secret, public’"]}}
    assert body.index('"cname"') < body.index('"settings.public"')


def test_auth_errors_keep_their_texts(app):
    from app.exceptions import AuthError, PermissionDenied
    status, _, response = _rendered(app, AuthError("unknown"))
    assert status == 401 and response.get_json() == {"error": "unknown token"}
    assert response.headers["WWW-Authenticate"] == "Basic realm=GoatCounter"
    status, _, response = _rendered(app, PermissionDenied("requires 'stats' permissions"))
    assert status == 403 and response.get_json() == {"error": "requires 'stats' permissions"}
