"""GoatCounter export API over HTTP (spec §5.3–5.5, §13, §16.6): start → poll → download, the
CSV of the worked example byte for byte, cursor chaining, downloads before completion, after
it and after expiry, the JSON zip, validation errors, permissions and site scoping. Jobs run
in the embedded runtime, drained by the test (tests/jobs runs them on a real RQ worker)."""
import csv
import gzip
import hashlib
import io
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone

import pytest

from app import accounts, clock
from app.extensions import db
from app.ingest.hit_in import HitIn
from app.jobs import exports, maintenance, runtime
from app.models import PERMISSIONS, Export

CREATED = datetime(2020, 6, 18, 14, 42, 0)
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0"
HEADER = ("2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,"
          "Screen size,Location,FirstVisit,Date")


@pytest.fixture
def now():
    clock.freeze(CREATED)
    yield CREATED
    clock.freeze(None)


def unix(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def auth(token):
    return {"Authorization": f"Bearer {token.secret}"}


def post_export(client, token, body=None, **headers):
    return client.post("/api/v0/export", data=json.dumps(body or {}),
                       headers={**auth(token), "Content-Type": "application/json", **headers})


def run_jobs():
    return runtime().run_pending()


@pytest.fixture
def example(site, store_hits):
    """Spec §16.6: four stored hits (ids 1-4) and a bot event that is not stored."""
    ua80, ua79 = LINUX_FIREFOX.format(80), LINUX_FIREFOX.format(79)
    day1, day2 = datetime(2019, 6, 18), datetime(2019, 6, 19)
    for hit in (
        dict(path="/asd", title="Page asd", user_agent=ua80, created_at=unix(day1)),
        dict(path="/zxc", title="Page zxc", user_agent=ua80, created_at=unix(day1)),
        dict(path="event", kind="event", user_agent=ua80, created_at=unix(day2)),
        dict(path="bot-event", kind="event", user_agent="curl/7.8", created_at=unix(day2)),
        dict(path="/asd", title="Other title", user_agent=ua79, location="ID", width=1024,
             referrer="https://example.com/p", created_at=unix(day2)),
    ):
        store_hits(HitIn(site_id=site.id, ip="192.0.2.7", **hit))
    return site


def rows_of(data):
    return gzip.decompress(data).decode().split("\n")


def test_csv_export_of_the_worked_example(client, api_token, example, now):
    response = post_export(client, api_token)
    assert response.status_code == 202, response.data
    started = response.get_json()
    assert started == {
        "id": 1, "site_id": example.id, "format": "csv", "last_hit_id": None,
        "path": f"1-goatcounter-export-{example.code}-20200618T144200Z-0.csv.gz",
        "created_at": "2020-06-18T14:42:00Z", "finished_at": None, "num_rows": None,
        "size": None, "hash": None, "error": None}
    assert len(run_jobs()) == 1

    record = client.get("/api/v0/export/1", headers=auth(api_token))
    assert record.status_code == 200
    done = record.get_json()
    assert "start_from_hit_id" not in done and "start_from_day" not in done
    assert (done["last_hit_id"], done["num_rows"], done["size"], done["error"]) == (4, 4, "0.1", None)
    assert done["finished_at"] == "2020-06-18T14:42:00Z"

    download = client.get("/api/v0/export/1/download", headers=auth(api_token))
    assert download.status_code == 200
    assert download.mimetype == "application/gzip"
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="goatcounter-export-{example.code}-20200618T144200Z-0.csv.gz"')
    assert done["hash"] == "sha256-" + hashlib.sha256(download.data).hexdigest()
    lines = rows_of(download.data)
    assert lines[0] == HEADER and lines[-1] == "" and len(lines) == 6
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    assert [len(row) for row in rows] == [14] * 4
    first = rows[0]
    assert first[:6] == ["/asd", "Page asd", "0", "", "Firefox 80", "Linux "]
    assert first[7:] == ["0", "", "o", "0,0,1", "", "1", "2019-06-18T00:00:00Z"]
    session = first[6]
    assert session != "0-0" and all(int(part, 16) >= 0 for part in session.split("-"))
    assert rows[2][:3] == ["event", "", "1"] and rows[2][6] == session
    # The last row byte for byte: Go's CSV quoting, the first title the path was seen with;
    # another browser is another session, so its first visit.
    other = rows[3][6]
    assert other not in (session, "0-0")
    assert lines[4] == (f'/asd,Page asd,0,,Firefox 79,Linux ,{other},0,example.com/p,h,'
                        f'"1024,0,1",ID,1,2019-06-19T00:00:00Z')


def test_cursor_chaining_exports_only_newer_hits(client, api_token, example, store_hits):
    post_export(client, api_token, {"format": "csv"})
    run_jobs()
    first = client.get("/api/v0/export/1", headers=auth(api_token)).get_json()
    assert first["last_hit_id"] == 4
    store_hits(HitIn(site_id=example.id, path="/new", family="gc-api", no_session=True),
               HitIn(site_id=example.id, path="/newer", family="gc-api", no_session=True))

    response = post_export(client, api_token, {"start_from_hit_id": first["last_hit_id"]})
    assert response.status_code == 202
    assert response.get_json()["start_from_hit_id"] == 4
    run_jobs()
    second = client.get("/api/v0/export/2", headers=auth(api_token)).get_json()
    assert (second["num_rows"], second["last_hit_id"]) == (2, 6)
    download = client.get("/api/v0/export/2/download", headers=auth(api_token))
    assert download.headers["Content-Disposition"].endswith('-4.csv.gz"')
    assert [line.split(",")[0] for line in rows_of(download.data)[1:-1]] == ["/new", "/newer"]

    post_export(client, api_token, {"start_from_hit_id": 6})
    run_jobs()
    third = client.get("/api/v0/export/3", headers=auth(api_token)).get_json()
    assert (third["num_rows"], third["last_hit_id"]) == (0, 6)
    empty = client.get("/api/v0/export/3/download", headers=auth(api_token))
    assert rows_of(empty.data) == [HEADER, ""]


def test_download_before_completion_after_it_and_after_expiry(client, api_token, example, now):
    post_export(client, api_token)
    running = client.get("/api/v0/export/1/download", headers=auth(api_token))
    assert running.status_code == 202
    assert running.get_json() == {"error": "still being generated"}
    run_jobs()
    assert client.get("/api/v0/export/1/download", headers=auth(api_token)).status_code == 200

    clock.freeze(CREATED + timedelta(hours=24))
    expired = client.get("/api/v0/export/1/download", headers=auth(api_token))
    assert expired.status_code == 400
    assert expired.get_json() == {
        "error": "exports are kept for 24 hours; this export file has been deleted"}
    # The record stays readable; the file is gone for good.
    assert client.get("/api/v0/export/1", headers=auth(api_token)).status_code == 200
    assert not os.path.exists(exports.file_path(db.session.get(Export, 1)))


def test_the_hourly_job_deletes_files_older_than_a_day(client, api_token, example, now):
    post_export(client, api_token)
    post_export(client, api_token)
    run_jobs()
    old, fresh = (exports.file_path(db.session.get(Export, n)) for n in (1, 2))
    db.session.get(Export, 1).created_at = CREATED - timedelta(hours=25)
    db.session.commit()
    stray = os.path.join(exports.exports_dir(), "3-left-over.tmp")
    open(stray, "w").close()
    os.utime(stray, (0, 0))
    assert maintenance.delete_expired_exports() == 2
    assert not os.path.exists(old) and not os.path.exists(stray) and os.path.exists(fresh)
    gone = client.get("/api/v0/export/1/download", headers=auth(api_token))
    assert gone.status_code == 400 and "kept for 24 hours" in gone.get_json()["error"]
    assert client.get("/api/v0/export/2/download", headers=auth(api_token)).status_code == 200


def test_json_export_is_a_zip_of_json_lines(client, api_token, example, now):
    response = post_export(client, api_token, {"format": "json",
                                               "start_from_day": "2019-06-19T15:00:00+02:00"})
    assert response.status_code == 202, response.data
    body = response.get_json()
    assert body["start_from_day"] == "2019-06-19T00:00:00Z" and "start_from_hit_id" not in body
    run_jobs()
    done = client.get("/api/v0/export/1", headers=auth(api_token)).get_json()
    assert done["num_rows"] is None and done["last_hit_id"] is None and done["size"] == "0.1"
    download = client.get("/api/v0/export/1/download", headers=auth(api_token))
    name = f"goatcounter-export-{example.code}-20200618T144200Z"
    assert download.mimetype == "application/gzip"
    assert download.headers["Content-Disposition"] == f'attachment; filename="{name}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert {n.split("/")[0] for n in archive.namelist()} == {name}
    info = json.loads(archive.read(f"{name}/info.json"))
    assert info["export_version"] == "1.0" and info["created_for"] == "example.com"
    assert info["created_by"] == "user_id=1 alice@example.org"

    def jsonl(file):
        return [json.loads(line) for line in archive.read(f"{name}/{file}.jsonl").splitlines()]
    paths = {p["path"]: p for p in jsonl("paths")}
    assert paths["event"]["event"] is True and "event" not in paths["/asd"]
    assert paths["/asd"]["title"] == "Page asd"
    hours = jsonl("hit_stats")
    assert {h["hour"] for h in hours} == {"2019-06-19T00:00:00Z"}  # start_from_day applied
    assert sum(h["count"] for h in hours) == 2
    browsers = {b["id"]: f"{b['name']} {b['version']}" for b in jsonl("browsers")}
    assert sorted(browsers[s["browser_id"]] for s in jsonl("browser_stats")) == \
        ["Firefox 79", "Firefox 80"]
    assert {s["location"] for s in jsonl("location_stats")} == {"ID", ""}
    assert {r["ref"] for r in jsonl("refs")} >= {"example.com/p"}


@pytest.mark.parametrize("body, message", [
    ({"format": "xml"}, 'unknown format: "xml"'),
    ({"format": "csv", "start_from_day": "2020-01-01T00:00:00Z"},
     "start_from_day is only valid for JSON exports"),
    ({"format": "json", "start_from_hit_id": 5}, "start_from_hit_id is only valid for CSV exports"),
    ({"bogus": 1}, 'unknown parameter: "bogus"'),
])
def test_invalid_requests_are_refused(client, api_token, body, message):
    response = post_export(client, api_token, body)
    assert response.status_code == 400
    assert response.get_json() == {"error": message}
    assert db.session.query(Export).count() == 0


def test_missing_format_means_csv_and_read_only_fields_are_ignored(client, api_token):
    response = post_export(client, api_token, {"id": 99, "num_rows": 5, "format": ""})
    assert response.status_code == 202
    assert response.get_json()["format"] == "csv" and response.get_json()["id"] == 1
    assert client.post("/api/v0/export", headers={**auth(api_token), "Content-Type":
                                                  "application/json"}).status_code == 202


def test_ids_must_be_numbers_of_this_site(client, api_token, user, site):
    other = accounts.create_site("other.example")
    stranger = Export(site_id=other.id, format="csv", created_at=CREATED, path="x")
    db.session.add(stranger)
    db.session.commit()
    headers = {**auth(api_token), "Host": "example.com"}
    for url in (f"/api/v0/export/{stranger.id}", f"/api/v0/export/{stranger.id}/download",
                "/api/v0/export/999"):
        response = client.get(url, headers=headers)
        assert response.status_code == 404 and response.get_json() == {"error": "not found"}
    for url in ("/api/v0/export/abc", "/api/v0/export/99999999999/download"):
        response = client.get(url, headers=headers)
        assert response.status_code == 400
        assert response.get_json() == {"errors": {"id": ["must be a whole number"]}}


def test_permission_export_is_required(client, user, site):
    token, secret = accounts.create_token(user, "stats only", PERMISSIONS["stats"])
    token.secret = secret
    for response in (post_export(client, token),
                     client.get("/api/v0/export/1", headers=auth(token)),
                     client.get("/api/v0/export/1/download", headers=auth(token))):
        assert response.status_code == 403
        assert response.get_json() == {"error": "requires 'export' permissions"}
    anonymous = client.post("/api/v0/export", json={})
    assert anonymous.status_code == 401
    assert anonymous.get_json() == {"error": "no Authorization header"}


def test_a_token_of_another_site_is_refused(client, user, site):
    other = accounts.create_site("other.example")
    token, secret = accounts.create_token(user, "other", sites=[other.id])
    token.secret = secret
    response = post_export(client, token, Host="example.com")
    assert response.status_code == 403
    assert response.get_json() == {"error": "this token does not have access to this site"}


def test_a_failed_export_records_its_error(client, api_token, example):
    post_export(client, api_token)
    os.makedirs(exports.file_path(db.session.get(Export, 1)))  # the file cannot be put there
    [job] = run_jobs()
    assert job.status == "failed"
    failed = client.get("/api/v0/export/1", headers=auth(api_token)).get_json()
    assert failed["finished_at"] is None
    assert failed["error"].startswith("export failed (")
    # GoatCounter's quirk: a failed export never finishes, so its download keeps answering 202.
    assert client.get("/api/v0/export/1/download", headers=auth(api_token)).status_code == 202
