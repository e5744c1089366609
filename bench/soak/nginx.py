"""deploy/nginx/ rendered for a loopback run: the shipped site file and snippet with ports,
paths, certificate and upstreams replaced (every replaced line must be found, so the tests keep
exercising the shipped file), a main nginx.conf of the run's own, and `nginx -t`."""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE_FILE = os.path.join(ROOT, "deploy", "nginx", "ibex.conf")
LOCATIONS_FILE = os.path.join(ROOT, "deploy", "nginx", "ibex-locations.conf")
HOST = "127.0.0.1"


def nginx_binary():
    for path in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/bin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError("nginx is not installed: `make nginx` installs Debian's package")


# --- rendering deploy/nginx/ -----------------------------------------------------------------

def _replace(text, old, new, source, count=None):
    """Replace ``old`` (which must occur, ``count`` times when given): a renamed line in the
    shipped file fails here instead of leaving a production value in the tested config."""
    found = text.count(old)
    if not found or (count is not None and found != count):
        raise ValueError(f"{os.path.relpath(source, ROOT)}: expected {count or 'some'} "
                         f"occurrence(s) of {old!r}, found {found}; update bench/soak/nginx.py")
    return text.replace(old, new)


def render_site(*, http_port, https_port, upstreams, locations_path, certificate, key, log_dir,
                serve_http=False, text=None):
    """deploy/nginx/ibex.conf for loopback: listen on 127.0.0.1 ports (the IPv6 listens go),
    ``upstreams`` ("host:port", …) in place of gunicorn's default address, the test
    certificate, logs under ``log_dir``, the snippet at ``locations_path``. ``serve_http``
    applies docs/deploy.md's HTTP-only edit: port 80 serves Ibex instead of redirecting."""
    text = open(SITE_FILE).read() if text is None else text
    rep = lambda text, old, new, count=None: _replace(text, old, new, SITE_FILE, count)  # noqa: E731
    text = rep(text, "    listen 80;\n", f"    listen {HOST}:{http_port};\n", 1)
    text = rep(text, "    listen 443 ssl http2;\n", f"    listen {HOST}:{https_port} ssl http2;\n", 1)
    text = rep(text, "    listen [::]:80;\n", "", 1)
    text = rep(text, "    listen [::]:443 ssl http2;\n", "", 1)
    text = rep(text, "    server 127.0.0.1:8080;\n",
               "".join(f"    server {upstream};\n" for upstream in upstreams), 1)
    text = rep(text, "/etc/letsencrypt/live/analytics.example.com/fullchain.pem", certificate, 1)
    text = rep(text, "/etc/letsencrypt/live/analytics.example.com/privkey.pem", key, 1)
    text = rep(text, "/var/log/nginx/", log_dir.rstrip("/") + "/")
    text = rep(text, "    include /etc/nginx/snippets/ibex-locations.conf;\n",
               f"    include {locations_path};\n", 1)
    if serve_http:
        text = rep(text, "    location / {\n        return 308 https://$host$request_uri;\n    }\n",
                   f"    include {locations_path};\n", 1)
    return text


def render_locations(*, static_dir, text=None):
    """deploy/nginx/ibex-locations.conf with the checkout's static/ directory."""
    text = open(LOCATIONS_FILE).read() if text is None else text
    return _replace(text, "alias /srv/ibex/app/static/;", f"alias {static_dir.rstrip('/')}/;",
                    LOCATIONS_FILE, 1)


def render_main(*, run_dir, log_dir, site_path):
    """A main nginx.conf of the stack's own in place of /etc/nginx/nginx.conf: pid, logs and
    temporary files under the stack's directories, Debian's mime.types, the rendered site."""
    temp = "\n".join(f"    {kind}_temp_path {run_dir}/{kind}_temp;"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# Rendered by bench/soak/stack.py for a loopback test run; not for production.
worker_processes auto;
pid {run_dir}/nginx.pid;
error_log {log_dir}/nginx-error.log;

events {{
    worker_connections 1024;
}}

http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {log_dir}/nginx-access.log;
{temp}
    include {site_path};
}}
"""


def make_certificate(directory, name="analytics.example.com"):
    """A self-signed certificate and key (openssl), valid for two days; returns their paths."""
    certificate, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name},IP:{HOST}",
                    "-keyout", key, "-out", certificate],
                   check=True, capture_output=True, timeout=60)
    return certificate, key


def nginx_test(main_conf, prefix, error_log):
    """`nginx -t` on a config; returns (ok, output)."""
    result = subprocess.run([nginx_binary(), "-t", "-c", main_conf, "-p", prefix.rstrip("/") + "/",
                             "-e", error_log], capture_output=True, text=True, timeout=60)
    return result.returncode == 0, result.stdout + result.stderr
