"""The spec's requests as a shell script written for the original server (curl + jq), run
unchanged against a live Ibex: a threaded HTTP server on the test database, with the embedded
persister on, as `make run` serves it. Only Ibex's own first step comes first: an admin user,
who owns the bootstrap token."""
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import accounts
from app.extensions import db as _db
from tests.conftest import make_app

SCRIPT = Path(__file__).with_name("original_client.sh")


@pytest.fixture
def live_url(app, database_url, tmp_path):
    accounts.create_user("root", "correct horse battery", role="*")
    live = make_app(database_url, tmp_path / "live", EMBEDDED_PERSISTER="true")
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="basic-live", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with live.app_context():
            live.extensions["ingest"].shutdown()
            _db.session.remove()
            _db.engine.dispose()


def test_original_client_script_runs_unchanged(live_url):
    result = subprocess.run(["bash", str(SCRIPT), live_url], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
