"""Export and Import pages: start an export and watch its self-polling row until the download
appears, upload a file and read the import's summary or error, expired exports, lost jobs
enqueued again, escaping of user strings, admin-only access and CSRF on every form."""
import gzip
import io
import os
import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import accounts, clock
from app.extensions import db as _db
from app.ingest.hit_in import HitIn
from app.jobs import exports, runtime, status
from app.models import Export, Hit, Import
from tests.conftest import PASSWORD, _empty_tables, make_app
from tests.ui.conftest import csrf_tokens, log_in, text

XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
HEADER = ("2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,"
          "Screen size,Location,FirstVisit,Date\n")


def run_jobs():
    jobs = runtime().run_pending()
    _db.session.rollback()
    return jobs


def polls(html, url):
    """True when the fragment re-fetches itself from ``url``."""
    return bool(re.search(rf'hx-get="{re.escape(url)}" hx-trigger="load delay:1s" '
                          r'hx-swap="outerHTML"', html))


@pytest.fixture
def hits(site, store_hits):
    store_hits(*(HitIn(site_id=site.id, path=f"/p{i}", title=XSS, family="gc-api",
                       no_session=True) for i in range(3)))
    return site


def test_export_page_starts_an_export_whose_row_polls_until_it_can_be_downloaded(logged_in, hits):
    site = hits
    page = text(logged_in.get(f"/sites/{site.id}/exports"))
    assert 'aria-current="page">Export</a>' in page and "No exports yet." in page

    response = logged_in.post(f"/sites/{site.id}/exports", data={"format": "csv"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{site.id}/exports"
    export = _db.session.scalar(select(Export))
    row_url = f"/sites/{site.id}/exports/{export.id}/row"
    page = text(logged_in.get(f"/sites/{site.id}/exports"))
    assert polls(page, row_url) and "Waiting to start…" in page

    fragment = text(logged_in.get(row_url))
    assert fragment.lstrip().startswith("<tr") and "<html" not in fragment
    assert polls(fragment, row_url)
    run_jobs()
    fragment = text(logged_in.get(row_url))
    assert not polls(fragment, row_url) and "hx-get" not in fragment
    assert "Ready" in fragment and "last pageview id 3" in fragment
    download_url = f"/sites/{site.id}/exports/{export.id}/download"
    assert f'href="{download_url}"' in fragment

    download = logged_in.get(download_url)
    assert download.status_code == 200 and download.mimetype == "application/gzip"
    assert "attachment" in download.headers["Content-Disposition"]
    lines = gzip.decompress(download.data).decode().splitlines()
    assert lines[0] == HEADER.strip() and len(lines) == 4
    assert XSS in lines[1]  # the file keeps the data as it is; pages escape it


def test_json_exports_and_bad_cursors_from_the_form(logged_in, site):
    response = logged_in.post(f"/sites/{site.id}/exports", data={"format": "json"})
    assert response.status_code == 302
    assert _db.session.scalar(select(Export.format)) == "json"
    page = text(logged_in.post(f"/sites/{site.id}/exports",
                               data={"format": "csv", "start_from_hit_id": "-4"}))
    assert "Number must be" in page and _db.session.scalar(select(func.count(Export.id))) == 1


def test_expired_and_failed_exports_offer_no_download(logged_in, hits):
    clock.freeze(datetime(2024, 5, 1, 12, 0))
    try:
        expired = exports.start_export(hits)
        failed = exports.start_export(hits)
        os.makedirs(exports.file_path(failed))  # its file cannot be put in place
        run_jobs()
        clock.freeze(datetime(2024, 5, 2, 12, 0))
        page = text(logged_in.get(f"/sites/{hits.id}/exports"))
    finally:
        clock.freeze(None)
    assert "Deleted after 24 hours" in page
    assert "Failed: export failed (" in page
    assert "/download" not in page
    assert logged_in.get(f"/sites/{hits.id}/exports/{expired.id}/download").status_code == 404


def test_an_export_whose_job_was_lost_is_enqueued_again(logged_in, site):
    export = Export(site_id=site.id, format="csv", created_at=datetime.now(), path="")
    _db.session.add(export)
    _db.session.commit()
    export.path = f"{export.id}-{exports.download_name(export, site)}"
    _db.session.commit()
    assert status(exports.job_id(export.id)) is None  # e.g. the process restarted
    logged_in.get(f"/sites/{site.id}/exports/{export.id}/row")
    assert status(exports.job_id(export.id)).status == "queued"
    run_jobs()
    assert _db.session.get(Export, export.id).num_rows == 0


def upload(client, site, content, filename="export.csv.gz"):
    return client.post(f"/sites/{site.id}/imports", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename)})


def test_import_page_uploads_and_shows_progress_then_the_summary(logged_in, site):
    rows = "".join(f'/i{i},T,0,,Firefox 1,Linux ,0-0,0,,o,"0,0,1",,1,2024-01-01T10:0{i}:00Z\n'
                   for i in range(3))
    response = upload(logged_in, site, gzip.compress((HEADER + rows).encode()), IMG + ".csv.gz")
    assert response.status_code == 302
    record = _db.session.scalar(select(Import))
    row_url = f"/sites/{site.id}/imports/{record.id}/row"
    page = text(logged_in.get(f"/sites/{site.id}/imports"))
    assert polls(page, row_url) and "Waiting to start…" in page
    assert IMG not in page and "&lt;img src=x onerror=alert(1)&gt;.csv.gz" in page

    run_jobs()
    fragment = text(logged_in.get(row_url))
    assert not polls(fragment, row_url)
    assert "Imported 3 of 3 rows." in fragment
    assert _db.session.scalar(select(func.count()).select_from(Hit)) == 3

    upload(logged_in, site, (HEADER + rows).encode(), "again.csv")
    run_jobs()
    page = text(logged_in.get(f"/sites/{site.id}/imports"))
    assert "Imported 0 of 3 rows; 3 skipped (imported before, or bots)." in page


def test_a_bad_upload_shows_the_line_and_column_escaped(logged_in, site):
    bad = HEADER + f'/a,,0,,,,0-0,0,,o,"0,0,1",,1,{XSS}\n'
    upload(logged_in, site, bad.encode(), "bad.csv")
    run_jobs()
    page = text(logged_in.get(f"/sites/{site.id}/imports"))
    assert "Failed: line 2, column 14 (Date): must be an RFC 3339 time" in page
    assert XSS not in page and "&lt;script&gt;" in page

    page = text(upload(logged_in, site, b"", "empty.csv"))
    assert "Choose a file to import." in page or "the file is empty" in page
    assert _db.session.scalar(select(func.count(Import.id))) == 1


def test_pages_are_for_admins_and_ids_of_other_sites_are_not_found(new_client, logged_in, site):
    accounts.create_user("sam", "password-sam", role="s")
    settings_user = new_client()
    assert log_in(settings_user, "sam", "password-sam").status_code == 302
    for url in (f"/sites/{site.id}/exports", f"/sites/{site.id}/imports"):
        assert settings_user.get(url).status_code == 403
    assert "Export</a>" not in text(settings_user.get(f"/sites/{site.id}/tracking"))
    assert "Export</a>" in text(logged_in.get(f"/sites/{site.id}/tracking"))

    other = accounts.create_site("other.example")
    export = exports.start_export(other)
    for url in (f"/sites/{site.id}/exports/{export.id}/row",
                f"/sites/{site.id}/exports/{export.id}/download",
                f"/sites/{site.id}/imports/999/row", "/sites/999/exports"):
        assert logged_in.get(url).status_code == 404, url
    anonymous = new_client()
    assert anonymous.get(f"/sites/{site.id}/exports").status_code == 302


@pytest.fixture
def csrf_app(database_url, tmp_path):
    app = make_app(database_url, tmp_path)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


def test_every_form_carries_a_csrf_token_and_posts_without_one_are_refused(csrf_app):
    accounts.create_user("alice", PASSWORD, role="a")
    site = accounts.create_site("example.com")
    client = csrf_app.test_client()
    login_page = text(client.get("/login"))
    client.post("/login", data={"username": "alice", "password": PASSWORD,
                                "csrf_token": csrf_tokens(login_page)[0]})
    for area in ("exports", "imports"):
        page = text(client.get(f"/sites/{site.id}/{area}"))
        tokens = csrf_tokens(page)
        assert tokens and all(tokens) and len(tokens) == page.count('<form method="post"')
    refused = client.post(f"/sites/{site.id}/exports", data={"format": "csv"})
    assert refused.status_code == 400
    refused = client.post(f"/sites/{site.id}/imports", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(HEADER.encode()), "x.csv")})
    assert refused.status_code == 400
    assert _db.session.scalar(select(func.count(Export.id))) == 0
    assert _db.session.scalar(select(func.count(Import.id))) == 0
    token = csrf_tokens(text(client.get(f"/sites/{site.id}/exports")))[0]
    accepted = client.post(f"/sites/{site.id}/exports", data={"format": "csv", "csrf_token": token})
    assert accepted.status_code == 302
    assert _db.session.scalar(select(func.count(Export.id))) == 1


def test_the_start_from_hit_id_is_shown(logged_in, site):
    exports.start_export(site, start_from_hit_id=41)
    assert "after #41" in text(logged_in.get(f"/sites/{site.id}/exports"))
