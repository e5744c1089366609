"""Structured logs: request ids (taken from a sane X-Request-Id, else made, and echoed), JSON lines
and text lines on stderr, the app's access line (no query string, IP, User-Agent or credentials),
job ids on job records, the LOG_* settings, and gunicorn's error log in the same shape."""
import json
import logging
import re

import pytest

import config
from app import logs
from tests.conftest import make_app

HEX_ID = re.compile(r"[0-9a-f]{32}")
view_log = logging.getLogger("some.library")


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access_lines(text):
    return [line for line in json_lines(text) if line["logger"] == "ibex.access"]


@pytest.fixture
def json_app(database_url, tmp_path):
    """An app logging JSON, with a view that logs through a library's logger, with and
    without an exception."""
    app = make_app(database_url, tmp_path, LOG_FORMAT="json")

    def noisy():
        view_log.warning("inside the view", extra={"thing": 42})
        try:
            raise ValueError("something broke")
        except ValueError:
            view_log.exception("caught it")
        return "done"
    app.add_url_rule("/log-test", "log_test", noisy)
    return app


def test_a_sane_incoming_request_id_is_echoed(client):
    for rid in ("0123456789abcdef0123456789abcdef", "req-1.2_3", "x" * 64):
        response = client.get("/status", headers={"X-Request-Id": rid})
        assert response.headers["X-Request-Id"] == rid


def test_a_missing_or_bad_request_id_is_replaced_by_a_new_one(client):
    seen = set()
    for rid in (None, "", "two words", "x" * 65, "<script>", "ünï", "a;b", "id\twith-tab"):
        headers = {} if rid is None else {"X-Request-Id": rid}
        answered = client.get("/status", headers=headers).headers["X-Request-Id"]
        assert HEX_ID.fullmatch(answered) and answered != rid
        seen.add(answered)
    assert len(seen) == 8  # a new one each time


def test_error_answers_carry_the_request_id_too(client):
    response = client.get("/no-such-page", headers={"X-Request-Id": "abc"})
    assert response.status_code == 404 and response.headers["X-Request-Id"] == "abc"


def test_json_lines_carry_the_request_id_for_view_logs_and_the_access_line(json_app, capsys):
    response = json_app.test_client().get("/log-test", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 200
    lines = json_lines(capsys.readouterr().err)
    inside, caught, access = lines
    assert inside == {"time": inside["time"], "level": "WARNING", "logger": "some.library",
                      "message": "inside the view", "thing": 42, "request_id": "req-42"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside["time"])
    assert caught["level"] == "ERROR" and caught["request_id"] == "req-42"
    assert caught["exception"].startswith("Traceback") and "ValueError: something broke" in \
        caught["exception"]
    assert access["logger"] == "ibex.access" and access["message"] == "GET /log-test 200"
    assert {key: access[key] for key in ("method", "path", "status", "request_id")} == {
        "method": "GET", "path": "/log-test", "status": 200, "request_id": "req-42"}
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0


def test_records_outside_a_request_have_no_request_id(json_app, capsys):
    json_app.test_client().get("/log-test")
    view_log.warning("after the request")
    after = json_lines(capsys.readouterr().err)[-1]
    assert after["message"] == "after the request" and "request_id" not in after


def test_the_access_line_holds_no_query_string_ip_user_agent_or_credentials(database_url,
                                                                             tmp_path, site,
                                                                             capsys):
    app = make_app(database_url, tmp_path, LOG_FORMAT="json", LOG_TRACKING_REQUESTS="on")
    client = app.test_client()
    client.set_cookie("session", "cookie-secret-value")
    response = client.get(
        "/count?p=%2Fprivate-page&token=query-secret", environ_base={"REMOTE_ADDR": "198.51.100.7"},
        headers={"User-Agent": "SecretAgent/7.1", "Authorization": "Bearer auth-secret",
                 "Referer": "https://example.com/", "X-Forwarded-For": "203.0.113.99"})
    assert response.status_code == 200
    err = capsys.readouterr().err
    (access,) = access_lines(err)
    assert access["path"] == "/count" and access["status"] == 200
    for secret in ("query-secret", "private-page", "token=", "198.51.100.7", "203.0.113.99",
                   "SecretAgent", "auth-secret", "cookie-secret-value", "example.com"):
        assert secret not in err


def test_a_non_ascii_path_is_logged_as_text(json_app, capsys):
    json_app.test_client().get("/caf%C3%A9")
    (access,) = access_lines(capsys.readouterr().err)
    assert access["path"] == "/café" and access["status"] == 404


def test_log_requests_off_keeps_the_id_but_writes_no_access_line(database_url, tmp_path, capsys):
    app = make_app(database_url, tmp_path, LOG_FORMAT="json", LOG_REQUESTS="false")
    response = app.test_client().get("/status", headers={"X-Request-Id": "quiet"})
    assert response.headers["X-Request-Id"] == "quiet"
    assert access_lines(capsys.readouterr().err) == []


def test_text_format(database_url, tmp_path, capsys):
    app = make_app(database_url, tmp_path, LOG_FORMAT="text")
    app.test_client().get("/status?x=secret", headers={"X-Request-Id": "txt-1"})
    view_log.warning("plain %s", "words", extra={"batch_id": "b1"})
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    # Only Ibex's lines: an in-process `flask db upgrade` (alembic's fileConfig) in an earlier
    # test leaves a handler of its own on the root logger.
    lines = [line for line in capsys.readouterr().err.splitlines() if re.match(stamp, line)]
    assert re.fullmatch(stamp + r" INFO ibex\.access: GET /status 200 method=GET path=/status "
                        r"status=200 duration_ms=[\d.]+ request_id=txt-1", lines[0])
    assert re.fullmatch(stamp + " WARNING some.library: plain words batch_id=b1", lines[1])
    assert len(lines) == 2


def test_log_level_filters_records(database_url, tmp_path, capsys):
    make_app(database_url, tmp_path, LOG_FORMAT="json", LOG_LEVEL="warning")
    view_log.info("not shown")
    view_log.warning("shown")
    assert [line["message"] for line in json_lines(capsys.readouterr().err)] == ["shown"]
    make_app(database_url, tmp_path, LOG_LEVEL="info")


def test_log_settings_defaults_and_validation():
    assert config.DevelopmentConfig(env={}).LOG_FORMAT == "text"
    production = config.ProductionConfig(env={})
    assert (production.LOG_FORMAT, production.LOG_LEVEL, production.LOG_REQUESTS) == \
        ("json", "INFO", True)
    assert config.ProductionConfig(env={"LOG_FORMAT": "TEXT"}).LOG_FORMAT == "text"
    assert config.TestingConfig(env={"LOG_REQUESTS": "off"}).LOG_REQUESTS is False
    with pytest.raises(RuntimeError, match="LOG_FORMAT must be json or text"):
        config.DevelopmentConfig(env={"LOG_FORMAT": "xml"})
    with pytest.raises(RuntimeError, match="LOG_LEVEL must be one of"):
        config.DevelopmentConfig(env={"LOG_LEVEL": "loud"})


def test_one_handler_however_many_apps_are_built(database_url, tmp_path):
    for _ in range(3):
        make_app(database_url, tmp_path)
    assert sum(isinstance(h, logs.StderrHandler) for h in logging.getLogger().handlers) == 1


def test_records_of_a_job_carry_its_id(app, capsys):
    from app.jobs.runner import run_now
    logs.configure("json")
    run_now(lambda: logging.getLogger("ibex.jobs").warning("working"))
    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "working" and line["job_id"] == "local"


def log_from_a_job():
    logging.getLogger("ibex.jobs").warning("from an RQ job")


def test_records_of_an_rq_job_carry_its_id(app, redis_url, database_url, tmp_path, capsys):
    from app.jobs import enqueue, runtime
    url, prefix = redis_url
    rq_app = make_app(database_url, tmp_path, REDIS_URL=url, REDIS_PREFIX=prefix,
                      LOG_FORMAT="json")
    with rq_app.app_context():
        enqueue(log_from_a_job, job_id="log-test")
        runtime().worker().work(burst=True)
    (line,) = [line for line in json_lines(capsys.readouterr().err)
               if line["message"] == "from an RQ job"]
    assert line["job_id"] == f"{prefix}-log-test" and "request_id" not in line


def test_werkzeug_development_server_access_lines_are_dropped(app, capsys):
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.info('127.0.0.1 - - [01/Dec/2026 10:00:00] "GET /count?p=/x HTTP/1.1" 200 -')
    werkzeug.info(" * Running on http://127.0.0.1:5000")
    err = capsys.readouterr().err
    assert "Running on" in err and "127.0.0.1 - -" not in err


def test_gunicorn_error_log_comes_out_as_json_and_its_access_log_is_off(monkeypatch, capsys):
    from gunicorn.config import Config
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.delenv("IBEX_CONFIG", raising=False)
    logger = logs.gunicorn_logger_class()(Config())
    try:
        logger.error("Worker (pid:%s) was sent SIGKILL!", 1234)
        logger.access(None, None, {"REMOTE_ADDR": "198.51.100.7"}, None)
        (line,) = json_lines(capsys.readouterr().err)
        assert line["logger"] == "gunicorn.error" and line["level"] == "ERROR"
        assert line["message"] == "Worker (pid:1234) was sent SIGKILL!"
    finally:
        for handler in list(logger.error_log.handlers):
            logger.error_log.removeHandler(handler)


def test_successful_tracking_hits_and_health_checks_get_no_access_line(json_app, site, capsys):
    """By default (LOG_TRACKING_REQUESTS off) only their errors are logged: they are most of
    the traffic, and the line costs time on the hot path."""
    client = json_app.test_client()
    assert client.get("/count?p=/a").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert access_lines(capsys.readouterr().err) == []
    response = client.post("/api/collect", data="not json", content_type="application/json")
    assert response.status_code == 400
    (access,) = access_lines(capsys.readouterr().err)
    assert access["path"] == "/api/collect" and access["status"] == 400
    client.get("/status")
    assert [line["path"] for line in access_lines(capsys.readouterr().err)] == ["/status"]
