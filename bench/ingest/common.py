"""Shared plumbing for the ingestion benchmarks: throw-away PostgreSQL databases and Redis key
prefixes, processes started and always stopped by their own ids, /proc memory readings, tables
and JSON results. Loopback only; every wait has a time limit."""
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, os.environ.get("VENV", ".venv"), "bin")
PG_ADMIN_URL = os.environ.get("IBEX_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("IBEX_BENCH_REDIS", "redis://127.0.0.1:6379/0")
HOST = "127.0.0.1"


class Stopped(Exception):
    """SIGTERM/SIGHUP arrived: unwind so every cleanup below still runs."""


def stop_on_signals():
    """Turn SIGTERM/SIGHUP into an exception so cleanups run; remove what killed runs left."""
    remove_stale()

    def handler(signum, _frame):
        raise Stopped(f"signal {signum}")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def run_main(main):
    """Run a benchmark's main(); a signal or Ctrl-C ends it after its cleanups, without a trace."""
    try:
        main()
    except (Stopped, KeyboardInterrupt) as exc:
        print(f"\nstopped ({exc or 'interrupted'}); processes, databases and keys cleaned up",
              file=sys.stderr)
        sys.exit(130)


def bench_id():
    return f"{os.getpid()}_{secrets.token_hex(4)}"


# --- services --------------------------------------------------------------------------------

_STALE_DB = re.compile(r"^ibex_bench_[a-z]+_(\d+)_[0-9a-f]{8}$")
_STALE_KEY = re.compile(r"^ibex-bench-[a-z]+-(\d+)_[0-9a-f]{8}")


def remove_stale():
    """Drop the databases and Redis keys of benchmark runs whose process is gone (killed with
    SIGKILL, so their own cleanup never ran). Names carry the owning pid."""
    import psycopg
    def dead(match):
        return match and not os.path.exists(f"/proc/{match.group(1)}")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        names = [name for (name,) in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'ibex\\_bench\\_%'")]
        for name in names:
            if dead(_STALE_DB.match(name)):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                print(f"dropped the stale database {name}", file=sys.stderr)
    client = redis_client()
    stale = [key for key in client.scan_iter(match="ibex-bench-*", count=1000)
             if dead(_STALE_KEY.match(key.decode("utf-8", "replace")))]
    for start in range(0, len(stale), 1000):
        client.delete(*stale[start:start + 1000])
    if stale:
        print(f"deleted {len(stale)} stale Redis keys", file=sys.stderr)
    client.close()

@contextlib.contextmanager
def pg_database(label="bench"):
    """A fresh, empty PostgreSQL database; yields its URL and drops it afterwards (always)."""
    import psycopg
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    name = f"ibex_{label}_{bench_id()}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def redis_client():
    import redis
    return redis.Redis.from_url(REDIS_URL, socket_timeout=10)


@contextlib.contextmanager
def redis_prefixes(label="bench"):
    """(buffer prefix, rate-limit prefix), unique to this run; every key under them is deleted
    afterwards (always)."""
    client = redis_client()
    client.ping()
    tag = f"ibex-{label}-{bench_id()}"
    prefixes = (tag, tag + "-rl")
    try:
        yield prefixes
    finally:
        for prefix in prefixes:
            delete_keys(client, prefix)
        client.close()


def delete_keys(client, prefix):
    batch = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)


def production_env(database_url, prefixes, **extra):
    """Environment of a production-mode Ibex (PostgreSQL, Redis buffer) for this run."""
    env = base_env()
    env.update({
        "IBEX_CONFIG": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefixes[0],
        "RATELIMIT_KEY_PREFIX": prefixes[1],
    })
    env.update({key: str(value) for key, value in extra.items()})
    return env


def base_env():
    env = {key: value for key, value in os.environ.items()
           if key not in ("IBEX_CONFIG", "DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY",
                          "WEB_CONCURRENCY", "GUNICORN_THREADS", "BIND")}
    env["FLASK_APP"] = "wsgi"
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    return env


def flask(env, *args, timeout=120):
    """Run a `flask` CLI command in the repository; returns its stdout, raises on failure."""
    result = subprocess.run([os.path.join(VENV_BIN, "flask"), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def create_schema_and_site(env, domain="bench.example"):
    """`flask db upgrade` and `flask sites create`; returns {"id", "uuid", "domain"}."""
    flask(env, "db", "upgrade")
    out = flask(env, "sites", "create", domain)
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return {"id": int(fields["id"]), "uuid": fields["uuid"], "domain": domain}


# --- processes -------------------------------------------------------------------------------

def die_with_parent():
    """preexec_fn: the child gets SIGTERM if this benchmark dies, even by SIGKILL (Linux)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """`gunicorn -c gunicorn.conf.py <target>` in its own process group, stopped (SIGTERM, then
    SIGKILL to that group) when the block ends."""

    def __init__(self, target, env, log_path, workers, ready_path="/", ready_timeout=60):
        self.target, self.log_path, self.expected_workers = target, log_path, workers
        self.port = free_port()
        self.env = dict(env, BIND=f"{HOST}:{self.port}")
        self.ready_path, self.ready_timeout = ready_path, ready_timeout
        self.process = None

    @property
    def url(self):
        return f"http://{HOST}:{self.port}"

    def __enter__(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [os.path.join(VENV_BIN, "gunicorn"), "-c", os.path.join(ROOT, "gunicorn.conf.py"),
             self.target], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _wait_ready(self):
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {self.log_path}")
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=2).read()
            except urllib.error.HTTPError:
                pass  # any HTTP answer means the server is up
            except OSError:
                time.sleep(0.2)
                continue
            if len(self.workers()) >= self.expected_workers:
                time.sleep(1.0)  # let the last forked workers finish importing the app
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {self.ready_timeout} s; see {self.log_path}")

    def workers(self):
        return children(self.process.pid)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the master's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=10)


def gunicorn_settings(env):
    """The workers and threads gunicorn.conf.py gives under ``env`` (evaluated, not guessed)."""
    code = ("import runpy; s = runpy.run_path('gunicorn.conf.py'); "
            "print(s['workers'], s['threads'], s['worker_class'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=30, check=True).stdout.split()
    return {"workers": int(out[0]), "threads": int(out[1]), "worker_class": out[2]}


def children(pid):
    """Pids whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


_STATUS = {"VmRSS": "rss_mb", "VmHWM": "hwm_mb", "RssAnon": "anon_mb", "RssFile": "file_mb"}


def memory(pid):
    """Memory of a live process in MiB from /proc/<pid>/status: rss (VmRSS), its peak hwm
    (VmHWM), and the current RSS split into anonymous (heap) and file-backed pages (shared
    libraries, the memory-mapped GeoIP database)."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in _STATUS:
                values[_STATUS[key]] = round(int(rest.split()[0]) / 1024, 1)  # kB → MiB
    return values


# --- output ----------------------------------------------------------------------------------

def machine(timed=True):
    """The machine, and (for timed benchmarks) how busy other processes keep its CPUs right now:
    figures taken on a busy machine are not comparable, and a warning says so."""
    with open("/proc/meminfo") as f:
        meminfo = f.readline().split()
    busy = cpu_busy() if timed else 0.0
    if busy > 15:
        print(f"WARNING: the CPUs are already {busy:.0f} % busy before the benchmark starts; "
              "its figures will be low and noisy", file=sys.stderr, flush=True)
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "cores": os.cpu_count(), "memory_gib": round(int(meminfo[1]) / 1024 ** 2, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "cpu_busy_before_pct": round(busy, 1), "load_average": os.getloadavg()}


def cpu_busy(seconds=2.0):
    """Percentage of all CPUs' time spent busy (not idle or iowait) over ``seconds``."""
    before = CpuMeter()
    time.sleep(seconds)
    return before.busy_pct()


def wait_quiet(max_wait, threshold=10.0):
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs mostly idle: load tests
    on a shared 2-core machine are meaningless while a test suite runs next to them."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy(2)
    while busy > threshold and time.monotonic() < deadline:
        busy = cpu_busy(2)
    if busy > threshold:
        print(f"WARNING: other processes keep the CPUs {busy:.0f} % busy; measuring anyway",
              file=sys.stderr, flush=True)
    return round(busy, 1)


class CpuMeter:
    """Machine-wide CPU time since creation, to tell how much of a run's CPU went to processes
    other than the benchmark's own (``foreign_pct``)."""

    def __init__(self):
        self.total, self.idle = self._sample()
        self.started = time.monotonic()

    @staticmethod
    def _sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    def busy_pct(self):
        total, idle = self._sample()
        return 100.0 * (1 - (idle - self.idle) / max(total - self.total, 1))

    def busy_seconds(self):
        total, idle = self._sample()
        return ((total - self.total) - (idle - self.idle)) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pids):
    """utime + stime of live processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(name):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def print_table(title, headers, rows):
    rows = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(value.rjust(w) if _numeric(value) else value.ljust(w)
                        for value, w in zip(row, widths)))
    sys.stdout.flush()


def _cell(value):
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def _numeric(text):
    return bool(text) and text.replace(",", "").replace(".", "").replace("-", "").isdigit()


def verdict(ok):
    return "ok" if ok else "MISSED"


def write_json(path, data):
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"\nresults written to {path}")
