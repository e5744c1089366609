"""Dashboard speed on a bench/stats dataset: gunicorn (production settings, loopback) on the
dataset's database, a user made for the run, then (1) each widget partial's server time for a
1-year and a 1-week range — N sequential requests each, p50/p95/max, with the drill-downs of
the year's top rows — and (2) in Chromium, the time from navigation start to the last widget
rendered for the 1-year dashboard (R page loads after one untimed).

    .venv/bin/python -m bench.dashboard.latency [--dataset ibex_bench_stats_10m]
                                                [--requests 20] [--loads 5] [--json FILE]

Without --dataset: the 10 M dataset when its load has finished (its manifest exists), else
the 1 M one. Run it under ``flock /tmp/ibex-bench.lock``.
"""
import argparse
import http.client
import os
import re
import secrets
import statistics
import tempfile
import time
import urllib.parse
from datetime import date, timedelta

from bench.ingest import common
from bench.stats import generate
from bench.stats.latency import _percentile, dataset_facts, in_app

WIDGET_TARGET_MS = 150   # p95 per widget, 1-year range, 10 M pageviews, PostgreSQL
PAGE_TARGET_MS = 1000    # navigation to the last widget rendered
USERNAME = "dashboard-bench"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", help="default: the 10 M dataset if loaded, else 1 M")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per widget "
                        "and range (after 2 untimed)")
    parser.add_argument("--loads", type=int, default=5, help="timed page loads in Chromium")
    parser.add_argument("--max-seconds", type=float, default=60,
                        help="stop a widget's requests after this long (at least 3 are made)")
    parser.add_argument("--quiet-wait", type=int, default=60)
    parser.add_argument("--json", help="default: instance/bench/dashboard-latency-<dataset>.json")
    opts = parser.parse_args(argv)
    name = opts.dataset or next(
        (n for n in (generate.dataset_name(10_000_000), generate.dataset_name(1_000_000))
         if (generate.manifest(n) or {}).get("complete")), None)
    if not name or not generate.exists(name, "postgresql"):
        raise SystemExit(f"no dataset {name}: make it with python -m bench.stats.generate")
    common.stop_on_signals()
    url = generate.database_url(name, "postgresql")
    common.flask(generate.app_env(url), "db", "upgrade", timeout=1800)
    facts = dataset_facts(url)
    print(f"{name}: main site {facts['site_id']} has {facts['hits']:,} hits "
          f"({facts['first_day']} – {facts['last_day']})", flush=True)
    password = secrets.token_urlsafe(18)
    user_id = make_user(url, password)
    results = {"benchmark": "dashboard-latency", "dataset": name, "settings": vars(opts).copy(),
               "facts": facts, "machine": common.machine()}
    try:
        results.update(measure(opts, url, facts, password))
    finally:
        remove_user(url, user_id)
    report(results)
    common.write_json(opts.json or os.path.join(generate.OUT_DIR,
                                                f"dashboard-latency-{name}.json"), results)
    return results


def make_user(url, password):
    """A read-only user for this run (removed at the end), with the default settings."""
    from app import accounts
    from app.extensions import db
    from app.models import User
    with in_app(url):
        old = db.session.query(User).filter_by(username=USERNAME).one_or_none()
        if old is not None:
            accounts.delete_user(old)
        return accounts.create_user(USERNAME, password, role="r").id


def remove_user(url, user_id):
    from app import accounts
    from app.extensions import db
    from app.models import User
    with in_app(url):
        user = db.session.get(User, user_id)
        if user is not None:
            accounts.delete_user(user)


class Session:
    """One keep-alive connection, logged in through the login form (CSRF token included)."""

    def __init__(self, port, password):
        self.port, self.cookies = port, {}
        self.conn = http.client.HTTPConnection(common.HOST, port, timeout=120)
        _status, body = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', body) or \
            re.search(rb'name="csrf_token" value="([^"]+)"', body)
        form = urllib.parse.urlencode({"csrf_token": token.group(1).decode(),
                                       "username": USERNAME, "password": password})
        status, _ = self.request("POST", "/login", form, {
            "Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"login failed: {status}")

    def request(self, method, path, body=None, headers=None):
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, path, body=body,
                          headers={**(headers or {}), **({"Cookie": cookie} if cookie else {})})
        response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            key, _, rest = header.partition("=")
            self.cookies[key] = rest.split(";", 1)[0]
        return response.status, data


def ranges(facts):
    last = date.fromisoformat(facts["last_day"])
    return {"1 year": (last - timedelta(days=364), last), "1 week": (last - timedelta(days=7), last)}


def measure(opts, url, facts, password):
    from app.ui import widgets
    env = dict(generate.app_env(url), RATELIMIT_ENABLED="0", RATELIMIT_STORAGE_URI="memory://")
    with tempfile.TemporaryDirectory(prefix="ibex-bench-dashboard-") as tmp, \
            common.Server("wsgi:app", env, os.path.join(tmp, "gunicorn.log"),
                          workers=common.gunicorn_settings(env)["workers"],
                          ready_path="/login") as server:
        session = Session(server.port, password)
        quiet = common.wait_quiet(opts.quiet_wait)
        base = f"/sites/{facts['site_id']}/dashboard"
        rows = []
        for range_name, (first, last) in ranges(facts).items():
            state = {"period-start": first.isoformat(), "period-end": last.isoformat()}
            targets = [(key, {}) for key in widgets.WIDGETS]
            if range_name == "1 year":
                targets += drill_targets(session, base, state)
            for key, extra in targets:
                path = f"{base}/widgets/{key}?" + urllib.parse.urlencode({**state, **extra})
                label = key + (f" drill={extra['drill']}" if extra else "")
                rows.append(time_widget(session, label, range_name, path, opts))
                row = rows[-1]
                errors = f", {row['errors']} errors" if row["errors"] else ""
                print(f"  {label[:40]:40} {range_name:7} p50 {row['p50_ms']:8.1f}  p95 "
                      f"{row['p95_ms']:8.1f}  max {row['max_ms']:8.1f} ms{errors}", flush=True)
        first, last = ranges(facts)["1 year"]
        page_url = (f"{server.url}{base}?period-start={first.isoformat()}"
                    f"&period-end={last.isoformat()}")
        loads = time_page_loads(server.url, page_url, password, opts.loads)
    return {"rows": rows, "page_loads_ms": loads, "cpu_busy_before_pct": quiet,
            "gunicorn": common.gunicorn_settings(env)}


def drill_targets(session, base, state):
    """The drill-downs of the year's top rows (the heaviest ones), read from the widgets."""
    targets = []
    for key in ("browsers", "systems", "locations", "sizes", "campaigns", "toprefs", "pages"):
        _status, body = session.request("GET", f"{base}/widgets/{key}?"
                                        + urllib.parse.urlencode(state))
        match = re.search(rb'[?&;]drill=([^"&]+)', body)
        if match:
            targets.append((key, {"drill": urllib.parse.unquote(
                match.group(1).decode().replace("&amp;", "&"))}))
    return targets


def time_widget(session, label, range_name, path, opts):
    for _ in range(2):
        session.request("GET", path)
    times, errors = [], 0
    deadline = time.monotonic() + opts.max_seconds
    while len(times) < opts.requests and (len(times) < 3 or time.monotonic() < deadline):
        started = time.perf_counter()
        status, body = session.request("GET", path)
        times.append((time.perf_counter() - started) * 1000)
        errors += status != 200 or b"state-error" in body
    times.sort()
    return {"widget": label, "range": range_name, "path": path, "requests": len(times),
            "errors": errors, "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_percentile(times, 95), 1), "max_ms": round(times[-1], 1)}


DONE_SCRIPT = """
new MutationObserver(function () {
  if (window.__ibexWidgetsDone || !document.querySelector("section.widget")) return;
  if (!document.querySelector("section.widget.state-loading"))
    window.__ibexWidgetsDone = performance.now();
}).observe(document, {childList: true, subtree: true, attributes: true});
"""


def time_page_loads(origin, page_url, password, loads):
    """Milliseconds from navigation start to the moment no widget is loading, per load."""
    from playwright.sync_api import expect, sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            # Records when the last placeholder was swapped (in the page, so the figure does
            # not include Playwright's polling); injected over CDP, so the CSP allows it.
            context.add_init_script(DONE_SCRIPT)
            page = context.new_page()
            page.set_default_timeout(120_000)
            page.goto(origin + "/login")
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(origin + "/")
            times = []
            for n in range(loads + 1):
                page.goto(page_url)
                expect(page.locator("section.widget")).not_to_have_count(0)
                expect(page.locator("section.widget.state-loading")).to_have_count(
                    0, timeout=120_000)
                elapsed = page.evaluate("window.__ibexWidgetsDone")
                failed = page.locator("section.widget.state-error").count()
                if failed:
                    raise RuntimeError(f"{failed} widgets failed on {page_url}")
                if n:  # the first load is untimed (caches, prepared statements)
                    times.append(round(elapsed, 1))
        finally:
            browser.close()
    return times


def report(results):
    rows = results["rows"]
    common.print_table(f"Widget server time ({results['dataset']}, loopback, ms)",
                       ["widget", "range", "p50", "p95", "max", "target"],
                       [[r["widget"], r["range"], r["p50_ms"], r["p95_ms"], r["max_ms"],
                         common.verdict(r["p95_ms"] < WIDGET_TARGET_MS)
                         if r["range"] == "1 year" else ""] for r in rows])
    loads = results["page_loads_ms"]
    if loads:
        print(f"\nNavigation to the last widget, 1-year dashboard: median "
              f"{statistics.median(loads):.0f} ms, max {max(loads):.0f} ms over {len(loads)} "
              f"loads ({common.verdict(max(loads) < PAGE_TARGET_MS)} against "
              f"{PAGE_TARGET_MS} ms)")


if __name__ == "__main__":
    common.run_main(main)
