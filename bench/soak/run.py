"""Soak: mixed traffic for a fixed time through the production stack on loopback (nginx from
deploy/, gunicorn per gunicorn.conf.py, `flask worker` processes, PostgreSQL, Redis) — tracking
from all three families, dashboards and the three stats APIs — then the buffer is drained and
the stored pageviews are compared with the hits that got a success answer.

    .venv/bin/python -m bench.soak.run [--minutes 10 | --seconds N] [--workers 2]
                                       [--rate-scale 1.0] [--quiet-wait 120] [--json FILE]
                                       [--env NAME=VALUE …]

Exit status 1 when a hit was lost or doubled, a request failed or answered 5xx."""
import argparse
import dataclasses
import multiprocessing
import os
import queue
import time

from sqlalchemy import text

from bench.ingest import common
from bench.soak import traffic
from bench.soak.stack import PG_ADMIN_URL, REDIS_URL, ROOT, Stack

SAMPLE_SECONDS = 10
# Tracking comes from 127/8 addresses, which the /count and /collect limits exempt; the API
# buckets count loopback like any client, so the readers' and the count API's are raised.
LIMITS = {"GOATCOUNTER_RATE_LIMITS": "api:100000/1,api2:100000000/3600,api-count:100000/120",
          "BASIC_API_RATE_LIMIT": "100000 per second"}
DOMAIN = "soak.example"
PASSWORD = "soak-password-not-secret"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seconds", type=float, help="overrides --minutes")
    parser.add_argument("--workers", type=int, default=2, help="flask worker processes")
    parser.add_argument("--rate-scale", type=float, default=1.0,
                        help="multiply every kind's request rate")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="wait up to this long for other processes to leave the CPUs idle")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for the web and worker processes (repeatable)")
    parser.add_argument("--json", default=os.path.join(ROOT, "instance", "bench", "soak.json"))
    opts = parser.parse_args(argv)
    common.stop_on_signals()
    result = soak(opts.seconds or opts.minutes * 60, workers=opts.workers,
                  rate_scale=opts.rate_scale, quiet_wait=opts.quiet_wait,
                  env=dict(item.split("=", 1) for item in opts.env))
    report(result)
    common.write_json(opts.json, result)
    raise SystemExit(0 if result["passed"] else 1)


def soak(seconds, workers=2, rate_scale=1.0, quiet_wait=0.0, log_dir=None,
         pg_admin_url=PG_ADMIN_URL, redis_url=REDIS_URL, progress=print, env=None):
    """Run the soak; returns the result (plain data, also the JSON file's content). ``env``:
    settings for the Ibex processes on top of the soak's own."""
    kinds = [dataclasses.replace(kind, rate=kind.rate * rate_scale) for kind in traffic.KINDS]
    machine = common.machine(timed=False)
    machine["env"] = dict(env or {})
    with Stack(workers=workers, proxy_hops=1, env={**LIMITS, **(env or {})}, log_dir=log_dir,
               pg_admin_url=pg_admin_url, redis_url=redis_url) as stack:
        progress(f"stack up: gunicorn {stack.web_settings['workers']} × "
                 f"{stack.web_settings['threads']} threads, {workers} flask workers; logs in "
                 f"{stack.log_dir}")
        config = setup(stack)
        machine["cpu_busy_before_pct"] = common.wait_quiet(quiet_wait) if quiet_wait else None
        run = drive(stack, kinds, config, seconds, progress)
        progress("traffic done; waiting for the workers to drain the buffer")
        started = time.monotonic()
        stack.wait_drained(timeout=600)
        drain_seconds = time.monotonic() - started
        stored = counts(stack, config["site_id"])
        run["memory"].append(sample_memory(stack, run["started"]))
    return summarise(kinds, config, run, stored, drain_seconds, machine, stack, seconds)


def setup(stack):
    """A site, an admin and an API token, through the CLI as an operator would."""
    site = dict(line.split(": ", 1) for line in stack.flask("sites", "create", DOMAIN).splitlines()
                if ": " in line)
    stack.flask("users", "create", "soak", "--password", PASSWORD, "--role", "a")
    token = stack.flask("tokens", "create", "--user", "soak", "--name", "soak").splitlines()[-1]
    return {"port": stack.https_port, "domain": DOMAIN, "site_id": int(site["id"]),
            "uuid": site["uuid"], "token": token, "username": "soak", "password": PASSWORD,
            "seed": 2026}


def drive(stack, kinds, config, seconds, progress):
    """One process per kind, all starting together; the parent samples memory, the buffer
    and the CPU every SAMPLE_SECONDS until they are done."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3
    processes = [context.Process(target=traffic.run_kind, name=f"soak {kind.name}",
                                 args=(kind, config, start_at, seconds, results), daemon=True)
                 for kind in kinds]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    started, cpu = time.monotonic(), common.CpuMeter()
    memory, backlog, collected = [sample_memory(stack, started)], [], []
    next_sample, deadline = started + SAMPLE_SECONDS, started + seconds + 300
    while len(collected) < len(processes):
        try:
            collected.append(results.get(timeout=1))
        except queue.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError("the traffic processes did not finish in time") from None
        if time.monotonic() >= next_sample:
            memory.append(sample_memory(stack, started))
            backlog.append([round(time.monotonic() - started), stack.backlog()])
            next_sample += SAMPLE_SECONDS
            progress(f"  {memory[-1]['t']:5.0f} s  buffer {backlog[-1][1]:6}  "
                     + "  ".join(f"{role} {value['rss_mb']:.0f} MiB"
                                 for role, value in memory[-1]["roles"].items()))
    elapsed = time.monotonic() - started
    own = [pid for pids in stack.pids().values() for pid in pids]
    cpu_stack = common.process_cpu_seconds(own + postgres_pids(stack))
    for process in processes:
        process.join(timeout=30)
    return {"started": started, "elapsed": elapsed, "results": collected, "memory": memory,
            "backlog": backlog, "cpu": {"machine_busy_seconds": round(cpu.busy_seconds(), 1),
                                        "machine_busy_pct": round(cpu.busy_pct(), 1),
                                        "stack_and_postgres_seconds": round(cpu_stack, 1)}}


def postgres_pids(stack):
    import psycopg
    with psycopg.connect(stack.pg_admin_url, autocommit=True, connect_timeout=5) as admin:
        return [pid for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (stack.database_name,))]


def redis_pid(stack):
    import redis
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def sample_memory(stack, started):
    """RSS (MiB) per role: the sum over its processes, and its largest process."""
    roles = dict(stack.pids())
    roles["postgres backends"] = postgres_pids(stack)
    roles["redis"] = [redis_pid(stack)]
    sample = {"t": round(time.monotonic() - started, 1), "roles": {}}
    for role, pids in roles.items():
        sizes = []
        for pid in pids:
            try:
                sizes.append(common.memory(pid))
            except OSError:
                pass
        sample["roles"][role] = {
            "processes": len(sizes), "rss_mb": round(sum(s.get("rss_mb", 0) for s in sizes), 1),
            "max_rss_mb": max((s.get("rss_mb", 0) for s in sizes), default=0),
            "anon_mb": round(sum(s.get("anon_mb", 0) for s in sizes), 1)}
    return sample


def counts(stack, site_id):
    """What the database holds for the site once the buffer is empty."""
    queries = {
        "hits": "SELECT count(*) FROM hits WHERE site_id = :s",
        "hit_counts_pageviews": "SELECT coalesce(sum(pageviews), 0) FROM hit_counts WHERE site_id = :s",
        "site_hours_pageviews": "SELECT coalesce(sum(pageviews), 0) FROM site_hours WHERE site_id = :s",
        "sessions": "SELECT count(*) FROM visitor_sessions WHERE site_id = :s",
        "batches": "SELECT count(*) FROM ingest_batches",
    }
    from app.extensions import db
    with stack.app().app_context():
        with db.engine.connect() as conn:
            found = {name: conn.execute(text(sql), {"s": site_id}).scalar()
                     for name, sql in queries.items()}
            found["dropped"] = dict(conn.execute(text(
                "SELECT reason, count(*) FROM bot_hits WHERE site_id = :s GROUP BY reason"),
                {"s": site_id}).all())
    return found


def percentile(values, pct):
    values = sorted(values)
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return round(values[index], 1)


def summarise(kinds, config, run, stored, drain_seconds, machine, stack, seconds):
    latencies, statuses, errors, hits, crashes, client_cpu = {}, {}, {}, {}, [], 0.0
    for result in run["results"]:
        tally = result["tally"]
        for label, values in tally["latencies"].items():
            latencies.setdefault(label, []).extend(values)
        for table, source in ((statuses, tally["statuses"]), (errors, tally["errors"]),
                              (hits, tally["hits"])):
            for key, value in source.items():
                table[key] = table.get(key, 0) + value
        crashes += result["crash"]
        client_cpu += result["cpu_seconds"]
    elapsed = run["elapsed"]
    rows = [{"request": label, "count": len(values), "per_second": round(len(values) / elapsed, 1),
             "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
             "p99_ms": percentile(values, 99), "max_ms": round(max(values), 1)}
            for label, values in sorted(latencies.items())]
    by_status = {}
    for key, count in statuses.items():
        status = int(key.rsplit(" ", 1)[1])
        by_status[status] = by_status.get(status, 0) + count
    server_errors = sum(count for status, count in by_status.items() if status >= 500)
    unexpected = {key: count for key, count in statuses.items() if not _expected(key)}
    sent = sum(hits.values())
    lost = sent - stored["hits"]
    rollups_ok = stored["hits"] == stored["hit_counts_pageviews"] == stored["site_hours_pageviews"]
    requests = sum(len(values) for label, values in latencies.items()
                   if label != "dashboard: page and all widgets")
    passed = (not crashes and not errors and server_errors == 0 and not unexpected
              and lost == 0 and rollups_ok and not stored["dropped"])
    return {
        "passed": passed, "machine": machine, "seconds": round(elapsed, 1),
        "planned_seconds": seconds, "kinds": [dataclasses.asdict(kind) for kind in kinds],
        "gunicorn": stack.web_settings, "flask_workers": stack.workers_wanted,
        "requests": requests, "requests_per_second": round(requests / elapsed, 1),
        "hits_sent": hits, "hits_sent_total": sent,
        "hits_per_second": round(sent / elapsed, 1), "stored": stored, "lost": lost,
        "rollups_match": rollups_ok, "drain_seconds": round(drain_seconds, 1),
        "latency": rows, "answers_by_status": dict(sorted(by_status.items())),
        "unexpected_answers": unexpected, "server_errors": server_errors, "errors": errors,
        "crashes": crashes, "memory": run["memory"], "buffer_backlog": run["backlog"],
        "cpu": {**run["cpu"], "client_seconds": round(client_cpu, 1),
                # Other processes' share of the machine (other benchmarks, test suites): figures
                # taken while it is high are not comparable.
                "others_pct": round(max(0.0, run["cpu"]["machine_busy_seconds"]
                                        - run["cpu"]["stack_and_postgres_seconds"] - client_cpu)
                                    / (elapsed * (os.cpu_count() or 1)) * 100, 1)},
    }


EXPECTED = {"goatcounter /count": 200, "goatcounter /api/v0/count": 202,
            "umami /api/collect": 200, "basic /collect": 204}


def _expected(key):
    label, status = key.rsplit(" ", 1)
    return int(status) == EXPECTED.get(label, 200)


def report(result):
    print(f"\nSoak: {result['seconds']:.0f} s, gunicorn {result['gunicorn']['workers']} × "
          f"{result['gunicorn']['threads']} threads, {result['flask_workers']} flask workers; "
          f"{result['requests']:,} requests ({result['requests_per_second']} req/s), "
          f"{result['hits_sent_total']:,} hits answered ({result['hits_per_second']} hits/s)")
    common.print_table("Latency (client side, through nginx over TLS)",
                       ["request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"],
                       [[r["request"], r["count"], r["per_second"], r["p50_ms"], r["p95_ms"],
                         r["p99_ms"], r["max_ms"]] for r in result["latency"]])
    stored = result["stored"]
    common.print_table("Hits", ["family", "answered"],
                       [[k, v] for k, v in sorted(result["hits_sent"].items())]
                       + [["total answered", result["hits_sent_total"]],
                          ["stored (hits table)", stored["hits"]],
                          ["hit_counts pageviews", stored["hit_counts_pageviews"]],
                          ["site_hours pageviews", stored["site_hours_pageviews"]],
                          ["lost (answered − stored)", result["lost"]],
                          ["dropped to the bot log", sum(stored["dropped"].values())]])
    first, last = result["memory"][0]["roles"], result["memory"][-1]["roles"]
    peak = {role: max(s["roles"][role]["rss_mb"] for s in result["memory"]) for role in last}
    common.print_table("Memory (RSS MiB, sum over the role's processes; PostgreSQL's includes "
                       "the shared buffers each backend touched)",
                       ["role", "processes", "start", "end", "peak", "end anon", "largest process"],
                       [[role, last[role]["processes"], first[role]["rss_mb"], last[role]["rss_mb"],
                         peak[role], last[role]["anon_mb"],
                         max(s["roles"][role]["max_rss_mb"] for s in result["memory"])]
                        for role in last])
    print(f"\nanswers by status: {result['answers_by_status']}; unexpected: "
          f"{result['unexpected_answers'] or 'none'}; errors: {result['errors'] or 'none'}; "
          f"buffer drained {result['drain_seconds']} s after the traffic; CPU {result['cpu']}")
    print("PASSED: nothing lost, nothing doubled, no 5xx" if result["passed"] else
          f"FAILED{': ' + str(result['crashes']) if result['crashes'] else ''}")


if __name__ == "__main__":
    common.run_main(main)
