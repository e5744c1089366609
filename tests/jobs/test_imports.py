"""Imports of GoatCounter CSV exports: the round trip (export a site, import the file into a
fresh site, identical statistics through the API and in every rollup), re-imports that count
nothing twice, format 1 and plain files, bot rows, errors naming line and column with nothing
written, and `flask import`."""
import gzip
import io
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app import accounts
from app.extensions import db
from app.ingest.hit_in import HitIn
from app.jobs import exports, imports, runtime
from app.models import (Browser, BrowserStat, Export, Hit, HitCount, Import, LocationStat, Path,
                        Ref, RefCount, SizeStat, System, SystemStat, Visit, VisitorSession)

START = datetime(2024, 3, 4, 9, 0, 0)
UAS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
       "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
       "Chrome/119.0.0.0 Safari/537.36",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
       "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"]
REFS = ["", "https://news.ycombinator.com/item?id=1", "https://www.google.com/", "Newsletter"]
V2_HEADER = ("2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,"
             "Screen size,Location,FirstVisit,Date\n")


def unix(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def traffic(site_id, n=240):
    """Varied hits over three days: sessions (UA + IP) and session-less count-API hits, events,
    referrers, widths, locations, titles; repeats of a path in a session are not first visits."""
    hits = []
    for i in range(n):
        when = START + timedelta(minutes=17 * i)
        common = dict(site_id=site_id, created_at=unix(when), width=[0, 1280, 390][i % 3],
                      location=["NL", "US-TX", "", "DE"][i % 4])
        if i % 10 == 9:
            hits.append(HitIn(path=f"signup-{i % 3}", kind="event", family="gc-api",
                              no_session=True, **common))
        else:
            hits.append(HitIn(path=f"/page/{i % 7}", title=f"Page {i % 7} <b>&</b>",
                              user_agent=UAS[i % 3], ip=f"198.51.100.{i % 5}",
                              referrer=REFS[i % 4], **common))
    return hits


def export_file(site, user=None):
    """Run a CSV export of ``site``; returns the path of its file."""
    export = exports.start_export(site, user.id if user else None)
    runtime().run_pending()
    db.session.rollback()  # the job committed in its own session
    export = db.session.get(Export, export.id)
    assert export.finished_at is not None, export.error
    return exports.file_path(export)


def import_file(site, path):
    record = imports.local_file(site, path)
    imports.start_import(record)
    [job] = runtime().run_pending()
    db.session.rollback()
    return db.session.get(Import, record.id), job


def statistics(site_id):
    """Every GoatCounter rollup of a site, keyed by dimension values instead of ids."""
    def rows(query):
        return sorted(tuple(row) for row in db.session.execute(query.where(Path.site_id == site_id)))
    browser = (Browser.name, Browser.version)
    system = (System.name, System.version)
    return {
        "hit_counts": rows(select(Path.path, HitCount.hour, HitCount.visitors, HitCount.pageviews)
                           .join(Path, Path.id == HitCount.path_id)),
        "ref_counts": rows(select(Path.path, Ref.ref, Ref.ref_scheme, RefCount.hour,
                                  RefCount.visitors, RefCount.pageviews)
                           .join(Path, Path.id == RefCount.path_id)
                           .join(Ref, Ref.id == RefCount.ref_id)),
        "browsers": rows(select(Path.path, BrowserStat.day, *browser, BrowserStat.visitors)
                         .join(Path, Path.id == BrowserStat.path_id)
                         .join(Browser, Browser.id == BrowserStat.browser_id)),
        "systems": rows(select(Path.path, SystemStat.day, *system, SystemStat.visitors)
                        .join(Path, Path.id == SystemStat.path_id)
                        .join(System, System.id == SystemStat.system_id)),
        "locations": rows(select(Path.path, LocationStat.day, LocationStat.location,
                                 LocationStat.visitors).join(Path, Path.id == LocationStat.path_id)),
        "sizes": rows(select(Path.path, SizeStat.day, SizeStat.width, SizeStat.visitors)
                      .join(Path, Path.id == SizeStat.path_id)),
        "paths": rows(select(Path.path, Path.title, Path.event)),
        "visits": db.session.scalar(select(func.sum(Visit.pageviews)).where(Visit.site_id == site_id)),
        "sessions": db.session.scalar(select(func.count()).select_from(VisitorSession)
                                      .where(VisitorSession.site_id == site_id)),
    }


def api(client, token, host, url):
    response = client.get(url, headers={"Authorization": f"Bearer {token.secret}", "Host": host})
    assert response.status_code == 200, response.data
    return _without_ids(response.get_json())


def _without_ids(value):
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in ("id", "path_id")}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


@pytest.fixture
def seeded(site, store_hits):
    store_hits(*traffic(site.id))
    return site


def test_round_trip_gives_identical_statistics(client, api_token, seeded, user):
    copy = accounts.create_site("copy.example")
    record, job = import_file(copy, export_file(seeded, user))
    assert job.status == "finished" and record.state == "done", record.error
    assert (record.num_rows, record.num_imported, record.num_skipped) == (240, 240, 0)
    assert job.meta == {"phase": "importing", "done": 240, "total": 240}
    original, imported = statistics(seeded.id), statistics(copy.id)
    assert original["hit_counts"] and original["ref_counts"] and original["browsers"]
    assert imported == original

    query = "start=2024-03-01&end=2024-03-10"
    for url in (f"/api/v0/stats/total?{query}", f"/api/v0/stats/hits?{query}&limit=100",
                *(f"/api/v0/stats/{page}?{query}" for page in
                  ("browsers", "systems", "locations", "sizes", "toprefs"))):
        assert api(client, api_token, "copy.example", url) == \
            api(client, api_token, "example.com", url), url
    copy = db.session.get(type(copy), copy.id)
    assert copy.received_data and copy.first_hit_at == START


def test_importing_again_counts_nothing_twice(seeded, store_hits, user):
    copy = accounts.create_site("copy.example")
    path = export_file(seeded)
    import_file(copy, path)
    before = statistics(copy.id)
    hits = db.session.scalar(select(func.count()).select_from(Hit).where(Hit.site_id == copy.id))

    record, _ = import_file(copy, path)
    assert (record.state, record.num_imported, record.num_skipped) == ("done", 0, 240)
    assert statistics(copy.id) == before

    # A later full export overlaps the first: only the new hits are added.
    store_hits(*traffic(seeded.id, 250)[240:])
    record, _ = import_file(copy, export_file(seeded))
    assert (record.num_rows, record.num_imported) == (250, 10)
    assert db.session.scalar(select(func.count()).select_from(Hit)
                             .where(Hit.site_id == copy.id)) == hits + 10
    assert statistics(copy.id) == statistics(seeded.id)


def test_identical_rows_are_each_imported(site, tmp_path):
    row = '/same,Same,0,,Firefox 120,Linux ,0-0,0,,o,"0,0,1",,1,2024-01-01T10:00:00Z\n'
    path = tmp_path / "dupes.csv"
    path.write_text(V2_HEADER + row * 3)
    record, _ = import_file(site, str(path))
    assert (record.num_rows, record.num_imported) == (3, 3)
    assert db.session.scalar(select(func.sum(HitCount.pageviews))) == 3
    again, _ = import_file(site, str(path))
    assert again.num_imported == 0
    assert db.session.scalar(select(func.sum(HitCount.pageviews))) == 3


def test_format_1_plain_with_user_agents(site, tmp_path):
    path = tmp_path / "v1.csv"
    path.write_text(
        "1Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,"
        "Screen size,Location,FirstVisit,Date\n"
        f'/a,A,false,"{UAS[1]}",,,1234,0,example.org,h,"1920,1080,2",NL,true,2020-06-18T14:42:00Z\n'
        f'/b,B,false,"{UAS[0]}",,,1234,0,,,,,true,2020-06-18T14:43:00Z\n'
        '/bot,,false,curl/7.8,,,,3,,,,,true,2020-06-18T14:44:00Z\n')
    record, _ = import_file(site, str(path))
    assert (record.state, record.num_rows, record.num_imported, record.num_skipped) == \
        ("done", 3, 2, 1)
    found = db.session.execute(
        select(Path.path, Browser.name, Browser.version, System.name, Hit.width, Hit.location)
        .join(Path, Path.id == Hit.path_id).join(Browser, Browser.id == Hit.browser_id)
        .join(System, System.id == Hit.system_id).order_by(Hit.id)).all()
    assert [tuple(row) for row in found] == [("/a", "Chrome", "119", "Windows", 1920, "NL"),
                                             ("/b", "Firefox", "120", "Linux", None, "")]
    sessions = db.session.scalars(select(Hit.session_id)).all()
    assert sessions[0] is not None and sessions[0] == sessions[1]


@pytest.mark.parametrize("content, error", [
    (V2_HEADER + "/a,,0,,,,0-0,0,,o,\"0,0,1\",,1,2024-01-01T10:00:00Z\n"
     "/b,,0,,,,0-0,0,,o,\"0,0,1\",,1,yesterday\n",
     'line 3, column 14 (Date): must be an RFC 3339 time such as 2019-06-18T14:42:00Z, not "yesterday"'),
    (V2_HEADER + "/a,,maybe,,,,0-0,0,,o,\"0,0,1\",,1,2024-01-01T10:00:00Z\n",
     'line 2, column 3 (Event): must be 0 or 1, not "maybe"'),
    (V2_HEADER + ",,0,,,,0-0,0,,o,\"0,0,1\",,1,2024-01-01T10:00:00Z\n",
     "line 2, column 1 (Path): must be set"),
    (V2_HEADER + "/a,,0,,,,0-0,0,,x,\"0,0,1\",,1,2024-01-01T10:00:00Z\n",
     'line 2, column 10 (Referrer scheme): must be one of h, g, c, o, not "x"'),
    (V2_HEADER + "/a,,0,,,,0-0,0,,o,\"0,0,1\",Mars,1,2024-01-01T10:00:00Z\n",
     'line 2, column 12 (Location): must be a country (NL) or region (US-TX) code, not "MARS"'),
    (V2_HEADER + '/a,"Title\nover two lines",0,,,,0-0,0\n',
     "line 3: 8 fields, but the header has 14"),
    ("Path,Title\n/a,b\n", "line 1, column 1 (Path): not a GoatCounter CSV export: the header "
                           "must start with '2Path' (format 2) or '1Path' (format 1)"),
])
def test_a_bad_file_names_line_and_column_and_writes_nothing(site, tmp_path, content, error):
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(content.encode()))
    record, job = import_file(site, str(path))
    assert (job.status, record.state, record.error) == ("failed", "failed", error)
    assert db.session.scalar(select(func.count()).select_from(Hit)) == 0


def test_binary_garbage_is_refused_as_such(site, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"2Path\xff\xfe\x00" * 10)
    record, _ = import_file(site, str(path))
    assert record.state == "failed" and record.error == "line 1: the file is not UTF-8 text"
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(gzip.compress((V2_HEADER * 50).encode())[:60])
    record, _ = import_file(site, str(damaged))
    assert record.state == "failed" and "gzip data is damaged" in record.error


def test_uploads_are_kept_until_imported(site):
    body = V2_HEADER + "/u,,0,,,,0-0,0,,o,\"0,0,1\",,1,2024-01-01T10:00:00Z\n"
    record = imports.save_upload(site, io.BytesIO(gzip.compress(body.encode())), "../../x.csv.gz")
    assert record.filename == "x.csv.gz" and record.state == "queued"
    path = imports.file_path(record)
    imports.start_import(record)
    runtime().run_pending()
    db.session.rollback()
    assert db.session.get(Import, record.id).state == "done"
    assert not os.path.exists(path)


def test_flask_import_command(app, site, tmp_path, seeded):
    copy = accounts.create_site("copy.example")
    path = export_file(seeded)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", path, "--site", str(copy.id)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(
        f"imported 240 of 240 rows into site {copy.id} (0 skipped: already imported or bots)")
    assert "importing: 240 of 240 rows" in result.stderr
    db.session.rollback()
    assert statistics(copy.id) == statistics(seeded.id)

    bad = tmp_path / "bad.csv"
    bad.write_text(V2_HEADER + "/a,,0,,,,0-0,0,,o,\"0,0,1\",,1,soon\n")
    result = runner.invoke(args=["import", str(bad), "--site", str(copy.id)])
    assert result.exit_code == 1
    assert "line 2, column 14 (Date)" in result.output
    result = runner.invoke(args=["import", str(bad), "--site", "999"])
    assert result.exit_code == 1 and "no site 999" in result.output


def test_the_json_of_the_round_trip_is_stable(seeded):
    """The import's digest ignores titles: a path retitled between two exports is the same
    row, so importing the later export adds nothing."""
    copy = accounts.create_site("copy.example")
    path = export_file(seeded)
    import_file(copy, path)
    db.session.execute(Path.__table__.update().where(Path.site_id == seeded.id)
                       .values(title="Renamed"))
    db.session.commit()
    record, _ = import_file(copy, export_file(seeded))
    assert record.num_imported == 0
    assert json.dumps(statistics(copy.id)["hit_counts"], default=str) == \
        json.dumps(statistics(seeded.id)["hit_counts"], default=str)
