"""The README's dashboard screenshots (docs/screenshots/dashboard-{light,dark}.png): a throw-away
SQLite instance with a month of demo pageviews stored through the real ingest path, served on
loopback and photographed in Chromium with the light and the dark theme.

    .venv/bin/python -m bench.dashboard.screenshots [--out docs/screenshots]
"""
import argparse
import os
import random
import tempfile
import threading
import time

from werkzeug.serving import make_server

from bench.ingest import common

USERNAME, PASSWORD = "demo", "demo password 123"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
]
PATHS = [("/", "Home"), ("/blog/", "Blog"), ("/blog/self-hosting-analytics", "Self-hosting"),
         ("/docs/install", "Install"), ("/pricing", "Pricing"), ("/about", "About us")]
REFS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/item?id=1",
        "https://lobste.rs/", "https://duckduckgo.com/"]


def seed(site_id, rng):
    from app.ingest import ingest
    from app.ingest.hit_in import HitIn
    now, hits = time.time(), []
    for n in range(2400):
        if n % 3 == 0:  # a visitor's first pageview; the next two follow within minutes
            day, first = rng.triangular(0, 30, 0), rng.random() * 3000
        elif rng.random() < 0.45:
            continue
        path, title = rng.choices(PATHS, weights=[30, 12, 9, 7, 4, 2])[0]
        hits.append(HitIn(
            site_id=site_id, path=path, title=title, family="gc-api",
            created_at=now - day * 86400 - first + (n % 3) * rng.randint(20, 200),
            session=f"v{n // 3}",
            user_agent=rng.choices(AGENTS, weights=[3, 8, 4, 5])[0],
            referrer=rng.choice(REFS), width=rng.choice([390, 820, 1440, 1920, 2560]),
            location=rng.choice(["NL-NH", "DE-BE", "US-CA", "GB-ENG", "FR-IDF", "JP-13"]),
            language=rng.choice(["en-GB", "nl", "de", "fr"]),
            query="utm_campaign=autumn-launch&utm_source=newsletter" if n % 17 == 0 else ""))
    hits += [HitIn(site_id=site_id, path="/", family="gc-api", created_at=now - 20,
                   user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)")
             for _ in range(12)]
    ingest().push(*hits)
    ingest().flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(common.ROOT, "docs", "screenshots"))
    opts = parser.parse_args(argv)
    import config
    from app import accounts, create_app
    from app.extensions import db
    from app.models import User
    from playwright.sync_api import expect, sync_playwright
    os.makedirs(opts.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ibex-shots-") as tmp:
        app = create_app(config.TestingConfig(env={
            "DATABASE_URL": "sqlite:///" + os.path.join(tmp, "demo.db"),
            "IBEX_INSTANCE_DIR": os.path.join(tmp, "instance")}))
        with app.app_context():
            db.create_all()
            user = accounts.create_user(USERNAME, PASSWORD, role="a")
            site = accounts.create_site("example.org", name="example.org")
            site_id, user_id = site.id, user.id
            seed(site_id, random.Random(2026))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
                for theme in ("light", "dark"):
                    with app.app_context():
                        user = db.session.get(User, user_id)
                        user.settings = {**user.settings, "theme": theme}
                        db.session.commit()
                    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                                  color_scheme=theme)
                    page = context.new_page()
                    page.goto(base + "/login")
                    page.get_by_label("Username").fill(USERNAME)
                    page.get_by_label("Password", exact=True).fill(PASSWORD)
                    page.get_by_role("button", name="Log in").click()
                    page.wait_for_url(base + "/")
                    page.goto(f"{base}/sites/{site_id}/dashboard?period=month&group=day")
                    expect(page.locator(".state-loading")).to_have_count(0)
                    page.locator(".widget-browsers").get_by_role("button", name="Chrome").click()
                    page.wait_for_selector(".widget-browsers .drill")
                    path = os.path.join(opts.out, f"dashboard-{theme}.png")
                    page.screenshot(path=path, full_page=True)
                    print(f"wrote {path}")
                    context.close()
                browser.close()
        finally:
            server.shutdown()
            thread.join(timeout=10)
            with app.app_context():
                db.engine.dispose()


if __name__ == "__main__":
    main()
