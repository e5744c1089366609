"""The deployment files, checked without running the stack: deploy/nginx/ passes `nginx -t`
(rendered for loopback, alone and inside Debian's own nginx.conf), the systemd units pass
`systemd-analyze verify` and agree with gunicorn.conf.py and nginx on timeouts, and
gunicorn.conf.py gives gthread workers with sane numbers (and tells systemd it is ready)."""
import configparser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from bench.soak import nginx
from bench.soak.processes import Process, children, free_port, http_status, wait_for
from tests.deploy.conftest import require_nginx

ROOT = nginx.ROOT
SYSTEMD = os.path.join(ROOT, "deploy", "systemd")
UNITS = ("ibex-web.service", "ibex-worker@.service", "ibex-backup.service", "ibex-backup.timer")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


@pytest.fixture
def rendered(tmp_path):
    """Writes the rendered site and snippet under tmp_path; returns a function of the site's
    render_site() options giving the path of the site file."""
    require_nginx()
    certificate, key = nginx.make_certificate(str(tmp_path))
    locations = tmp_path / "ibex-locations.conf"
    locations.write_text(nginx.render_locations(static_dir=os.path.join(ROOT, "static")))

    def render(**options):
        site = tmp_path / "ibex.conf"
        site.write_text(nginx.render_site(
            http_port=free_port(), https_port=free_port(), upstreams=["127.0.0.1:8080"],
            locations_path=str(locations), certificate=certificate, key=key,
            log_dir=str(tmp_path), **options))
        return str(site)
    return render


def debian_main(tmp_path, site):
    """Debian's /etc/nginx/nginx.conf with ``site`` as its only enabled site, and its pid and
    logs under tmp_path; returns the path of that copy."""
    debian = "/etc/nginx/nginx.conf"
    assert os.path.isfile(debian), "Debian's nginx package installs /etc/nginx/nginx.conf"
    text = open(debian).read()
    text = re.sub(r"(?m)^user .*$", "", text)
    text = re.sub(r"(?m)^pid .*$", f"pid {tmp_path}/nginx.pid;", text)
    text = text.replace("/var/log/nginx/", f"{tmp_path}/")
    text = text.replace("include /etc/nginx/conf.d/*.conf;", "")
    assert "include /etc/nginx/sites-enabled/*;" in text
    text = text.replace("include /etc/nginx/sites-enabled/*;", f"include {site};")
    main = tmp_path / "debian-nginx.conf"
    main.write_text(text)
    return str(main)


@pytest.mark.parametrize("serve_http", [False, True], ids=["https", "http-only"])
def test_the_rendered_site_passes_nginx_t(tmp_path, rendered, serve_http):
    site = rendered(serve_http=serve_http)
    main = tmp_path / "nginx.conf"
    main.write_text(nginx.render_main(run_dir=str(tmp_path), log_dir=str(tmp_path), site_path=site))
    ok, output = nginx.nginx_test(str(main), str(tmp_path), str(tmp_path / "error.log"))
    assert ok, output


def test_the_site_fits_into_debians_nginx_conf(tmp_path, rendered):
    """sites-enabled/ is included inside Debian's http block, which already sets gzip, SSL
    protocols and logs: the site must not repeat an http-level directive."""
    ok, output = nginx.nginx_test(debian_main(tmp_path, rendered()), str(tmp_path),
                                  str(tmp_path / "error.log"))
    assert ok, output


def test_a_duplicate_http_level_directive_would_be_caught(tmp_path, rendered):
    """The check above can fail: the same site with `gzip on;` at the http level does."""
    site = rendered()
    with open(site, "a") as f:
        f.write("gzip on;\n")
    ok, output = nginx.nginx_test(debian_main(tmp_path, site), str(tmp_path),
                                  str(tmp_path / "error.log"))
    assert not ok and '"gzip" directive is duplicate' in output


def test_rendering_fails_when_the_shipped_file_loses_a_line_it_replaces():
    text = open(nginx.SITE_FILE).read().replace("    server 127.0.0.1:8080;\n", "")
    with pytest.raises(ValueError, match="server 127.0.0.1:8080"):
        nginx.render_site(http_port=1, https_port=2, upstreams=["x:1"], locations_path="/l",
                          certificate="/c", key="/k", log_dir="/tmp", text=text)


# --- systemd ---------------------------------------------------------------------------------

def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(os.path.join(SYSTEMD, name))
    return parser


def seconds(value):
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    """The units with /srv/ibex/app pointing at this checkout (so their commands exist)."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed; the configparser checks below still run")
    (tmp_path / "ibex.env").write_text("DATABASE_URL=postgresql:///ibex\n")
    for name in UNITS:
        text = open(os.path.join(SYSTEMD, name)).read()
        text = text.replace("/srv/ibex/app", ROOT).replace("/etc/ibex/ibex.env",
                                                            str(tmp_path / "ibex.env"))
        (tmp_path / name).write_text(text)
    result = subprocess.run([tool, "verify", "ibex-web.service", "ibex-worker@1.service",
                             "ibex-backup.service", "ibex-backup.timer"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""  # no unknown keys, no warnings


def test_the_units_run_ibex_from_its_venv_with_the_shared_environment():
    for name, command in (("ibex-web.service", "gunicorn"), ("ibex-worker@.service", "flask")):
        service = unit(name)["Service"]
        argv = service["ExecStart"].split()
        assert argv[0] == f"/srv/ibex/app/.venv/bin/{command}"
        assert os.access(os.path.join(VENV_BIN, command), os.X_OK)
        assert service["EnvironmentFile"] == "/etc/ibex/ibex.env"
        assert (service["User"], service["Group"]) == ("ibex", "ibex")
        assert service["StateDirectory"] == "ibex"  # IBEX_INSTANCE_DIR=/var/lib/ibex
        assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert unit("ibex-web.service")["Service"]["ExecStart"].endswith(
        "-c /srv/ibex/app/gunicorn.conf.py wsgi:app")
    assert unit("ibex-worker@.service")["Service"]["ExecStart"].split()[1:] == ["worker"]


def test_stop_and_reload_are_graceful_and_agree_with_gunicorn_and_nginx():
    web, worker = unit("ibex-web.service")["Service"], unit("ibex-worker@.service")["Service"]
    settings = gunicorn_settings({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert web["Type"] == "notify"
    assert web["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert web["KillMode"] == "mixed"
    # systemd waits longer than gunicorn gives its requests.
    assert seconds(web["TimeoutStopSec"]) > settings["graceful_timeout"]
    assert worker["KillSignal"] == "SIGTERM" and worker["KillMode"] == "mixed"
    assert seconds(worker["TimeoutStopSec"]) >= 60
    site = open(nginx.SITE_FILE).read() + open(nginx.LOCATIONS_FILE).read()
    upstream = re.search(r"upstream ibex_web \{(.*?)\}", site, re.S).group(1)
    # No idle connections to gunicorn: a reloading worker would drop requests sent on them.
    assert not re.search(r"(?m)^\s*keepalive\b", upstream)
    read_timeout = int(re.search(r"proxy_read_timeout (\d+)s;", site).group(1))
    assert read_timeout > settings["timeout"]  # gunicorn, not nginx, gives up first


# --- gunicorn.conf.py --------------------------------------------------------------------------

def gunicorn_settings(env):
    code = ("import json, runpy; s = runpy.run_path('gunicorn.conf.py'); "
            "print(json.dumps({k: getattr(s.get(k), '__name__', s.get(k)) "
            "for k in ('workers', 'threads', 'worker_class', 'timeout', 'graceful_timeout', "
            "'keepalive', 'accesslog', 'errorlog', 'bind', 'logger_class')}))")
    clean = {k: v for k, v in os.environ.items() if k not in (
        "REDIS_URL", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_ACCESS_LOG", "BIND",
        "PROXY_HOPS")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env},
                            capture_output=True, text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def test_gunicorn_conf_sizes_production_for_parallel_widgets():
    settings = gunicorn_settings({"REDIS_URL": "redis://127.0.0.1:6379/0", "PROXY_HOPS": "1"})
    # gthread, answering every connection it accepted when it stops (tests/deploy/test_proxy.py
    # reloads it under traffic).
    assert settings["worker_class"] == "ProxiedThreadWorker"
    assert settings["workers"] == max(2, 2 * os.cpu_count())
    assert settings["threads"] == 8
    # A dashboard's dozen widget requests run at once on one process's threads alone.
    assert settings["workers"] * settings["threads"] >= 16
    assert 10 <= settings["timeout"] <= 120 and settings["graceful_timeout"] >= 10
    # The app logs each request; gunicorn's error log comes out in the app's format.
    assert settings["accesslog"] is None and settings["errorlog"] == "-"
    assert settings["logger_class"] == "IbexGunicornLogger"
    assert settings["bind"] == "127.0.0.1:8080"  # behind nginx, never on a public address


def test_gunicorn_conf_embedded_default_and_environment_overrides():
    embedded = gunicorn_settings({})
    assert embedded["workers"] == 1  # embedded: the buffer lives in the process
    assert embedded["worker_class"] == "gthread"  # browsers reach it directly
    tuned = gunicorn_settings({"REDIS_URL": "redis://x", "WEB_CONCURRENCY": "3",
                               "GUNICORN_THREADS": "16", "GUNICORN_ACCESS_LOG": "1"})
    assert (tuned["workers"], tuned["threads"], tuned["accesslog"]) == (3, 16, "-")
    assert tuned["logger_class"] is None  # gunicorn's own logger, which writes the access log


def test_gunicorn_tells_systemd_it_is_ready_and_reloads_on_hup(tmp_path):
    """Type=notify and ExecReload of ibex-web.service, with a real gunicorn (embedded mode,
    SQLite): READY=1 arrives on NOTIFY_SOCKET; HUP replaces the worker, which answers."""
    notify = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify)
    listener.settimeout(60)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL",
                                                            "IBEX_CONFIG", "WEB_CONCURRENCY")}
    env.update({"NOTIFY_SOCKET": notify, "BIND": f"127.0.0.1:{port}",
                "IBEX_INSTANCE_DIR": str(tmp_path / "instance"), "PYTHONUNBUFFERED": "1"})
    web = Process("gunicorn", [os.path.join(VENV_BIN, "gunicorn"), "-c",
                               os.path.join(ROOT, "gunicorn.conf.py"), "wsgi:app"],
                  env, str(tmp_path / "gunicorn.log"))
    try:
        assert listener.recv(4096).startswith(b"READY=1")
        url = f"http://127.0.0.1:{port}/login"
        wait_for(lambda: http_status(url) is not None and children(web.pid), 60,
                 "gunicorn to answer", 0.1, [web])
        before = children(web.pid)
        web.signal(1)  # SIGHUP, as ExecReload sends it
        wait_for(lambda: children(web.pid) and not set(children(web.pid)) & set(before), 60,
                 "a new worker process", 0.1, [web])
        time.sleep(0.5)
        assert wait_for(lambda: http_status(url), 60, "the new worker to answer", 0.1, [web])
        assert web.alive()
    finally:
        web.stop()
        listener.close()


def test_gunicorn_workers_freeze_the_loaded_app_out_of_the_garbage_collector():
    """After loading the app a worker freezes what exists (gc.freeze), so full collections
    during requests do not scan the app's ~120,000 long-lived objects."""
    code = ("import gc, runpy; s = runpy.run_path('gunicorn.conf.py'); "
            "import app; before = gc.get_freeze_count(); s['post_worker_init'](None); "
            "print(before, gc.get_freeze_count())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=30, check=True)
    before, after = map(int, result.stdout.split())
    assert before == 0 and after > 10_000
