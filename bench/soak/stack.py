"""Ibex's production stack on loopback, as deploy/ describes it: a fresh PostgreSQL database, a
Redis key prefix of its own, `flask db upgrade`, gunicorn with the repository's gunicorn.conf.py,
N `flask worker` processes and Debian's nginx running deploy/nginx/ rendered for free loopback
ports. Used by tests/deploy/ and the soak benchmark; stop() removes everything it made."""
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

from bench.ingest.common import delete_keys
from bench.soak.nginx import (make_certificate, nginx_binary, nginx_test, render_locations,
                              render_main, render_site)
from bench.soak.processes import HOST, Process, children, free_port, http_status, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, os.environ.get("VENV", ".venv"), "bin")
PG_ADMIN_URL = os.environ.get("IBEX_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("IBEX_BENCH_REDIS", "redis://127.0.0.1:6379/0")
# Names carry the owner's pid, so a later run can drop what a SIGKILLed one left behind.
_STALE_DB = re.compile(r"^ibex_stack_(\d+)_[0-9a-f]{8}$")
_STALE_KEY = re.compile(r"ibex-stack-(\d+)_[0-9a-f]{8}")  # also inside RQ's key names
# Environment a caller's shell may carry that would change the stack behind its back.
_OWN_SETTINGS = ("IBEX_CONFIG", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY",
                 "RATELIMIT_KEY_PREFIX", "PROXY_HOPS", "WEB_CONCURRENCY", "GUNICORN_THREADS",
                 "BIND", "IBEX_INSTANCE_DIR", "GEOIP_DB")


# --- the stack ---------------------------------------------------------------------------------

class Stack:
    """Start with ``with Stack(...) as stack:`` (or start()/stop()). ``env`` adds or overrides
    Ibex settings for the web and worker processes; ``web_concurrency``/``web_threads`` None
    keep gunicorn.conf.py's own sizing. Logs stay in ``log_dir`` (a new directory under /tmp
    when None) after stop(); the runtime directory, the database and the keys do not."""

    def __init__(self, *, workers=2, web_concurrency=None, web_threads=None, proxy_hops=1, env=None,
                 log_dir=None, pg_admin_url=PG_ADMIN_URL, redis_url=REDIS_URL, ready_timeout=90,
                 worker_args=()):
        self.workers_wanted, self.worker_args = workers, tuple(worker_args)
        self.pg_admin_url, self.redis_url = pg_admin_url, redis_url
        self.ready_timeout = ready_timeout
        self.tag = f"{os.getpid()}_{secrets.token_hex(4)}"
        self._secret = secrets.token_urlsafe(48)
        self.database_name = f"ibex_stack_{self.tag}"
        self.redis_prefix = f"ibex-stack-{self.tag}"
        self.log_dir = log_dir or tempfile.mkdtemp(prefix="ibex-stack-logs-")
        os.makedirs(self.log_dir, exist_ok=True)
        self.run_dir = None
        self.web_port, self.http_port, self.https_port = free_port(), free_port(), free_port()
        self.settings = {"PROXY_HOPS": str(proxy_hops)}
        if web_concurrency is not None:
            self.settings["WEB_CONCURRENCY"] = str(web_concurrency)
        if web_threads is not None:
            self.settings["GUNICORN_THREADS"] = str(web_threads)
        self.settings.update({key: str(value) for key, value in (env or {}).items()})
        self.web = self.nginx = None
        self.worker_processes = []
        self._database_created = False
        self._app = None

    # URLs and addresses
    @property
    def database_url(self):
        return f"{self.pg_admin_url.rsplit('/', 1)[0]}/{self.database_name}"

    @property
    def https_url(self):
        return f"https://{HOST}:{self.https_port}"

    @property
    def http_url(self):
        return f"http://{HOST}:{self.http_port}"

    @property
    def web_url(self):
        """gunicorn itself, bypassing nginx (for comparisons only)."""
        return f"http://{HOST}:{self.web_port}"

    def env(self, **overrides):
        """The environment of the stack's Ibex processes (production configuration)."""
        env = {key: value for key, value in os.environ.items() if key not in _OWN_SETTINGS}
        env.update({
            "IBEX_CONFIG": "production", "SECRET_KEY": self._secret, "FLASK_APP": "wsgi",
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix, "RATELIMIT_KEY_PREFIX": self.redis_prefix + "-rl",
            "IBEX_INSTANCE_DIR": os.path.join(self.run_dir, "instance"),
            "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONUNBUFFERED": "1", "BIND": f"{HOST}:{self.web_port}",
        })
        env.update(self.settings)
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    # lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        remove_stale(self.pg_admin_url, self.redis_url)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        # nginx's workers run as nobody when the master is root: they need to walk into this
        # directory (temporary files); mkdtemp makes it 0700.
        self.run_dir = tempfile.mkdtemp(prefix="ibex-stack-")
        os.chmod(self.run_dir, 0o755)
        import psycopg
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.database_name}"')
        self._database_created = True
        self.flask("db", "upgrade")
        self.start_web()
        for number in range(self.workers_wanted):
            self.start_worker(number)
        self.start_nginx()

    def start_web(self, **overrides):
        """gunicorn -c gunicorn.conf.py wsgi:app on the stack's web port; waits until every
        worker process it is configured for is up and the app answers."""
        env = self.web_env = self.env(**overrides)
        self.web_settings = gunicorn_settings(env)
        self.web = Process("gunicorn", [os.path.join(VENV_BIN, "gunicorn"), "-c",
                                        os.path.join(ROOT, "gunicorn.conf.py"), "wsgi:app"],
                           env, os.path.join(self.log_dir, "gunicorn.log"),
                           stop_timeout=self.web_settings["graceful_timeout"] + 10)
        wait_for(lambda: http_status(self.web_url + "/login") is not None
                 and len(children(self.web.pid)) >= self.web_settings["workers"],
                 self.ready_timeout, "gunicorn to answer", 0.2, [self.web])

    def restart_web(self, **overrides):
        """Stop gunicorn and start it again with settings changed (e.g. PROXY_HOPS=0)."""
        self.web.stop()
        self.start_web(**overrides)
        self.wait_through_nginx()

    def start_worker(self, number):
        process = Process(f"flask worker {number}",
                          [os.path.join(VENV_BIN, "flask"), "worker", *self.worker_args],
                          self.env(), os.path.join(self.log_dir, f"worker-{number}.log"),
                          stop_timeout=90)
        self.worker_processes.append(process)
        wait_for(lambda: "ibex worker: persisting" in process.output(),
                 self.ready_timeout, f"flask worker {number} to start", 0.2, [process])
        return process

    def restart_worker(self, index=0):
        """Stop worker ``index`` as systemd would (SIGTERM: it finishes its batch), then start a
        new one in its place; returns the old one's exit status."""
        old = self.worker_processes[index]
        status = old.stop()
        self.worker_processes.remove(old)
        self.start_worker(index)
        return status

    def start_nginx(self):
        certificate, key = make_certificate(self.run_dir)
        locations = os.path.join(self.run_dir, "ibex-locations.conf")
        site = os.path.join(self.run_dir, "ibex.conf")
        main = os.path.join(self.run_dir, "nginx.conf")
        with open(locations, "w") as f:
            f.write(render_locations(static_dir=os.path.join(ROOT, "static")))
        with open(site, "w") as f:
            f.write(render_site(http_port=self.http_port, https_port=self.https_port,
                                upstreams=[f"{HOST}:{self.web_port}"], locations_path=locations,
                                certificate=certificate, key=key, log_dir=self.log_dir))
        with open(main, "w") as f:
            f.write(render_main(run_dir=self.run_dir, log_dir=self.log_dir, site_path=site))
        for path in (locations, site, main):  # kept with the logs, for debugging
            shutil.copy(path, os.path.join(self.log_dir, "rendered-" + os.path.basename(path)))
        error_log = os.path.join(self.log_dir, "nginx-error.log")
        ok, output = nginx_test(main, self.run_dir, error_log)
        if not ok:
            raise RuntimeError(f"nginx -t failed on the rendered config:\n{output}")
        self.nginx = Process("nginx", [nginx_binary(), "-c", main, "-p", self.run_dir + "/",
                                       "-e", error_log, "-g", "daemon off;"],
                             self.env(), os.path.join(self.log_dir, "nginx.log"), stop_timeout=30)
        self.wait_through_nginx()

    def wait_through_nginx(self):
        wait_for(lambda: (http_status(self.https_url + "/login") or 502) < 500,
                 self.ready_timeout, "nginx to reach gunicorn", 0.2, [self.nginx, self.web])

    def stop(self):
        """Stop nginx, gunicorn and the workers (each gracefully, then SIGKILL), drop the
        database, delete the Redis keys and the runtime directory. Every step runs even when
        an earlier one fails; the first error is raised at the end."""
        errors = []

        def step(action, *args):
            try:
                action(*args)
            except Exception as exc:  # noqa: BLE001 - report after the remaining steps ran
                errors.append(exc)
        if self._app is not None:
            step(self._dispose_app)
        for process in [self.nginx, self.web, *self.worker_processes]:
            if process is not None:
                step(process.stop)
        self.nginx = self.web = None
        self.worker_processes = []
        if self._database_created:
            step(self._drop_database)
        step(self._delete_keys)
        if self.run_dir:
            step(shutil.rmtree, self.run_dir, True)
            self.run_dir = None
        if errors:
            raise errors[0]

    def _drop_database(self):
        import psycopg
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        self._database_created = False

    def _delete_keys(self):
        client = _redis(self.redis_url)
        try:
            delete_keys(client, f"*{self.redis_prefix}")  # keys matching *prefix*
        finally:
            client.close()

    # helpers for tests and benchmarks
    def flask(self, *args, timeout=120, **overrides):
        """Run a `flask` command against the stack's database; returns its stdout."""
        result = subprocess.run([os.path.join(VENV_BIN, "flask"), *args], cwd=ROOT,
                                env=self.env(**overrides), capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def app(self):
        """An Ibex app object of this process on the stack's database and Redis (to set up
        sites and read results): use ``with stack.app().app_context():``."""
        if self._app is None:
            import config
            from app import create_app
            self._app = create_app(config.load("production", env=self.env()))
        return self._app

    def _dispose_app(self):
        from app.extensions import db
        with self._app.app_context():
            db.session.remove()
            db.engine.dispose()
        self._app = None

    def backlog(self):
        """Hits pushed to the Redis buffer and not yet persisted (queued or in a claimed batch)."""
        with self.app().app_context():
            from app.ingest import ingest
            return ingest().buffer.backlog()

    def wait_drained(self, timeout=120):
        """Wait until the workers have persisted everything in the buffer."""
        wait_for(lambda: self.backlog() == 0, timeout, "the hit buffer to drain", 0.2,
                 self.worker_processes)

    def pids(self):
        """{role: [pid, …]} of the stack's own processes, for memory readings."""
        roles = {"nginx": [], "gunicorn master": [], "gunicorn workers": [], "flask workers": []}
        if self.nginx is not None and self.nginx.alive():
            roles["nginx"] = [self.nginx.pid, *children(self.nginx.pid)]
        if self.web is not None and self.web.alive():
            roles["gunicorn master"] = [self.web.pid]
            roles["gunicorn workers"] = children(self.web.pid)
        roles["flask workers"] = [p.pid for p in self.worker_processes if p.alive()]
        return roles

    def logs(self):
        """The tails of every log, for a failure message."""
        return "\n".join(f"--- {p.log_path}\n{p.log_tail()}"
                         for p in [self.nginx, self.web, *self.worker_processes] if p)


def gunicorn_settings(env):
    """workers, threads, worker_class, timeouts as gunicorn.conf.py computes them under ``env``."""
    code = ("import json, runpy; s = runpy.run_path('gunicorn.conf.py'); "
            "print(json.dumps({k: getattr(s[k], '__name__', s[k]) "
            "for k in ('workers', 'threads', 'worker_class', 'timeout', 'graceful_timeout', "
            "'keepalive')}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=30, check=True)
    return json.loads(result.stdout)


def _redis(url):
    import redis
    return redis.Redis.from_url(url, socket_timeout=10)


def remove_stale(pg_admin_url=PG_ADMIN_URL, redis_url=REDIS_URL):
    """Drop databases and Redis keys of stacks whose owner process is gone (SIGKILLed, so its
    own stop() never ran)."""
    import psycopg

    def dead(match):
        return match is not None and not os.path.exists(f"/proc/{match.group(1)}")
    with psycopg.connect(pg_admin_url, autocommit=True, connect_timeout=5) as admin:
        for (name,) in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'ibex\\_stack\\_%'").fetchall():
            if dead(_STALE_DB.match(name)):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    client = _redis(redis_url)
    try:
        stale = [key for key in client.scan_iter(match="*ibex-stack-*", count=1000)
                 if dead(_STALE_KEY.search(key.decode("utf-8", "replace")))]
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start:start + 1000])
    finally:
        client.close()
