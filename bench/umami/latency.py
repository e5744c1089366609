"""Latency of the Umami statistics API on a bench/stats dataset: gunicorn (production
settings, loopback) on the dataset's database, a Umami login token for an admin made for the
run (sent as Bearer), then N sequential requests per endpoint for a 1-week and a 1-year range
(p50/p95/max), and on PostgreSQL ``EXPLAIN ANALYZE`` of the slowest statement behind the
slowest endpoints (reusing bench/stats/latency.py).

    .venv/bin/python -m bench.umami.latency [--dataset ibex_bench_stats_1m] [--backend postgresql]
                                            [--requests 20] [--json FILE]
"""
import argparse
import os
import tempfile
import time
from datetime import date, datetime, time as dtime, timezone

from bench.ingest import common
from bench.stats import generate, latency

TARGET_MS = 150     # p95, 1-year range, 10 M pageviews, PostgreSQL
METRICS = ("url", "referrer", "event", "browser", "os", "device", "country")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="dataset name (default: ibex_bench_stats_1m[_sqlite])")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--explain", type=int, default=3)
    parser.add_argument("--quiet-wait", type=int, default=60)
    parser.add_argument("--no-upgrade", action="store_true",
                        help="do not run migrations on the dataset first")
    parser.add_argument("--json", help="write the results here (default: instance/bench/"
                                       "umami-latency-<dataset>.json)")
    opts = parser.parse_args(argv)
    name = opts.dataset or generate.dataset_name(1_000_000, opts.backend)
    if not generate.exists(name, opts.backend):
        raise SystemExit(f"no dataset {name}: make it with python -m bench.stats.generate")
    common.stop_on_signals()
    url = generate.database_url(name, opts.backend)
    if not opts.no_upgrade:
        common.flask(generate.app_env(url), "db", "upgrade", timeout=1800)
    facts = latency.dataset_facts(url)
    print(f"{name}: main site {facts['site_id']} has {facts['hits']:,} hits "
          f"({facts['first_day']} – {facts['last_day']})", flush=True)
    results = {"benchmark": "umami-latency", "dataset": name, "backend": opts.backend,
               "settings": vars(opts).copy(), "facts": facts, "machine": common.machine()}
    token = login_token(url)
    results.update(measure(opts, url, facts, token))
    if opts.backend == "postgresql" and opts.explain:
        results["explain"] = explain(url, results, opts.explain, token)
    report(results)
    common.write_json(opts.json or os.path.join(generate.OUT_DIR, f"umami-latency-{name}.json"),
                      results)
    return results


def login_token(url):
    """A Umami login token of an admin made once for these runs (stored hashed, as always)."""
    from app import accounts
    from app.api.umami import auth
    from app.extensions import db
    from app.models import User
    app = generate.make_app(url)
    with app.app_context():
        user = db.session.query(User).filter_by(username="umami-bench").one_or_none()
        if user is None:
            user = accounts.create_user("umami-bench", common.secrets.token_urlsafe(24), role="a")
        token = auth.issue_login_token(user)
        db.engine.dispose()
    return token


def _ms(day, end=False):
    moment = datetime.combine(date.fromisoformat(day[:10]), dtime.max if end else dtime.min)
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


def endpoints(site_id):
    base = f"/api/website/{site_id}"
    rows = [("stats", f"{base}/stats?"),
            ("pageviews day UTC", f"{base}/pageviews?unit=day&tz=UTC&"),
            ("pageviews month Berlin", f"{base}/pageviews?unit=month&tz=Europe/Berlin&"),
            ("events day UTC", f"{base}/events?unit=day&tz=UTC&")]
    rows += [(f"metrics {kind}", f"{base}/metrics?type={kind}&") for kind in METRICS]
    return rows


def measure(opts, url, facts, token):
    env = dict(generate.app_env(url), RATELIMIT_ENABLED="0", RATELIMIT_STORAGE_URI="memory://")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ibex-bench-umami-") as tmp, \
            common.Server("wsgi:app", env, os.path.join(tmp, "gunicorn.log"),
                          workers=common.gunicorn_settings(env)["workers"],
                          ready_path="/api/auth/logout") as server:
        client = latency.Client(server.port, token)
        quiet = common.wait_quiet(opts.quiet_wait)
        started = time.monotonic()
        for label, path in endpoints(facts["site_id"]):
            for range_name, (first, last) in facts["ranges"].items():
                query = f"start_at={_ms(first)}&end_at={_ms(last, end=True)}"
                rows.append(latency.time_endpoint(client, label, range_name, path + query, opts))
                row = rows[-1]
                print(f"  {label:24} {range_name:7} p50 {row['p50_ms']:8.1f}  p95 "
                      f"{row['p95_ms']:8.1f}  max {row['max_ms']:8.1f} ms  "
                      f"({row['requests']} requests, {row['errors']} errors)", flush=True)
        wall = time.monotonic() - started
    return {"rows": rows, "cpu": {"busy_before_pct": quiet, "wall_seconds": round(wall, 1),
                                  "load_average_after": os.getloadavg()}}


def explain(url, results, count, token):
    """EXPLAIN ANALYZE of the slowest statement of the slowest 1-year endpoints, in-process."""
    from sqlalchemy import event

    from app.extensions import db
    slowest = sorted((row for row in results["rows"] if row["range"] == "1 year"),
                     key=lambda row: -row["p95_ms"])[:count]
    app = generate.make_app(url, RATELIMIT_ENABLED="0")
    out = []
    with app.app_context():
        statements = []

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["umami_bench_started"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):
            elapsed = time.perf_counter() - conn.info.pop("umami_bench_started")
            statements.append((elapsed * 1000, statement, parameters))
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        for row in slowest:
            client.get(row["path"], headers=headers)
            statements.clear()
            client.get(row["path"], headers=headers)
            ms, statement, parameters = max(statements, key=lambda s: s[0])
            with db.engine.connect() as conn:
                cursor = conn.connection.dbapi_connection.cursor()
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(line for (line,) in cursor.fetchall())
                cursor.close()
            out.append({"endpoint": row["endpoint"], "statements": len(statements),
                        "sql_ms": round(sum(s[0] for s in statements), 1),
                        "slowest_statement_ms": round(ms, 1), "statement": statement,
                        "plan": plan})
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
        db.engine.dispose()
    return out


def report(results):
    facts, judged = results["facts"], results["backend"] == "postgresql"
    by_key = {(row["endpoint"], row["range"]): row for row in results["rows"]}
    rows = []
    for label, _path in endpoints(facts["site_id"]):
        week, year = by_key[(label, "1 week")], by_key[(label, "1 year")]
        rows.append([label, week["p50_ms"], week["p95_ms"], year["p50_ms"], year["p95_ms"],
                     year["max_ms"], common.verdict(year["p95_ms"] < TARGET_MS) if judged
                     else "(info)", week["errors"] + year["errors"]])
    common.print_table(
        f"{results['dataset']} ({results['backend']}): {facts['hits']:,} hits on the main site; "
        f"ms per request, sequential (target: p95 < {TARGET_MS} ms for 1 year at 10 M on "
        "PostgreSQL)",
        ["endpoint", "week p50", "week p95", "year p50", "year p95", "year max", "", "errors"],
        rows)
    for item in results.get("explain", []):
        print(f"\n{item['endpoint']}: slowest statement {item['slowest_statement_ms']} ms of "
              f"{item['sql_ms']} ms SQL in {item['statements']} statements:\n"
              f"{item['statement']}\n{item['plan']}")


if __name__ == "__main__":
    common.run_main(main)
