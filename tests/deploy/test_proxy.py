"""End to end behind the shipped nginx config (deploy/nginx/, rendered for loopback ports) with
gunicorn, a `flask worker`, PostgreSQL and Redis: hits of the three tracking families are sent
from 127.0.0.9 with a spoofed X-Forwarded-For, and what the worker stores must come from the
right hop. PROXY_HOPS=0 and 2 are run too, to show the test tells a wrong setting apart."""
import re
import signal
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import func, select

from app import accounts
from app.extensions import db
from app.models import BotHit, Hit, Path, Site
from bench.soak.client import Client
from bench.soak.processes import HOST, children, insecure_tls, wait_for
from tests.conftest import PASSWORD
from tests.deploy.conftest import start_stack

CLIENT = "127.0.0.9"        # the real client: a loopback address that is not nginx's
OTHER_CLIENT = "127.0.0.10"
NGINX = "127.0.0.1"         # where nginx connects to gunicorn from
SPOOFED = "66.66.66.67"     # United States in the test GeoIP database
SPOOFED_2 = "51.171.91.33"  # Ireland
DOMAIN = "e2e.example"


@pytest.fixture(scope="module")
def geoip_db(tmp_path_factory):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                        languages=["en"], description="Ibex proxy test")
    writer.insert_network(IPSet(["66.66.66.0/24"]), {
        "country": {"iso_code": "US", "names": {"en": "United States"}}})
    writer.insert_network(IPSet(["51.171.91.0/24"]), {
        "country": {"iso_code": "IE", "names": {"en": "Ireland"}}})
    path = tmp_path_factory.mktemp("geoip") / "country.mmdb"
    writer.to_db_file(str(path))
    return str(path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, geoip_db):
    stack = start_stack(tmp_path_factory, workers=1, web_concurrency=2, web_threads=4,
                        proxy_hops=1, env={"GEOIP_DB": geoip_db, "PERSIST_INTERVAL": "0.2",
                                           "SITE_CACHE_SECONDS": "0"})
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def site(stack):
    """The site (full IPs stored, so they can be compared), a decoy and an admin."""
    with stack.app().app_context():
        site = accounts.create_site(DOMAIN, settings={"ip_mode": "full"})
        accounts.create_site("decoy.example", settings={"ip_mode": "full"})
        accounts.create_user("e2e", PASSWORD, role="a")
        return SimpleNamespace(id=site.id, uuid=site.uuid)


def hops(stack, count):
    """Run gunicorn with PROXY_HOPS=count (restarted only when it differs)."""
    if stack.web_env["PROXY_HOPS"] != str(count):
        stack.restart_web(PROXY_HOPS=count)


def send(stack, site, family, path, source=CLIENT, xff=SPOOFED, headers=None):
    """One hit of ``family`` through nginx (HTTPS) from ``source``, with a client-written
    X-Forwarded-For; returns the answer."""
    client = Client(stack.https_port, source=source, host=DOMAIN)
    headers = {"X-Forwarded-For": xff, **(headers or {})}
    try:
        if family == "goatcounter":
            return client.request("GET", f"/count?p={path}", headers=headers)
        if family == "basic":
            return client.request("POST", "/collect", json_body={"path": path},
                                  headers={"Origin": f"https://{DOMAIN}", **headers})
        return client.request("POST", "/api/collect", headers=headers, json_body={
            "type": "pageview", "payload": {"website": site.uuid, "url": path,
                                            "hostname": DOMAIN, "language": "en-US",
                                            "screen": "1920x1080"}})
    finally:
        client.close()


FAMILIES = {"goatcounter": 200, "basic": 204, "umami": 200}


def send_all(stack, site, prefix, **kwargs):
    """One hit per family on paths ``prefix``-<family>; returns the paths."""
    paths = []
    for family, status in FAMILIES.items():
        path = f"{prefix}-{family}"
        answer = send(stack, site, family, path, **kwargs)
        assert answer.status == status, (family, answer.status, answer.body)
        paths.append(path)
    return paths


def stored(stack, paths, timeout=20.0):
    """Wait until the worker stored one hit on each of ``paths``; {path: row}."""
    deadline = time.monotonic() + timeout
    with stack.app().app_context():
        while True:
            rows = db.session.execute(
                select(Path.path, Hit.site_id, Hit.ip, Hit.location, Hit.session_id)
                .join(Path, Path.id == Hit.path_id).where(Path.path.in_(paths))).all()
            db.session.rollback()
            if len(rows) >= len(paths) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    found = {row.path: row for row in rows}
    assert sorted(found) == sorted(paths), f"stored {sorted(found)} of {paths}\n{stack.logs()}"
    assert len(rows) == len(paths), rows
    return found


def ignored_count(stack, site):
    with stack.app().app_context():
        count = db.session.scalar(select(func.count()).select_from(BotHit).where(
            BotHit.site_id == site.id, BotHit.reason == "ignored-ip"))
        db.session.rollback()
        return count


def set_ignored(stack, site, entries):
    with stack.app().app_context():
        accounts.set_ignored_ips(db.session.get(Site, site.id), entries)


# --- the client address ----------------------------------------------------------------------

def test_the_stored_ip_is_the_real_client_not_the_spoofed_one_nor_nginx(stack, site):
    hops(stack, 1)
    paths = send_all(stack, site, "/real-ip")
    for path, row in stored(stack, paths).items():
        assert row.ip == CLIENT, path
        assert row.site_id == site.id, path


def test_the_location_comes_from_the_real_address(stack, site):
    hops(stack, 1)
    paths = send_all(stack, site, "/location")
    for path, row in stored(stack, paths).items():
        # The spoofed address is in the United States in the GeoIP database; the real one is
        # loopback, which has no location.
        assert row.location == "", path


def test_the_session_key_comes_from_the_real_address(stack, site):
    hops(stack, 1)
    send(stack, site, "goatcounter", "/session-a", xff=SPOOFED)
    send(stack, site, "goatcounter", "/session-b", xff=SPOOFED_2)
    send(stack, site, "goatcounter", "/session-c", source=OTHER_CLIENT, xff=SPOOFED)
    rows = stored(stack, ["/session-a", "/session-b", "/session-c"])
    assert rows["/session-a"].session_id is not None
    assert rows["/session-a"].session_id == rows["/session-b"].session_id
    assert rows["/session-c"].session_id != rows["/session-a"].session_id


def test_the_ignore_list_matches_the_real_client(stack, site):
    hops(stack, 1)
    try:
        set_ignored(stack, site, [CLIENT])
        before = ignored_count(stack, site)
        answers = {family: send(stack, site, family, f"/ignored-{family}")
                   for family in FAMILIES}
        assert answers["goatcounter"].status == 202
        assert CLIENT in answers["goatcounter"].headers["X-Goatcounter"]
        deadline = time.monotonic() + 20
        while ignored_count(stack, site) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ignored_count(stack, site) == before + 3

        set_ignored(stack, site, [SPOOFED])
        paths = send_all(stack, site, "/not-ignored")
        assert all(row.ip == CLIENT for row in stored(stack, paths).values())
        # The dropped ones never became hits (they were in batches persisted before these).
        with stack.app().app_context():
            assert not db.session.scalars(select(Path.path).join(Hit, Hit.path_id == Path.id)
                                          .where(Path.path.like("/ignored-%"))).all()
    finally:
        set_ignored(stack, site, [])


# --- what nginx adds and keeps -------------------------------------------------------------------

def test_scheme_and_host_come_from_nginx_not_from_the_client(stack, site):
    hops(stack, 1)
    client = Client(stack.https_port, source=CLIENT, host=DOMAIN)
    client.login("e2e", PASSWORD)
    page = client.request("GET", f"/sites/{site.id}/tracking", headers={
        "X-Forwarded-Proto": "http", "X-Forwarded-Host": "decoy.example"})
    client.close()
    assert page.status == 200
    assert f"https://{DOMAIN}/count.js".encode() in page.body
    assert b"decoy.example" not in page.body


def test_a_spoofed_forwarded_host_does_not_choose_the_site(stack, site):
    hops(stack, 1)
    send(stack, site, "goatcounter", "/forwarded-host",
         headers={"X-Forwarded-Host": "decoy.example"})
    assert stored(stack, ["/forwarded-host"])["/forwarded-host"].site_id == site.id


def test_https_speaks_http2_and_port_80_redirects(stack):
    context = insecure_tls()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((HOST, stack.https_port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="analytics.example.com") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    answer = Client(stack.http_port, host=DOMAIN, tls=False).request("POST", "/api/collect?x=1")
    assert answer.status == 308
    assert answer.headers["Location"] == f"https://{DOMAIN}/api/collect?x=1"


def test_static_files_are_served_by_nginx_with_a_cache_lifetime(stack):
    client = Client(stack.https_port, host=DOMAIN)
    plain = client.request("GET", "/static/css/ibex.css", headers={"Accept-Encoding": "gzip"})
    versioned = client.request("GET", "/static/css/ibex.css?v=abc")
    assert plain.status == versioned.status == 200
    assert plain.headers["Content-Encoding"] == "gzip"
    assert plain.headers["Cache-Control"] == "max-age=3600"
    assert versioned.headers["Cache-Control"] == f"max-age={365 * 86400}"
    assert plain.headers["Strict-Transport-Security"] == "max-age=31536000"
    # nginx answered from the disk (its ETag is mtime-size; Flask's would differ).
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', versioned.headers["ETag"])
    revalidated = client.request("GET", "/static/css/ibex.css",
                                 headers={"If-None-Match": versioned.headers["ETag"]})
    assert revalidated.status == 304


def test_tracking_scripts_keep_the_apps_headers(stack):
    client = Client(stack.https_port, host=DOMAIN)
    count_js = client.request("GET", "/count.js", headers={"Accept-Encoding": "gzip"})
    umami_js = client.request("GET", "/umami.js")
    assert count_js.status == umami_js.status == 200
    assert count_js.headers["Cache-Control"] == "public, max-age=3600"
    assert umami_js.headers["Cache-Control"] == "public, max-age=2592000"
    assert count_js.headers["Access-Control-Allow-Origin"] == "*"
    assert count_js.headers["Content-Encoding"] == "gzip"
    # gzip makes nginx weaken the app's ETag; the app still answers it with a 304.
    again = client.request("GET", "/count.js", headers={"Accept-Encoding": "gzip",
                                                          "If-None-Match": count_js.headers["ETag"]})
    assert again.status == 304


def test_nginx_gives_each_request_the_id_the_app_logs(stack, site):
    client = Client(stack.https_port, source=CLIENT, host=DOMAIN)
    # A client's own X-Request-Id is replaced: ids in the logs are nginx's.
    page = client.request("GET", "/login", headers={"X-Request-Id": "chosen-by-the-client"})
    assert page.status == 200
    rid = page.headers["X-Request-Id"]  # the app echoes the id it logged the request under
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    log = open(f"{stack.log_dir}/ibex.access.log").read()
    line = next(line for line in log.splitlines() if f"rid={rid} " in line)
    assert line.startswith(CLIENT + " ") and '"GET /login ' in line
    assert f'"request_id":"{rid}"' in open(f"{stack.log_dir}/gunicorn.log").read()


def test_tracking_hits_are_not_in_nginxs_access_log(stack, site):
    client = Client(stack.https_port, source=CLIENT, host=DOMAIN)
    assert client.request("GET", "/count?p=/access-log").status == 200
    assert client.request("GET", "/login").status == 200  # logged: the log is being written
    log = open(f"{stack.log_dir}/ibex.access.log").read()
    assert "/count?" not in log and "/access-log" not in log
    assert '"GET /login ' in log


# --- upgrades --------------------------------------------------------------------------------

def test_reload_and_worker_restart_during_traffic_lose_no_hits(stack, site):
    """docs/deploy.md's upgrade order under a steady stream of hits: gunicorn reloads with HUP
    (systemctl reload ibex-web), then the worker is stopped with SIGTERM and started again
    (systemctl restart ibex-worker@1). Every hit that got a success answer is stored once."""
    hops(stack, 1)
    stop, answered, failures = threading.Event(), [], []

    def traffic():
        client = Client(stack.https_port, source=CLIENT, host=DOMAIN)
        number = 0
        while not stop.is_set():
            number += 1
            path = f"/reload-{number}"
            try:
                if number % 2:
                    answer = client.request("GET", f"/count?p={path}")
                else:
                    answer = client.request("POST", "/collect", json_body={"path": path},
                                            headers={"Origin": f"https://{DOMAIN}"})
            except OSError as exc:
                failures.append((path, repr(exc)))
                continue
            (answered if answer.status in (200, 204) else failures).append(
                path if answer.status in (200, 204) else (path, answer.status))
            time.sleep(0.005)
        client.close()
    sender = threading.Thread(target=traffic)
    sender.start()

    def flowing(message):
        """Wait until a few more hits are answered: traffic ran through each phase, however
        slow the machine is."""
        count = len(answered)
        wait_for(lambda: len(answered) >= count + 5 or failures, 60, message)
    try:
        flowing("hits to flow before the reload")
        before = set(children(stack.web.pid))
        stack.web.signal(signal.SIGHUP)
        wait_for(lambda: len(set(children(stack.web.pid)) - before)
                 >= stack.web_settings["workers"] and not set(children(stack.web.pid)) & before,
                 60, "gunicorn to replace its workers")
        flowing("hits to flow after the reload")
        assert stack.restart_worker(0) == 0  # a clean exit after its batch
        flowing("hits to flow after the worker restart")
    finally:
        stop.set()
        sender.join(timeout=30)
    assert not failures
    assert len(answered) >= 15
    stack.wait_drained(timeout=60)
    with stack.app().app_context():
        stored_paths = db.session.scalars(select(Path.path).join(Hit, Hit.path_id == Path.id)
                                          .where(Path.path.like("/reload-%"))).all()
        db.session.rollback()
    assert len(stored_paths) == len(answered)
    assert sorted(stored_paths) == sorted(answered)


# --- the wrong settings are told apart ----------------------------------------------------------

def test_without_proxy_hops_every_visitor_is_nginx(stack, site):
    hops(stack, 0)
    paths = send_all(stack, site, "/hops-0")
    send(stack, site, "goatcounter", "/hops-0-other", source=OTHER_CLIENT)
    rows = stored(stack, paths + ["/hops-0-other"])
    assert {row.ip for row in rows.values()} == {NGINX}
    # Two real clients with the same browser become one visitor.
    assert rows["/hops-0-other"].session_id == rows["/hops-0-goatcounter"].session_id


def test_one_hop_too_many_trusts_what_the_client_wrote(stack, site):
    hops(stack, 2)
    paths = send_all(stack, site, "/hops-2")
    for path, row in stored(stack, paths).items():
        assert (row.ip, row.location) == (SPOOFED, "US"), path
