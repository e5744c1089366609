"""Persister throughput and storage on PostgreSQL: realistic hits (GoatCounter /count and Umami
pageviews and events; paths, referrers and campaigns, ~20 User-Agents and a few bots, many
visitors from public IPs, screen sizes, languages) built by the hot path's own payload code and
pushed into the Redis buffer; then one `flask worker` drains it, timed, per batch size.
Afterwards: the worker's peak RSS and the bytes each stored pageview takes in PostgreSQL.

    .venv/bin/python -m bench.ingest.persist [--hits 200000] [--batch-sizes 1000,5000] [--json out.json]
"""
import argparse
import dataclasses
import ipaddress
import math
import os
import random
import signal
import subprocess
import tempfile
import time

from werkzeug.datastructures import MultiDict

from bench.ingest import common

THROUGHPUT_TARGET = 10_000      # hits/s on one worker, rollups included
RSS_TARGET_MB = 150
BYTES_TARGET = 120              # per pageview: raw row + indexes + rollup share

SITES = (("bench.example", 0.7), ("docs.bench.example", 0.3))
_M = "Mozilla/5.0 "
_WIN, _MAC = "(Windows NT 10.0; Win64; x64) ", "(Macintosh; Intel Mac OS X 10_15_7) "
_BLINK, _SAFARI = "AppleWebKit/537.36 (KHTML, like Gecko) ", "AppleWebKit/605.1.15 (KHTML, like Gecko) "
_CHROME = "Chrome/131.0.0.0 Safari/537.36"
USER_AGENTS = (  # (weight, User-Agent); the last two are bots the persister drops
    (14, _M + _WIN + _BLINK + _CHROME),
    (6, _M + _WIN + _BLINK + "Chrome/130.0.0.0 Safari/537.36"),
    (8, _M + _MAC + _BLINK + _CHROME),
    (3, _M + "(X11; Linux x86_64) " + _BLINK + _CHROME),
    (12, _M + "(Linux; Android 10; K) " + _BLINK + "Chrome/131.0.0.0 Mobile Safari/537.36"),
    (10, _M + "(iPhone; CPU iPhone OS 18_1 like Mac OS X) " + _SAFARI
     + "Version/18.1 Mobile/15E148 Safari/604.1"),
    (3, _M + "(iPad; CPU OS 17_6 like Mac OS X) " + _SAFARI + "Version/17.6 Mobile/15E148 Safari/604.1"),
    (6, _M + _MAC + _SAFARI + "Version/18.1 Safari/605.1.15"),
    (5, _M + "(Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    (2, _M + "(X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    (1, _M + "(Macintosh; Intel Mac OS X 14.7; rv:132.0) Gecko/20100101 Firefox/132.0"),
    (1, _M + "(X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
    (5, _M + _WIN + _BLINK + _CHROME + " Edg/131.0.0.0"),
    (2, _M + "(Linux; Android 14; SAMSUNG SM-S918B) " + _BLINK
     + "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"),
    (1, _M + _WIN + _BLINK + "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0"),
    (1, _M + "(iPhone; CPU iPhone OS 18_1 like Mac OS X) " + _SAFARI
     + "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"),
    (1, _M + "(Windows NT 6.1; Win64; x64) " + _BLINK + "Chrome/109.0.0.0 Safari/537.36"),
    (1, _M + "(X11; CrOS x86_64 14541.0.0) " + _BLINK + _CHROME),
    (1, _M + "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    (1, _M + "(compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
)
SCREENS = ((20, 1920, 1080), (10, 1366, 768), (8, 1536, 864), (6, 1440, 900), (5, 2560, 1440),
           (12, 390, 844), (8, 414, 896), (6, 360, 800), (4, 412, 915), (3, 768, 1024),
           (3, 1280, 720), (2, 3840, 2160))
LANGUAGES = ((40, "en-US,en;q=0.9"), (10, "en-GB,en;q=0.9"), (10, "de-DE,de;q=0.9,en;q=0.8"),
             (8, "fr-FR,fr;q=0.9"), (6, "es-ES,es;q=0.9"), (5, "pt-BR,pt;q=0.9"),
             (5, "nl-NL,nl;q=0.9,en;q=0.8"), (4, "ja-JP,ja;q=0.9"), (3, "pl-PL,pl;q=0.9"),
             (3, "it-IT,it;q=0.9"), (6, ""))
SEARCH = ("https://www.google.com/", "https://www.google.de/", "https://www.bing.com/",
          "https://duckduckgo.com/", "https://search.brave.com/", "https://www.ecosia.org/")
SOCIAL = ("https://t.co/{code}", "https://news.ycombinator.com/item?id={n}",
          "https://www.reddit.com/r/programming/comments/{code}/",
          "https://old.reddit.com/r/selfhosted/comments/{code}/", "https://lobste.rs/s/{code}",
          "https://l.facebook.com/", "https://www.linkedin.com/", "https://mastodon.social/@{code}")
CAMPAIGNS = ("?utm_source=newsletter&utm_medium=email&utm_campaign=november-2026",
             "?utm_source=twitter&utm_campaign=launch", "?utm_campaign=black-friday&ref=partner",
             "?ref=producthunt", "?utm_source=github&utm_medium=readme")
EVENTS = (("click", "signup-button"), ("click", "download"), ("scroll", "75%"),
          ("submit", "newsletter-form"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=200_000, help="hits pushed per run")
    parser.add_argument("--batch-sizes", default="1000,5000",
                        help="comma list of PERSIST_BATCH_SIZE values, one fresh run each")
    parser.add_argument("--live-minutes", type=int, default=60,
                        help="throughput runs: the hits arrived over the last this many minutes "
                             "(a backlog of live traffic: a batch shares its hours and days)")
    parser.add_argument("--storage-days", type=int, default=30,
                        help="storage run: the same number of hits spread over this many days "
                             "(0 skips it)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed for one drain")
    parser.add_argument("--quiet-wait", type=int, default=120,
                        help="wait up to this many seconds for other processes to leave the CPUs "
                             "idle before each run")
    parser.add_argument("--json", help="write the results to this file")
    opts = parser.parse_args(argv)
    common.stop_on_signals()
    results = {"benchmark": "persist", "machine": common.machine(), "settings": vars(opts).copy(),
               "runs": []}
    sizes = [int(size) for size in opts.batch_sizes.split(",") if size.strip()]
    plan = [("live", size, opts.live_minutes * 60) for size in sizes]
    if opts.storage_days:
        plan.append(("spread", sizes[0], opts.storage_days * 86400))
    workloads = {}
    with tempfile.TemporaryDirectory(prefix="ibex-bench-persist-") as tmp:
        for kind, size, span in plan:
            if span not in workloads:
                started = time.monotonic()
                workloads[span] = Workload(opts.hits, span, opts.seed)
                print(f"built {opts.hits:,} hits over {_span(span)} in "
                      f"{time.monotonic() - started:.1f} s: {workloads[span].describe()}", flush=True)
            run = run_once(opts, workloads[span], size, tmp)
            run.update(kind=kind, span=_span(span), workload=workloads[span].describe())
            results["runs"].append(run)
    report(results)
    common.write_json(opts.json, results)
    return results


# --- the workload ----------------------------------------------------------------------------

class Workload:
    """``total`` hits that arrived over the last ``span`` seconds, as (site index, HitIn) in
    arrival order; built once, pushed fresh (with the run's site ids) for every run."""

    def __init__(self, total, span, seed):
        from app.tracking import payloads
        rng = random.Random(seed)
        self.span = span
        now = time.time()
        start = now - span
        paths = [_paths(rng, 350), _paths(rng, 120, docs=True)]
        path_weights = [[1 / (rank + 1) ** 1.1 for rank in range(len(p))] for p in paths]
        ua_weights = [w for w, _ in USER_AGENTS]
        self.hits = []      # (site index, HitIn with site_id=0)
        self.families = {"gc": 0, "umami pageview": 0, "umami event": 0}
        self.visitors = 0
        remaining = total
        while remaining > 0:
            self.visitors += 1
            site = 0 if rng.random() < SITES[0][1] else 1
            user_agent = rng.choices(USER_AGENTS, ua_weights)[0][1]
            ip = _public_ip(rng)
            screen = rng.choices(SCREENS, [s[0] for s in SCREENS])[0]
            language = rng.choices(LANGUAGES, [w for w, _ in LANGUAGES])[0][1]
            referrer, query = _arrival(rng)
            umami = rng.random() < 0.3
            pageviews = min(remaining, 1 + int(rng.expovariate(1 / 2.2)))  # ~3 a visitor
            remaining -= pageviews
            at = start + _diurnal(rng, span / 86400) * span
            for n in range(pageviews):
                at = min(at + (rng.expovariate(1 / 45) if n else 0), now - 1)
                path = rng.choices(paths[site], path_weights[site])[0]
                if umami:
                    event = n and rng.random() < 0.15
                    payload = {"website": "x", "hostname": SITES[site][0],
                               "screen": f"{screen[1]}x{screen[2]}", "language": language[:5],
                               "url": path + (query if n == 0 else ""),
                               "referrer": referrer if n == 0 else ""}
                    if event:
                        payload["event_type"], payload["event_value"] = rng.choice(EVENTS)
                    hit = payloads.umami_hit("event" if event else "pageview", payload, 0,
                                             user_agent, ip)
                    self.families["umami event" if event else "umami pageview"] += 1
                else:
                    args = MultiDict({"p": path, "t": _title(path), "s": f"{screen[1]},{screen[2]},2",
                                      "r": referrer if n == 0 else "",
                                      "q": query if n == 0 else "", "b": "0"})
                    hit = payloads.goatcounter_count(args, 0, user_agent, ip, language)
                    self.families["gc"] += 1
                self.hits.append((site, dataclasses.replace(hit, created_at=at)))
        self.hits.sort(key=lambda item: item[1].created_at)  # arrival order

    def records(self, site_ids):
        for site, hit in self.hits:
            hit.site_id = site_ids[site]
            yield hit.to_wire()

    def describe(self):
        return {"hits": len(self.hits), "visitors": self.visitors, "span": _span(self.span),
                "sites": len(SITES), "user_agents": len(USER_AGENTS), **self.families}


def _span(seconds):
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds / 60:g} minutes"


def _paths(rng, count, docs=False):
    fixed = ["/", "/pricing", "/about", "/blog", "/contact", "/features"] if not docs else ["/"]
    out = list(fixed)
    sections = ("guide", "api", "install", "faq", "reference") if docs else ("blog", "changelog")
    while len(out) < count:
        section = rng.choice(sections)
        out.append(f"/{section}/{'-'.join(rng.choice(WORDS) for _ in range(rng.randint(2, 4)))}")
    return out


WORDS = ("self", "hosted", "analytics", "privacy", "flask", "python", "postgres", "redis", "speed",
         "guide", "setup", "sessions", "rollups", "tracking", "script", "goatcounter", "umami",
         "dashboard", "export", "import", "release", "notes", "how", "why", "scaling", "nginx")


def _title(path):
    return "Ibex — " + (path.strip("/").split("/")[-1].replace("-", " ").title() or "Home")


def _arrival(rng):
    """(referrer, page query) of a visit's first pageview."""
    roll = rng.random()
    if roll < 0.45:
        return "", ""
    if roll < 0.70:
        return rng.choice(SEARCH), ""
    if roll < 0.85:
        return rng.choice(SOCIAL).format(code=f"{rng.getrandbits(40):x}", n=rng.randint(1, 10 ** 8)), ""
    if roll < 0.94:
        return f"https://blog{rng.randint(1, 400)}.example.org/post/{rng.randint(1, 50)}", ""
    return rng.choice(("", "https://mail.google.com/")), rng.choice(CAMPAIGNS)


def _diurnal(rng, days):
    """A moment in [0, 1) of a period of ``days`` days, busier in the (UTC) afternoon (uniform
    within periods shorter than a day)."""
    while True:
        x = rng.random()
        if days < 1:
            return x
        hour = (x * days * 24) % 24
        if rng.random() < 0.35 + 0.65 * math.sin(math.pi * hour / 24) ** 2:
            return x


def _public_ip(rng):
    while True:
        if rng.random() < 0.12:
            address = ipaddress.IPv6Address((0x2a00 << 112) | rng.getrandbits(108) << 4)
        else:
            address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast:
            return str(address)


# --- one run ---------------------------------------------------------------------------------

def run_once(opts, workload, batch_size, tmp):
    print(f"\nbatch size {batch_size}: fresh database, pushing {len(workload.hits):,} hits …", flush=True)
    with common.pg_database("bench_persist") as database_url, \
            common.redis_prefixes("bench-persist") as prefixes:
        env = common.production_env(database_url, prefixes, PERSIST_BATCH_SIZE=batch_size)
        site_ids = [common.create_schema_and_site(env, domain)["id"] for domain, _ in SITES]
        redis = common.redis_client()
        queue = f"{prefixes[0]}:queue"
        pushed = push(redis, queue, workload.records(site_ids))
        drain = time_worker(opts, env, redis, prefixes[0], pushed, database_url,
                            os.path.join(tmp, f"worker-{batch_size}.log"))
        redis.close()
        storage = measure_storage(database_url)
    rate = pushed / drain["seconds"] if drain["seconds"] else 0
    print(f"  drained {pushed:,} in {drain['seconds']:.1f} s: {rate:,.0f} hits/s; "
          f"peak RSS {drain['worker_memory']['hwm_mb']} MiB", flush=True)
    return {"batch_size": batch_size, "pushed": pushed, **drain, "hits_per_second": round(rate),
            "storage": storage}


def push(redis, queue, records):
    pushed, chunk = 0, []
    pipe = redis.pipeline(transaction=False)
    for record in records:
        chunk.append(record)
        if len(chunk) == 5000:
            pipe.rpush(queue, *chunk)
            pushed += len(chunk)
            chunk = []
    if chunk:
        pipe.rpush(queue, *chunk)
        pushed += len(chunk)
    pipe.execute()
    if redis.llen(queue) != pushed:
        raise RuntimeError(f"pushed {pushed} records, the queue holds {redis.llen(queue)}")
    return pushed


def time_worker(opts, env, redis, prefix, total, database_url, log_path):
    """Start one `flask worker`, time it from its first claim to an empty buffer (every batch
    committed and acknowledged), read its peak RSS and CPU time (and its PostgreSQL backend's),
    stop it."""
    queue, batches = f"{prefix}:queue", f"{prefix}:batches"
    quiet = common.wait_quiet(opts.quiet_wait)
    redis_before = _redis_cpu()
    machine = common.CpuMeter()
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([os.path.join(common.VENV_BIN, "flask"), "worker"], cwd=common.ROOT,
                                  env=env, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=common.die_with_parent)
    try:
        launched = time.monotonic()
        deadline = launched + opts.timeout
        first_claim = None
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"flask worker exited ({worker.returncode}); see {log_path}")
            queued = redis.llen(queue)
            now = time.monotonic()
            if first_claim is None and queued < total:
                first_claim = now
            if queued == 0 and redis.hlen(batches) == 0:
                finished = now
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"the worker did not drain {total:,} hits in {opts.timeout} s")
        memory = common.memory(worker.pid)
        worker_cpu = common.process_cpu_seconds([worker.pid])
        pg_cpu = common.process_cpu_seconds(_backends(database_url))
        busy, wall = machine.busy_seconds(), time.monotonic() - launched
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # stops after the current batch
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
    redis_cpu = _redis_cpu() - redis_before  # Redis is shared: approximate
    seconds = finished - first_claim
    foreign = max(busy - worker_cpu - pg_cpu - redis_cpu, 0) / (wall * os.cpu_count()) * 100
    return {"seconds": round(seconds, 2), "startup_seconds": round(first_claim - launched, 2),
            "cpu_busy_before_pct": quiet, "foreign_cpu_pct": round(foreign, 1),
            "worker_memory": memory,
            "cpu_seconds": {"worker": round(worker_cpu, 1), "postgres": round(pg_cpu, 1),
                            "redis": round(redis_cpu, 1)}}


def _redis_cpu():
    return common.process_cpu_seconds(common.pids_named("redis-server"))


def _backends(database_url):
    """Pids of the PostgreSQL backends connected to the bench database (the worker's)."""
    import psycopg
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]


# --- storage ---------------------------------------------------------------------------------

RAW = ("hits",)
ROLLUPS = ("hit_counts", "ref_counts", "browser_stats", "system_stats", "location_stats",
           "size_stats", "language_stats", "campaign_stats")
SESSIONS = ("visitor_sessions", "visits")
DIMENSIONS = ("paths", "refs", "urls", "browsers", "systems", "locations", "cities", "languages",
              "campaigns")
OTHER = ("bot_hits", "ingest_batches")


def measure_storage(database_url):
    """Bytes per stored pageview: (hits + indexes + rollups + sessions/visits) / hits, as the
    worker left them and again after VACUUM FULL (the same rows, without update bloat)."""
    import psycopg
    with psycopg.connect(database_url, autocommit=True) as conn:
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        dropped = conn.execute("SELECT count(*) FROM bot_hits").fetchone()[0]
        conn.execute("ANALYZE")
        as_written = _sizes(conn)
        conn.execute("VACUUM FULL")
        compact = _sizes(conn)
    counted = RAW + ROLLUPS + SESSIONS
    return {"hits": hits, "dropped": dropped,
            "as_written": _per_hit(as_written, counted, hits),
            "after_vacuum_full": _per_hit(compact, counted, hits)}


def _sizes(conn):
    rows = conn.execute("""
        SELECT c.relname, pg_relation_size(c.oid), pg_indexes_size(c.oid),
               pg_total_relation_size(c.oid), c.reltuples::bigint
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'""").fetchall()
    return {name: {"heap": heap, "indexes": indexes, "total": total, "rows": max(rows, 0)}
            for name, heap, indexes, total, rows in rows}


def _per_hit(sizes, counted, hits):
    def total(names):
        return sum(sizes.get(name, {}).get("total", 0) for name in names)
    groups = {"raw hits": RAW, "rollups": ROLLUPS, "sessions and visits": SESSIONS,
              "dimensions": DIMENSIONS, "other": OTHER}
    return {"tables": sizes,
            "groups": {name: {"bytes": total(names), "per_hit": round(total(names) / hits, 1)}
                       for name, names in groups.items()},
            "hits_heap_per_hit": round(sizes["hits"]["heap"] / hits, 1),
            "hits_indexes_per_hit": round(sizes["hits"]["indexes"] / hits, 1),
            "bytes_per_pageview": round(total(counted) / hits, 1),
            "bytes_per_pageview_with_dimensions": round(total(counted + DIMENSIONS) / hits, 1)}


# --- output ----------------------------------------------------------------------------------

def report(results):
    rows = []
    for run in results["runs"]:
        cpu = run["cpu_seconds"]
        live = run["kind"] == "live"
        rows.append([run["batch_size"], run["span"], run["pushed"], run["storage"]["hits"],
                     run["seconds"], run["hits_per_second"],
                     common.verdict(run["hits_per_second"] >= THROUGHPUT_TARGET) if live else "(info)",
                     f"{cpu['worker']} / {cpu['postgres']} / {cpu['redis']}",
                     run["worker_memory"]["hwm_mb"],
                     common.verdict(run["worker_memory"]["hwm_mb"] < RSS_TARGET_MB),
                     f"{run['worker_memory']['anon_mb']} / {run['worker_memory']['file_mb']}",
                     run["foreign_cpu_pct"]])
    common.print_table(f"persister: one `flask worker` draining the Redis buffer into PostgreSQL "
                       f"(target >= {THROUGHPUT_TARGET:,} hits/s for live traffic; peak RSS < "
                       f"{RSS_TARGET_MB} MiB)",
                       ["batch", "hits arrived over", "pushed", "stored", "seconds", "hits/s", "",
                        "CPU s worker / pg backend / redis", "peak RSS MiB", "",
                        "RSS anon / file at the end", "other processes' CPU %"], rows)
    rows = []
    for run in results["runs"]:
        for label, key in (("as written", "as_written"), ("after VACUUM FULL", "after_vacuum_full")):
            data = run["storage"][key]
            groups = data["groups"]
            judged = run["kind"] == "spread"
            rows.append([run["batch_size"], run["span"], label, data["hits_heap_per_hit"],
                         data["hits_indexes_per_hit"], groups["rollups"]["per_hit"],
                         groups["sessions and visits"]["per_hit"], data["bytes_per_pageview"],
                         common.verdict(data["bytes_per_pageview"] <= BYTES_TARGET) if judged
                         else "(info)", groups["dimensions"]["per_hit"]])
    common.print_table(f"storage, bytes per stored pageview (target <= {BYTES_TARGET}: hits + "
                       f"indexes + rollups + sessions/visits, judged on the spread run)",
                       ["batch", "hits arrived over", "state", "hits heap", "hits indexes",
                        "rollups", "sessions+visits", "bytes/pageview", "", "(+ dimensions)"], rows)
    run = results["runs"][-1] if results["runs"] else None
    if run:
        tables = run["storage"]["as_written"]["tables"]
        hits = run["storage"]["hits"]
        names = RAW + ROLLUPS + SESSIONS + DIMENSIONS + OTHER
        common.print_table(f"tables as written: batch size {run['batch_size']}, hits over "
                           f"{run['span']} ({hits:,} stored, {run['storage']['dropped']:,} dropped)",
                           ["table", "rows", "heap bytes", "index bytes", "total bytes", "per hit"],
                           [[name, tables[name]["rows"], tables[name]["heap"], tables[name]["indexes"],
                             tables[name]["total"], round(tables[name]["total"] / hits, 1)]
                            for name in names if name in tables])


if __name__ == "__main__":
    common.run_main(main)
