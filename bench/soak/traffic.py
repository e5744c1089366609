"""The soak's clients: paced threads in child processes (one process per kind of traffic), each
request timed and its answer classified. Tracking kinds count the hits that got a success
answer; read kinds log in (form, Umami login) or use the API token. Loopback only."""
import random
import re
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench.soak.client import Client

# Browsers of real visitors (bots would be dropped to the bot log and spoil the count).
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
)
REFERRERS = ("", "", "https://news.example/item?id=7", "https://search.example/?q=ibex",
             "https://blog.example/post/analytics")
SCREENS = ("1920x1080", "1366x768", "390x844", "2560x1440")
PATHS = [f"/soak/page-{n}" for n in range(300)]
PATH_WEIGHTS = [1 / (n + 1) for n in range(300)]  # a few popular pages, a long tail
VISITOR_REQUESTS = 40  # a visitor (source address + browser) sends this many, then leaves


@dataclass(frozen=True)
class Kind:
    """One kind of traffic: ``rate`` requests per second over ``threads`` paced threads."""
    name: str
    rate: float
    threads: int
    tracking: bool = True


KINDS = (
    Kind("goatcounter /count", 80, 3),
    Kind("goatcounter /api/v0/count", 4, 1),   # 10 hits per request
    Kind("umami /api/collect", 60, 3),
    Kind("basic /collect", 60, 3),
    Kind("dashboard", 1 / 3, 1, tracking=False),  # a whole dashboard every 3 s
    Kind("goatcounter stats", 2, 1, tracking=False),
    Kind("umami stats", 1, 1, tracking=False),
    Kind("basic stats", 0.5, 1, tracking=False),
)
API_BATCH = 10


@dataclass
class Tally:
    """What one process saw: latencies per label, answers by status, errors, hits answered."""
    latencies: dict = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    hits: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, label, started, status=None, error=None, hits=0):
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies.setdefault(label, []).append(elapsed)
            if error is not None:
                self.errors[f"{label}: {error}"] += 1
            else:
                self.statuses[f"{label} {status}"] += 1
            if hits:
                self.hits[label] += hits

    def plain(self):
        return {"latencies": self.latencies, "statuses": dict(self.statuses),
                "errors": dict(self.errors), "hits": dict(self.hits)}


class Visitors:
    """A thread's visitors: each a source address in 127/8 and a browser, replaced after
    VISITOR_REQUESTS requests (a new keep-alive connection, a new session)."""

    def __init__(self, config, rng, count=8):
        self.config, self.rng, self.slots = config, rng, [None] * count

    def pick(self):
        index = self.rng.randrange(len(self.slots))
        slot = self.slots[index]
        if slot is None or slot[1] >= VISITOR_REQUESTS:
            if slot is not None:
                slot[0].close()
            number = self.rng.randrange(1, 2 ** 24 - 1)
            source = f"127.{number >> 16}.{(number >> 8) & 255}.{number & 255 or 1}"
            client = Client(self.config["port"], source=source, host=self.config["domain"],
                            user_agent=self.rng.choice(USER_AGENTS))
            slot = self.slots[index] = [client, 0, f"10.{number >> 16}.{(number >> 8) & 255}."
                                                   f"{number & 255 or 1}"]
        slot[1] += 1
        return slot[0], slot[2]

    def close(self):
        for slot in self.slots:
            if slot is not None:
                slot[0].close()


def timed(tally, label, send, hits=0, ok=(200,)):
    """Run ``send()`` (returns an Answer), record it; True when its status is in ``ok``."""
    started = time.perf_counter()
    try:
        answer = send()
    except Exception as exc:  # noqa: BLE001 - a failed request is a result, not a crash
        tally.record(label, started, error=type(exc).__name__)
        return None
    tally.record(label, started, answer.status, hits=hits if answer.status in ok else 0)
    return answer


# --- tracking --------------------------------------------------------------------------------

def goatcounter_count(tally, visitors, rng, config):
    client, _ = visitors.pick()
    query = urllib.parse.urlencode({"p": rng.choices(PATHS, PATH_WEIGHTS)[0], "t": "Soak page",
                                    "r": rng.choice(REFERRERS), "s": "1920"})
    timed(tally, "goatcounter /count", lambda: client.request("GET", f"/count?{query}"), hits=1)


def goatcounter_api(tally, visitors, rng, config):
    client, _ = visitors.pick()
    hits = []
    for _ in range(API_BATCH):
        _, ip = visitors.pick()
        hits.append({"path": rng.choices(PATHS, PATH_WEIGHTS)[0], "ref": rng.choice(REFERRERS),
                     "user_agent": rng.choice(USER_AGENTS), "ip": ip})
    timed(tally, "goatcounter /api/v0/count", lambda: client.request(
        "POST", "/api/v0/count", json_body={"hits": hits},
        headers={"Authorization": f"Bearer {config['token']}"}), hits=len(hits), ok=(202,))


def umami_collect(tally, visitors, rng, config):
    client, _ = visitors.pick()
    payload = {"website": config["uuid"], "url": rng.choices(PATHS, PATH_WEIGHTS)[0],
               "referrer": rng.choice(REFERRERS), "hostname": config["domain"],
               "language": "en-US", "screen": rng.choice(SCREENS)}
    timed(tally, "umami /api/collect", lambda: client.request(
        "POST", "/api/collect", json_body={"type": "pageview", "payload": payload}), hits=1)


def basic_collect(tally, visitors, rng, config):
    client, _ = visitors.pick()
    body = {"path": rng.choices(PATHS, PATH_WEIGHTS)[0], "referrer": rng.choice(REFERRERS),
            "screen": rng.choice(SCREENS)}
    timed(tally, "basic /collect", lambda: client.request(
        "POST", "/collect", json_body=body,
        headers={"Origin": f"https://{config['domain']}"}), hits=1, ok=(204,))


# --- reads -----------------------------------------------------------------------------------

class Reader:
    """A logged-in user (form login for the dashboard, the API token, a Umami login)."""

    def __init__(self, config):
        self.config = config
        self.client = Client(config["port"], source="127.0.0.2", host=config["domain"])
        self.umami_token = None
        self.widget_clients = threading.local()
        self.pool = None

    def dashboard(self, tally, rng):
        """The page, then every widget it names, all at once (as HTTP/2 lets a browser)."""
        if self.pool is None:
            self.client.login(self.config["username"], self.config["password"])
            self.pool = ThreadPoolExecutor(max_workers=16)
        started = time.perf_counter()
        page = timed(tally, "dashboard page", lambda: self.client.request(
            "GET", f"/sites/{self.config['site_id']}/dashboard?period=week"))
        if page is None or page.status != 200:
            return
        urls = [url.replace("&amp;", "&") for url in
                WIDGET_URL.findall(page.body.decode("utf-8", "replace"))]
        list(self.pool.map(lambda url: self._widget(tally, url), urls))
        tally.record("dashboard: page and all widgets", started, 200)

    def _widget(self, tally, url):
        client = getattr(self.widget_clients, "client", None)
        if client is None:
            client = self.widget_clients.client = Client(
                self.config["port"], source="127.0.0.2", host=self.config["domain"])
        client.cookies = dict(self.client.cookies)
        key = url.split("/widgets/", 1)[1].split("?", 1)[0]
        answer = timed(tally, f"widget {key}", lambda: client.request("GET", url))
        if answer is not None and answer.status == 200 and b"state-error" in answer.body:
            tally.errors[f"widget {key}: error state"] += 1

    def goatcounter_stats(self, tally, rng):
        auth = {"Authorization": f"Bearer {self.config['token']}"}
        path = rng.choice(("/api/v0/stats/total", "/api/v0/stats/hits?limit=10"))
        timed(tally, f"goatcounter {path.split('?')[0]}",
              lambda: self.client.request("GET", path, headers=auth))

    def umami_stats(self, tally, rng):
        if self.umami_token is None:
            answer = self.client.request("POST", "/api/auth/login", json_body={
                "username": self.config["username"], "password": self.config["password"]})
            self.umami_token = answer.json()["token"]
        now = int(time.time() * 1000)
        path = (f"/api/website/{self.config['site_id']}/stats?start_at={now - 86_400_000}"
                f"&end_at={now}")
        timed(tally, "umami /api/website/{id}/stats", lambda: self.client.request(
            "GET", path, headers={"Authorization": f"Bearer {self.umami_token}"}))

    def basic_stats(self, tally, rng):
        timed(tally, "basic /api/stats", lambda: self.client.request(
            "GET", "/api/stats?last=24h", headers={"Authorization":
                                                   f"Bearer {self.config['token']}"}))


WIDGET_URL = re.compile(r'hx-get="([^"]+)"\s+hx-trigger="load"')
SENDERS = {"goatcounter /count": goatcounter_count, "goatcounter /api/v0/count": goatcounter_api,
           "umami /api/collect": umami_collect, "basic /collect": basic_collect}
READS = {"dashboard": "dashboard", "goatcounter stats": "goatcounter_stats",
         "umami stats": "umami_stats", "basic stats": "basic_stats"}


# --- a process of one kind ---------------------------------------------------------------------

def run_kind(kind, config, start_at, seconds, results):
    """Child process: ``kind.threads`` paced threads from ``start_at`` (time.time()) for
    ``seconds``; puts {"kind", "tally", "cpu_seconds", "crash"} on ``results``."""
    tally, crashes = Tally(), []
    threads = [threading.Thread(target=_paced, args=(kind, config, start_at, seconds, n, tally,
                                                     crashes)) for n in range(kind.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put({"kind": kind.name, "tally": tally.plain(), "cpu_seconds": time.process_time(),
                 "crash": crashes})


def _paced(kind, config, start_at, seconds, number, tally, crashes):
    rng = random.Random(f"{config['seed']}-{kind.name}-{number}")
    interval = kind.threads / kind.rate
    visitors = Visitors(config, rng) if kind.tracking else None
    reader = None if kind.tracking else Reader(config)
    send = SENDERS.get(kind.name)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        began = time.monotonic()
        deadline, next_at = began + seconds, began + interval * number / kind.threads
        while True:
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            if time.monotonic() >= deadline:
                break
            # Behind schedule (a slow answer): catch up by at most a second's worth.
            next_at = max(next_at + interval, time.monotonic() - 1.0)
            if send is not None:
                send(tally, visitors, rng, config)
            else:
                getattr(reader, READS[kind.name])(tally, rng)
    except Exception:  # noqa: BLE001 - reported by the parent, which fails the run
        crashes.append(traceback.format_exc())
    finally:
        if visitors is not None:
            visitors.close()
        if reader is not None:
            reader.client.close()
            if reader.pool is not None:
                reader.pool.shutdown()
