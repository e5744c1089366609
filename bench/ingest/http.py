"""Hot-path throughput: wrk against Ibex's /count and /api/collect and against a bare Flask app
(bench/ingest/bare_app.py) under the same `gunicorn -c gunicorn.conf.py`, in production mode
(fresh PostgreSQL database, Redis buffer with a prefix of its own) and once in the embedded
mode (SQLite, in-process buffer). Loopback only; every wrk run is bounded in time and requests.

    .venv/bin/python -m bench.ingest.http [--duration 10] [--rounds 3] [--json out.json]
"""
import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request

from bench.ingest import common

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "wrk.lua")
DOMAIN = "bench.example"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
RATIO_TARGET = 0.70
RSS_TARGET_MB = 150


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--max-requests", type=int, default=300_000,
                        help="upper bound on responses per run (a safety stop; wrk's req/s is "
                             "only exact when the time limit ends the run)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds (bare, Ibex, bare, Ibex…); medians are reported")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--quiet-wait", type=int, default=120,
                        help="wait up to this many seconds for other processes to leave the CPUs "
                             "idle before each run")
    parser.add_argument("--json", help="write the results to this file")
    opts = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: `apt-get install -y wrk` (or run `make bench`)")
    common.stop_on_signals()
    results = {"benchmark": "http", "machine": common.machine(), "settings": vars(opts).copy()}
    results["settings"]["user_agent"] = USER_AGENT
    with tempfile.TemporaryDirectory(prefix="ibex-bench-http-") as tmp:
        results["production"] = production(opts, tmp)
        if not opts.skip_embedded:
            results["embedded"] = embedded(opts, tmp)
    report(results)
    common.write_json(opts.json, results)
    return results


# --- the two modes ---------------------------------------------------------------------------

def production(opts, tmp):
    with common.pg_database("bench_http") as database_url, \
            common.redis_prefixes("bench-http") as prefixes:
        env = common.production_env(database_url, prefixes)
        site = common.create_schema_and_site(env, DOMAIN)
        settings = common.gunicorn_settings(env)
        body = os.path.join(tmp, "collect.json")
        with open(body, "w") as f:
            json.dump(umami_pageview(site["uuid"]), f)
        queue = f"{prefixes[0]}:queue"
        redis = common.redis_client()
        try:
            with common.Server("wsgi:app", env, os.path.join(tmp, "ibex.log"),
                               settings["workers"], "/ready") as ibex, \
                    common.Server("bench.ingest.bare_app:app", env, os.path.join(tmp, "bare.log"),
                                  settings["workers"], "/ready") as bare:
                check_answers(ibex, bare, body)
                redis.delete(queue)  # the checks' own hits
                runs = {key: [] for key in ("bare_gif", "ibex_count", "bare_json", "ibex_collect")}
                for _ in range(opts.rounds):
                    runs["bare_gif"].append(measure(opts, bare, "/gif"))
                    runs["ibex_count"].append(measure(opts, ibex, "/count?p=/bench",
                                                      redis=redis, queue=queue))
                    runs["bare_json"].append(measure(opts, bare, "/json", body=body))
                    runs["ibex_collect"].append(measure(opts, ibex, "/api/collect", body=body,
                                                        redis=redis, queue=queue))
                memory = {"ibex": server_memory(ibex), "bare": server_memory(bare)}
        finally:
            redis.delete(queue)
            redis.close()
    return {"gunicorn": settings, "runs": {k: summarise(v) for k, v in runs.items()},
            "memory": memory,
            "ratios": {"count": ratio(runs["ibex_count"], runs["bare_gif"]),
                       "collect": ratio(runs["ibex_collect"], runs["bare_json"])}}


def embedded(opts, tmp):
    """The embedded default: SQLite under a throw-away instance dir, in-process buffer flushed
    by the web process's own thread (so its persisting shares the CPU with the requests)."""
    instance = os.path.join(tmp, "instance")
    env = common.base_env()
    env["IBEX_INSTANCE_DIR"] = instance
    site = common.create_schema_and_site(env, DOMAIN)
    settings = common.gunicorn_settings(env)
    with common.Server("wsgi:app", env, os.path.join(tmp, "ibex-embedded.log"),
                       settings["workers"], "/ready") as ibex, \
            common.Server("bench.ingest.bare_app:app", env, os.path.join(tmp, "bare-embedded.log"),
                          settings["workers"], "/ready") as bare:
        gif = measure(opts, bare, "/gif")
        count = measure(opts, ibex, "/count?p=/bench")
        memory = {"ibex": server_memory(ibex), "bare": server_memory(bare)}
    # The server stopped gracefully, persisting what was still buffered at exit.
    stored = sqlite_hits(os.path.join(instance, "ibex.db"), site["id"])
    return {"gunicorn": settings, "runs": {"bare_gif": summarise([gif]),
                                          "ibex_count": summarise([count])},
            "memory": memory, "ratios": {"count": ratio([count], [gif])},
            "stored_after_shutdown": stored,
            "requests_including_warmup": count["requests"] + count["warmup_requests"]}


def umami_pageview(website):
    return {"type": "pageview", "payload": {
        "website": website, "hostname": DOMAIN, "screen": "1920x1080", "language": "en-US",
        "url": "/bench", "referrer": "https://www.google.com/"}}


# --- one wrk run -----------------------------------------------------------------------------

def check_answers(ibex, bare, body_file):
    """Both servers answer what they are meant to before any load: the same GIF, JSON."""
    with open(body_file, "rb") as f:
        body = f.read()
    status, gif = fetch(ibex.url + "/count?p=/bench")
    status_bare, gif_bare = fetch(bare.url + "/gif")
    if status != 200 or status_bare != 200 or gif != gif_bare or len(gif) != 43:
        raise RuntimeError(f"/count answered {status} {gif!r}, bare /gif {status_bare} {gif_bare!r}")
    status, token = fetch(ibex.url + "/api/collect", body)
    if status != 200 or not token:
        raise RuntimeError(f"/api/collect answered {status} {token!r}")
    status, _ = fetch(bare.url + "/json", body)
    if status != 200:
        raise RuntimeError(f"bare /json answered {status}")


def fetch(url, body=None):
    request = urllib.request.Request(url, data=body, headers={
        "Host": DOMAIN, "User-Agent": USER_AGENT, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def measure(opts, server, path, body=None, redis=None, queue=None):
    quiet = common.wait_quiet(opts.quiet_wait)
    before = redis.llen(queue) if redis else 0
    warm = wrk(opts, server.url + path, opts.warmup, body) if opts.warmup else {"requests": 0}
    ours = [server.process.pid, *server.workers(), *common.pids_named("redis-server")]
    ours_before, children_before = common.process_cpu_seconds(ours), _children_cpu()
    machine = common.CpuMeter()
    run = wrk(opts, server.url + path, opts.duration, body)
    busy = machine.busy_seconds()
    ours_cpu = common.process_cpu_seconds(ours) - ours_before + _children_cpu() - children_before
    run["cpu_busy_before_pct"] = quiet
    run["foreign_cpu_pct"] = round(max(busy - ours_cpu, 0) / (opts.duration * os.cpu_count()) * 100, 1)
    run["warmup_requests"] = warm["requests"]
    run["rps"] = run["requests"] / (run["duration_us"] / 1e6)
    run["capped"] = run["requests"] >= opts.max_requests
    if redis:
        # Every 2xx answer must have pushed one hit; then empty the queue so Redis stays small.
        run["pushed"] = redis.llen(queue) - before
        redis.delete(queue)
        answered = run["requests"] + run["warmup_requests"]  # + up to 2 x connections in flight
        if not answered <= run["pushed"] <= answered + 2 * opts.connections:
            print(f"WARNING: {answered:,} answers but {run['pushed']:,} hits pushed", file=sys.stderr)
    print(f"  {server.target:28} {path:18} {run['rps']:8.0f} req/s  "
          f"p99 {run['latency_us']['p99'] / 1000:.1f} ms  (other processes: "
          f"{run['foreign_cpu_pct']:.0f} % CPU)", flush=True)
    return run


def _children_cpu():
    """CPU seconds of this process's finished children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(opts, url, seconds, body=None):
    cap = math.ceil(opts.max_requests / opts.threads)
    command = ["wrk", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds}s", "--timeout", "5s",
               "-H", f"Host: {DOMAIN}", "-H", f"User-Agent: {USER_AGENT}", "-s", LUA, url, "--",
               str(cap)]
    if body:
        command += [body, "application/json"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError(f"no result from wrk:\n{out.stdout}{out.stderr}")


def summarise(runs):
    """The run with the median req/s, plus every round's req/s."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["rps_rounds"] = [round(r["rps"], 1) for r in runs]
    return median


def ratio(ibex_runs, bare_runs):
    value = statistics.median(r["rps"] for r in ibex_runs) / statistics.median(r["rps"] for r in bare_runs)
    return {"value": round(value, 3), "target": RATIO_TARGET, "ok": value >= RATIO_TARGET}


def server_memory(server):
    """Memory of the gunicorn master and its workers (MiB), read while they still run."""
    workers = [common.memory(pid) for pid in server.workers()]
    return {"master": common.memory(server.process.pid), "workers": workers,
            "max_worker_rss_mb": max((w["rss_mb"] for w in workers), default=0),
            "max_worker_hwm_mb": max((w["hwm_mb"] for w in workers), default=0),
            "max_worker_anon_mb": max((w["anon_mb"] for w in workers), default=0)}


def sqlite_hits(path, site_id):
    import sqlite3
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM hits WHERE site_id = ?", (site_id,)).fetchone()[0]


# --- output ----------------------------------------------------------------------------------

LABELS = {"bare_gif": ("bare Flask", "GET /gif"), "ibex_count": ("Ibex", "GET /count?p=/bench"),
          "bare_json": ("bare Flask", "POST /json"), "ibex_collect": ("Ibex", "POST /api/collect")}


def report(results):
    for mode in ("production", "embedded"):
        data = results.get(mode)
        if not data:
            continue
        g = data["gunicorn"]
        rows = []
        for key, run in data["runs"].items():
            server, endpoint = LABELS[key]
            lat = run["latency_us"]
            errors = sum(run["errors"].values())
            rows.append([server, endpoint, run["rps"],
                         " ".join(f"{r:.0f}" for r in run["rps_rounds"]), lat["p50"] / 1000,
                         lat["p90"] / 1000, lat["p99"] / 1000, lat["max"] / 1000, errors,
                         run.get("pushed", ""), run["foreign_cpu_pct"]])
        common.print_table(
            f"{mode}: gunicorn {g['worker_class']} {g['workers']} workers x {g['threads']} threads; "
            f"wrk -t{results['settings']['threads']} -c{results['settings']['connections']} "
            f"-d{results['settings']['duration']}s after {results['settings']['warmup']} s warm-up",
            ["server", "endpoint", "req/s", "rounds", "p50 ms", "p90 ms", "p99 ms", "max ms",
             "errors/non-2xx", "hits pushed", "others' CPU %"], rows)
        ratio_rows = [["Ibex /count / bare GIF", data["ratios"]["count"]["value"], RATIO_TARGET,
                       common.verdict(data["ratios"]["count"]["ok"])]]
        if "collect" in data["ratios"]:
            ratio_rows.append(["Ibex /api/collect / bare JSON", data["ratios"]["collect"]["value"],
                               RATIO_TARGET, common.verdict(data["ratios"]["collect"]["ok"])])
        common.print_table(f"{mode}: throughput ratio", ["ratio", "value", "target", ""], ratio_rows)
        mem = data["memory"]
        common.print_table(f"{mode}: web process memory after the runs (MiB)",
                           ["server", "workers", "max worker RSS", "of which anonymous",
                            "max worker peak (VmHWM)", "master RSS", "target", ""],
                           [[name, len(m["workers"]), m["max_worker_rss_mb"], m["max_worker_anon_mb"],
                             m["max_worker_hwm_mb"], m["master"]["rss_mb"], f"< {RSS_TARGET_MB}",
                             common.verdict(m["max_worker_hwm_mb"] < RSS_TARGET_MB)]
                            for name, m in mem.items()])
        if mode == "embedded":
            print(f"\nembedded: {data['stored_after_shutdown']:,} hits in SQLite after shutdown, "
                  f"of {data['requests_including_warmup']:,} requests to /count")


if __name__ == "__main__":
    common.run_main(main)
