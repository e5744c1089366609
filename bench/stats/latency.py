"""Latency of the GoatCounter stats API on a bench/stats dataset: gunicorn (production settings,
loopback) on the dataset's database, an API token made for the run, then N sequential requests
per endpoint for a 1-week and a 1-year range (p50/p95/max); storage bytes per pageview; and on
PostgreSQL ``EXPLAIN ANALYZE`` of the slowest statement behind the slowest endpoints.

    .venv/bin/python -m bench.stats.latency [--dataset ibex_bench_stats_1m] [--backend postgresql]
                                            [--requests 20] [--json FILE]
"""
import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import tempfile
import time
import urllib.parse
from datetime import timedelta

from bench.ingest import common
from bench.stats import generate, storage

TARGET_MS = 150     # p95, 1-year range, 10 M pageviews, PostgreSQL
PAGES = ("browsers", "systems", "locations", "languages", "sizes", "campaigns", "toprefs")
DRILLS = ("browsers", "systems", "locations", "sizes", "campaigns", "toprefs")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="dataset name (default: ibex_bench_stats_1m[_sqlite])")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per endpoint "
                        "and range (after 2 untimed)")
    parser.add_argument("--max-seconds", type=float, default=60,
                        help="stop an endpoint's requests after this long (at least 3 are made)")
    parser.add_argument("--explain", type=int, default=3,
                        help="EXPLAIN ANALYZE the slowest statement of this many of the slowest "
                             "endpoints (PostgreSQL)")
    parser.add_argument("--quiet-wait", type=int, default=60)
    parser.add_argument("--json", help="write the results here (default: instance/bench/"
                                       "stats-latency-<dataset>.json)")
    opts = parser.parse_args(argv)
    name = opts.dataset or generate.dataset_name(1_000_000, opts.backend)
    if not generate.exists(name, opts.backend):
        raise SystemExit(f"no dataset {name}: make it with python -m bench.stats.generate")
    common.stop_on_signals()
    url = generate.database_url(name, opts.backend)
    common.flask(generate.app_env(url), "db", "upgrade", timeout=1800)  # migrations since the load
    analyze(url)   # as autovacuum would after a migration filled new tables
    facts = dataset_facts(url)
    print(f"{name}: main site {facts['site_id']} has {facts['hits']:,} hits "
          f"({facts['first_day']} – {facts['last_day']})", flush=True)
    results = {"benchmark": "stats-latency", "dataset": name, "backend": opts.backend,
               "settings": vars(opts).copy(), "facts": facts, "machine": common.machine()}
    token_id, secret = make_token(url, facts["site_id"])
    try:
        results.update(measure(opts, url, facts, secret))
    finally:
        revoke_token(url, token_id)
    results["storage"] = storage.measure(url, opts.backend)
    if opts.backend == "postgresql" and opts.explain:
        results["explain"] = explain_slowest(url, facts["site_id"], results, opts.explain)
    report(results)
    common.write_json(opts.json or os.path.join(generate.OUT_DIR, f"stats-latency-{name}.json"),
                      results)
    return results


# --- the dataset -----------------------------------------------------------------------------

def dataset_facts(url):
    """The main site (the one with most hits), its hits and first and last day."""
    from sqlalchemy import text

    from app.extensions import db
    with in_app(url), db.engine.connect() as conn:
        site_id = conn.execute(text(
            "SELECT id FROM sites WHERE cname = 'stats.bench.example'")).scalar()
        first, last = conn.execute(text(
            "SELECT min(created_at), max(created_at) FROM hits WHERE site_id = :s"),
            {"s": site_id}).one()
        hits = conn.execute(text("SELECT count(*) FROM hits WHERE site_id = :s"),
                            {"s": site_id}).scalar()
        total = conn.execute(text("SELECT count(*) FROM hits")).scalar()
    first, last = _as_datetime(first), _as_datetime(last)
    return {"site_id": site_id, "hits": hits, "all_hits": total,
            "first_day": first.date().isoformat(), "last_day": last.date().isoformat(),
            "ranges": {"1 week": _range(last, 7), "1 year": _range(last, 365)}}


def analyze(url):
    from sqlalchemy import text

    from app.extensions import db
    with in_app(url), db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def _range(last, days):
    """(start, end) of the ``days`` whole UTC days ending with the day of ``last``, as RFC
    3339 (a bare date as end would mean its midnight, leaving the last day out)."""
    first = (last - timedelta(days=days - 1)).date()
    return f"{first.isoformat()}T00:00:00Z", f"{last.date().isoformat()}T23:59:59Z"


def _as_datetime(value):
    from datetime import datetime
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def make_token(url, site_id):
    """An admin user (made once) and a fresh all-permission token for the main site."""
    from app import accounts
    from app.extensions import db
    from app.models import User
    with in_app(url):
        user = db.session.query(User).filter_by(username="stats-bench").one_or_none()
        if user is None:
            user = accounts.create_user("stats-bench", secrets.token_urlsafe(24))
        token, secret = accounts.create_token(user, f"stats latency {time.strftime('%H:%M:%S')}",
                                              sites=[site_id])
        token_id = token.id
    return token_id, secret


def revoke_token(url, token_id):
    from app import accounts
    from app.extensions import db
    from app.models import ApiToken
    with in_app(url):
        token = db.session.get(ApiToken, token_id)
        if token is not None:
            accounts.revoke_token(token)


@contextlib.contextmanager
def in_app(url, **env):
    """An app context of a production-config app on the dataset; its connections closed after."""
    from app.extensions import db
    app = generate.make_app(url, **env)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


# --- requests --------------------------------------------------------------------------------

def measure(opts, url, facts, secret):
    env = dict(generate.app_env(url), RATELIMIT_ENABLED="0", RATELIMIT_STORAGE_URI="memory://")
    with tempfile.TemporaryDirectory(prefix="ibex-bench-stats-") as tmp, \
            common.Server("wsgi:app", env, os.path.join(tmp, "gunicorn.log"),
                          workers=common.gunicorn_settings(env)["workers"],
                          ready_path="/api/v0/me") as server:
        client = Client(server.port, secret)
        quiet = common.wait_quiet(opts.quiet_wait)
        meter = common.CpuMeter()
        server_cpu = common.process_cpu_seconds(server.workers())
        started = time.monotonic()
        endpoints = discover(client, facts)
        rows = []
        for label, path, ranged in endpoints:
            for range_name in (facts["ranges"] if ranged else ("-",)):
                query = ""
                if ranged:
                    start, end = facts["ranges"][range_name]
                    query = ("&" if "?" in path else "?") + f"start={start}&end={end}"
                rows.append(time_endpoint(client, label, range_name, path + query, opts))
                row = rows[-1]
                errors = f", {row['errors']} errors" if row["errors"] else ""
                print(f"  {label:28} {range_name:7} p50 {row['p50_ms']:8.1f}  p95 "
                      f"{row['p95_ms']:8.1f}  max {row['max_ms']:8.1f} ms  ({row['requests']} "
                      f"requests, {row['bytes']:,} bytes{errors})", flush=True)
        wall = time.monotonic() - started
        ours = common.process_cpu_seconds(server.workers()) - server_cpu
        busy = meter.busy_seconds()
        gunicorn = common.gunicorn_settings(env)
    others = max(busy - ours, 0) / (wall * os.cpu_count()) * 100  # includes PostgreSQL's share
    return {"rows": rows, "gunicorn": gunicorn,
            "cpu": {"busy_before_pct": quiet, "wall_seconds": round(wall, 1),
                    "web_workers_cpu_seconds": round(ours, 1),
                    "others_incl_database_cpu_pct": round(others, 1),
                    "load_average_after": os.getloadavg()}}


class Client:
    """One keep-alive HTTP/1.1 connection to the server, with the API token."""

    def __init__(self, port, secret):
        self.port = port
        self.headers = {"Authorization": f"Bearer {secret}", "Accept": "application/json"}
        self.conn = http.client.HTTPConnection(common.HOST, port, timeout=120)

    def get(self, path):
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(common.HOST, self.port, timeout=120)
            raise
        return response.status, body

    def json(self, path):
        status, body = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)


def discover(client, facts):
    """(label, path, ranged) of every endpoint measured; ids for /stats/hits/{id} and the
    drill-downs are the year's top entries (the heaviest ones)."""
    start, end = facts["ranges"]["1 year"]
    year = f"start={start}&end={end}"
    top_path = client.json(f"/api/v0/stats/hits?{year}&limit=1&daily=true")["hits"][0]["path_id"]
    endpoints = [("stats/total", "/api/v0/stats/total", True),
                 ("stats/hits", "/api/v0/stats/hits", True),
                 ("stats/hits?daily=true", "/api/v0/stats/hits?daily=true", True),
                 ("stats/hits/{top path}", f"/api/v0/stats/hits/{top_path}", True)]
    endpoints += [(f"stats/{page}", f"/api/v0/stats/{page}", True) for page in PAGES]
    for page in DRILLS:
        rows = client.json(f"/api/v0/stats/{page}?{year}&limit=5")["stats"]
        key = next((row.get("id") or row["name"] for row in rows
                    if (row.get("id") or row["name"])), None)
        if key is not None:
            endpoints.append((f"stats/{page}/{{top}}",
                              f"/api/v0/stats/{page}/{urllib.parse.quote(str(key), safe='')}",
                              True))
    endpoints += [("paths", "/api/v0/paths?limit=200", False)]
    return endpoints


def time_endpoint(client, label, range_name, path, opts):
    for _ in range(2):   # untimed: the first request of a statement text prepares it
        client.get(path)
    times, errors, size = [], 0, 0
    deadline = time.monotonic() + opts.max_seconds
    while len(times) < opts.requests and (len(times) < 3 or time.monotonic() < deadline):
        started = time.perf_counter()
        status, body = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        errors += status != 200
        size = len(body)
    times.sort()
    return {"endpoint": label, "range": range_name, "path": path, "requests": len(times),
            "errors": errors, "bytes": size, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_percentile(times, 95), 1), "max_ms": round(times[-1], 1),
            "mean_ms": round(statistics.fmean(times), 1)}


def _percentile(values, pct):
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, -(-len(values) * pct // 100))
    return values[int(rank) - 1]


# --- the slowest queries ---------------------------------------------------------------------

def explain_slowest(url, site_id, results, count):
    """For the ``count`` slowest endpoints (1-year p95): every SQL statement one request runs
    (timed in-process), and EXPLAIN (ANALYZE, BUFFERS) of the slowest of them."""
    from sqlalchemy import event

    from app.extensions import db
    slowest = sorted((row for row in results["rows"] if row["range"] in ("1 year", "-")),
                     key=lambda row: -row["p95_ms"])[:count]
    token_id, secret = make_token(url, site_id)
    out = []
    try:
        with in_app(url, RATELIMIT_ENABLED="0") as app:
            statements = []

            def before(conn, cursor, statement, parameters, context, executemany):
                conn.info["ibex_bench_started"] = time.perf_counter()

            def after(conn, cursor, statement, parameters, context, executemany):
                elapsed = time.perf_counter() - conn.info.pop("ibex_bench_started")
                statements.append((elapsed * 1000, statement, parameters))
            event.listen(db.engine, "before_cursor_execute", before)
            event.listen(db.engine, "after_cursor_execute", after)
            client = app.test_client()
            headers = {"Authorization": f"Bearer {secret}"}
            for row in slowest:
                client.get(row["path"], headers=headers)   # warm, as the server was
                statements.clear()
                started = time.perf_counter()
                response = client.get(row["path"], headers=headers)
                total = (time.perf_counter() - started) * 1000
                ms, statement, parameters = max(statements, key=lambda s: s[0])
                with db.engine.connect() as conn:
                    cursor = conn.connection.dbapi_connection.cursor()
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plan = "\n".join(line for (line,) in cursor.fetchall())
                    cursor.close()
                out.append({"endpoint": row["endpoint"], "path": row["path"],
                            "status": response.status_code, "in_process_ms": round(total, 1),
                            "statements": len(statements),
                            "sql_ms": round(sum(s[0] for s in statements), 1),
                            "slowest_statement_ms": round(ms, 1), "statement": statement,
                            "parameters": repr(parameters), "plan": plan})
            event.remove(db.engine, "before_cursor_execute", before)
            event.remove(db.engine, "after_cursor_execute", after)
    finally:
        revoke_token(url, token_id)
    return out


# --- output ----------------------------------------------------------------------------------

def report(results):
    facts = results["facts"]
    judged = results["backend"] == "postgresql"
    rows = []
    by_key = {(row["endpoint"], row["range"]): row for row in results["rows"]}
    for (endpoint, range_name), row in by_key.items():
        if range_name == "1 year" and (endpoint, "1 week") in by_key:
            continue
        week = by_key.get((endpoint, "1 week"), row)
        year = by_key.get((endpoint, "1 year"), row)
        rows.append([endpoint, week["p50_ms"], week["p95_ms"], week["max_ms"], year["p50_ms"],
                     year["p95_ms"], year["max_ms"],
                     common.verdict(year["p95_ms"] < TARGET_MS) if judged else "(info)",
                     year["bytes"], week["errors"] + year["errors"]])
    common.print_table(
        f"{results['dataset']} ({results['backend']}): {facts['hits']:,} hits on the main site; "
        f"ms per request, sequential (target: p95 < {TARGET_MS} ms for 1 year at 10 M on PostgreSQL)",
        ["endpoint", "week p50", "week p95", "week max", "year p50", "year p95", "year max", "",
         "year bytes", "errors"], rows)
    cpu = results["cpu"]
    print(f"CPU: {cpu['busy_before_pct']} % busy before; during the run other processes "
          f"(PostgreSQL included) used {cpu['others_incl_database_cpu_pct']} % of the CPUs; "
          f"load average after {tuple(round(x, 2) for x in cpu['load_average_after'])}")
    store = results["storage"]
    print(f"storage: {store['bytes_per_pageview']} bytes per stored hit "
          f"({store['bytes_per_pageview_with_dimensions']} with dimension tables)")
    if store.get("tables"):
        common.print_table("largest tables, bytes per stored hit",
                           ["table", "rows", "total bytes", "per hit"],
                           [[t["table"], t["rows"], t["total"], t["per_hit"]]
                            for t in store["tables"][:14]])
    print("\nas Markdown (bench/README.md):\n" + markdown(results))
    for item in results.get("explain", [])[:1]:
        print(f"\nslowest statement of {item['endpoint']} ({item['slowest_statement_ms']} ms of "
              f"{item['sql_ms']} ms SQL in {item['statements']} statements; "
              f"{item['in_process_ms']} ms in-process):\n{item['statement']}\n{item['plan']}")


def markdown(results):
    """The latency table as Markdown: p50 / p95 / max ms per endpoint, 1 week and 1 year."""
    by_key = {(row["endpoint"], row["range"]): row for row in results["rows"]}
    lines = ["| endpoint | 1 week p50 / p95 / max | 1 year p50 / p95 / max | 1-year body |",
             "| --- | ---: | ---: | ---: |"]
    for endpoint in dict.fromkeys(row["endpoint"] for row in results["rows"]):
        week = by_key.get((endpoint, "1 week")) or by_key.get((endpoint, "-"))
        year = by_key.get((endpoint, "1 year")) or week
        cells = [" / ".join(f"{row[key]:,.0f}" for key in ("p50_ms", "p95_ms", "max_ms"))
                 for row in (week, year)]
        miss = year["p95_ms"] >= TARGET_MS
        lines.append(f"| `{endpoint}` | {cells[0]} | {'**' if miss else ''}{cells[1]}"
                     f"{'**' if miss else ''} | {year['bytes']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    common.run_main(main)
