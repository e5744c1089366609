"""A year of a website's traffic, deterministic from a seed, as HitIn records in time order built
by the hot path's own payload code (GoatCounter /count and Umami /api/collect): Zipf-popular
paths that appear over the year, visits of several pageviews, returning visitors, events,
referrers and campaigns, real User-Agents whose versions move with the calendar, GeoIP-placed
visitor addresses, languages and screens that fit them, and a daily and weekly rhythm."""
import bisect
import ipaddress
import itertools
import math
import random
from collections import deque
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from werkzeug.datastructures import MultiDict

from bench.stats.agents import (CAMPAIGNS, COUNTRIES, EVENTS, LANGUAGE_OF, SEARCH, SOCIAL,
                                WORDS, pick_agent, screen_for)

MAIN, SECOND = 0, 1
SITES = ("stats.bench.example", "docs.stats.bench.example")
SECOND_SHARE = 0.05            # the second site gets this many extra hits (the main one: all)
BOUNCE = 0.42                  # visits of one pageview
EVENT_RATE = 0.03              # an event follows this share of pageviews
RETURNING = 0.22               # visits by a visitor seen before (same User-Agent)
SAME_IP = 0.6                  # ... of which from the same address (same session within 8 h)
UMAMI_SHARE = 0.2              # visits tracked by umami.js instead of count.js
BOT_RATE = 0.01                # extra hits by crawlers (dropped by the persister)
# UTC hour weights: Europe's afternoon and America's morning overlap around 14–16 h.
HOURS = (22, 16, 12, 10, 10, 13, 20, 32, 45, 55, 60, 63, 66, 70, 76, 80, 78, 70, 62, 56, 50,
         44, 36, 28)
WEEKDAYS = (1.0, 1.05, 1.05, 1.0, 0.92, 0.62, 0.68)   # Monday first
BOTS = ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.0 Safari/537.36")


class Traffic:
    """``pageviews`` human hits (pageviews and events) on the main site over ``days`` days
    ending at ``end`` (a UTC date, exclusive), plus SECOND_SHARE as many on a second site and
    BOT_RATE crawler hits. ``hits()`` yields (site index, HitIn) with site_id 0, in time order
    (within a day; a visit may run past midnight)."""

    def __init__(self, pageviews, seed=2026, days=365, end=None, ip_samples=None):
        self.pageviews, self.seed, self.days = pageviews, seed, days
        end = end or datetime.now(timezone.utc).date()
        self.end = datetime(end.year, end.month, end.day)
        self.start = self.end - timedelta(days=days)
        rng = random.Random(seed)
        self.paths = [_site_paths(rng, max(200, int(pageviews ** 0.62)), days),
                      _site_paths(rng, 120, days, docs=True)]
        self.weights = [_cumulative([1 / (rank + 1) ** 1.05 for rank in range(len(p))])
                        for p in self.paths]
        self.tail_refs = max(300, int(pageviews ** 0.55))
        self.addresses = _address_pool(rng, ip_samples or min(150_000, max(4_000, pageviews // 8)))
        self.day_shares = _day_shares(rng, days, self.start)
        self.spikes = {rng.randrange(days): rng.randrange(len(self.paths[MAIN]) // 3)
                       for _ in range(max(1, days // 60))}
        self.counts = {"pageviews": 0, "events": 0, "bots": 0, "visits": 0, "returning": 0,
                       "umami": 0, "second site": 0}

    def describe(self):
        return {"seed": self.seed, "start": self.start.date().isoformat(),
                "end": self.end.date().isoformat(), "days": self.days,
                "paths": [len(p) for p in self.paths], "referrer_domains": self.tail_refs,
                "address_countries": len(self.addresses), **self.counts}

    def slice_days(self, index, count):
        """Days [first, last) of slice ``index`` of ``count`` with about equal hits."""
        bounds, total, running = [0], sum(self.day_shares), 0.0
        for day, share in enumerate(self.day_shares):
            running += share
            if len(bounds) < count and running >= total * len(bounds) / count:
                bounds.append(day + 1)
        bounds += [self.days] * (count + 1 - len(bounds))
        return bounds[index], bounds[index + 1]

    def hits(self, days=None):
        """Every hit, day by day; deterministic for a given seed (and GeoIP database).
        ``days``: (first, last) yields only those days' hits, the same ones as a full run
        (the days before are drawn but not built, so the random sequence is the same)."""
        from app.tracking import payloads as builder
        first, last = days or (0, self.days)
        rng = random.Random(self.seed + 1)
        recent = deque(maxlen=50_000)     # visitors who may come back
        hour_weights = _cumulative(HOURS)
        budgets = [_split(self.pageviews, self.day_shares),
                   _split(round(self.pageviews * SECOND_SHARE), self.day_shares)]
        for day in range(min(last, self.days)):
            date = self.start + timedelta(days=day)
            payloads = builder if day >= first else None
            todays = []
            for site in (MAIN, SECOND):
                left = budgets[site][day]
                while left > 0:
                    visitor = self._visitor(rng, recent, date)
                    at = date + timedelta(hours=bisect.bisect(hour_weights, rng.random()
                                                              * hour_weights[-1]),
                                          seconds=rng.random() * 3600)
                    visit = self._visit(rng, payloads, site, day, visitor, at, left)
                    left -= len(visit)
                    todays.extend(visit)
                    self.counts["visits"] += 1
                    if site == SECOND:
                        self.counts["second site"] += len(visit)
            for _ in range(round(len(todays) * BOT_RATE)):
                todays.append(self._bot(rng, payloads, date))
            if payloads is None:
                continue
            todays.sort(key=lambda item: item[1].created_at)
            yield from todays

    # --- one visit -------------------------------------------------------------------------

    def _visitor(self, rng, recent, date):
        if recent and rng.random() < RETURNING:
            self.counts["returning"] += 1
            agent, address, country, screen, language = rng.choice(recent)
            if rng.random() >= SAME_IP:
                address = self._address(rng, country)
            return agent, address, country, screen, language
        country = rng.choices(COUNTRIES, cum_weights=_COUNTRY_WEIGHTS)[0][0]
        agent, mobile = pick_agent(rng, (date - self.start).days / 30.4)
        language = LANGUAGE_OF.get(country, "en-US,en;q=0.9") if rng.random() < 0.75 else \
            rng.choice(("en-US,en;q=0.9", "en-GB,en;q=0.8", "", "en"))
        visitor = (agent, self._address(rng, country), country, screen_for(rng, mobile), language)
        recent.append(visitor)
        return visitor

    def _address(self, rng, country):
        pool = self.addresses.get(country) or self.addresses["*"]
        base = rng.choice(pool)
        if base.version == 4:
            return str(base + rng.randrange(1, 255))
        return str(base + rng.getrandbits(64))

    def _visit(self, rng, payloads, site, day, visitor, at, left):
        agent, address, _country, screen, language = visitor
        umami = rng.random() < UMAMI_SHARE
        count = 1 if rng.random() < BOUNCE else 2 + int(rng.expovariate(1 / 2.3))
        count = min(count, left)
        referrer, query = self._arrival(rng, at)
        spike = self.spikes.get(day) if site == MAIN else None
        if spike is not None and rng.random() < 0.35:   # a day on a link aggregator's front page
            path, referrer, query = self.paths[MAIN][spike], \
                f"https://news.ycombinator.com/item?id={40_000_000 + day}", ""
        else:
            path = self._path(rng, site, day)
        out = []
        for n in range(count):
            if n:
                at += timedelta(seconds=min(1800, 5 + rng.expovariate(1 / 55)))
                roll = rng.random()
                if roll < 0.07:
                    pass                                   # a reload: same path again
                elif roll < 0.3:
                    path = self.paths[site][rng.randrange(min(6, len(self.paths[site])))]
                else:
                    path = self._path(rng, site, day)
            first = n == 0
            out.append((site, self._pageview(payloads, site, umami, path, agent, address, screen,
                                             language, referrer if first else "",
                                             query if first else "", at)))
            self.counts["pageviews"] += 1
            if len(out) < left and rng.random() < EVENT_RATE:
                name, kind = rng.choice(EVENTS)
                at += timedelta(seconds=1 + rng.random() * 20)
                out.append((site, self._event(payloads, site, umami, path, name, kind, agent,
                                              address, screen, language, at)))
                self.counts["events"] += 1
            if len(out) >= left:
                break
        if umami:
            self.counts["umami"] += len(out)
        return out

    def _path(self, rng, site, day):
        paths, weights = self.paths[site], self.weights[site]
        while True:   # a post not yet published is not visited: draw again
            path, published = paths[bisect.bisect(weights, rng.random() * weights[-1])]
            if published <= day:
                return path, published

    def _arrival(self, rng, at):
        """(referrer, query) of a visit's first pageview."""
        roll = rng.random()
        if roll < 0.40:
            return "", ""
        if roll < 0.68:
            return rng.choice(SEARCH), ""
        if roll < 0.80:
            return rng.choice(SOCIAL).format(code=f"{rng.getrandbits(36):x}",
                                             n=rng.randint(30_000_000, 42_000_000)), ""
        if roll < 0.94:
            rank = min(int(rng.paretovariate(0.9)), self.tail_refs)
            return (f"https://{WORDS[rank % len(WORDS)]}-{rank}.example.org/"
                    f"{'posts' if rank % 3 else 'notes'}/{rng.randrange(1, 40)}"), ""
        source, medium, campaign = rng.choice(CAMPAIGNS)
        month = at.strftime("%Y-%m")
        query = f"?utm_source={source}&utm_medium={medium}&utm_campaign={campaign.format(month=month)}"
        return rng.choice(("", "", "https://mail.google.com/")), query

    # --- payloads --------------------------------------------------------------------------

    @staticmethod
    def _pageview(payloads, site, umami, path, agent, address, screen, language, referrer,
                  query, at):
        path, _published = path
        if payloads is None:   # a day drawn but not built
            return None
        if umami:
            hit = payloads.umami_hit("pageview", {
                "website": "x", "hostname": SITES[site], "screen": f"{screen[0]}x{screen[1]}",
                "language": language.split(",")[0], "url": path + query, "referrer": referrer},
                0, agent, address)
        else:
            hit = payloads.goatcounter_count(MultiDict({
                "p": path, "t": title(path), "s": f"{screen[0]},{screen[1]},{screen[2]}",
                "r": referrer, "q": query, "b": "0"}), 0, agent, address, language)
        return replace(hit, created_at=at.replace(tzinfo=timezone.utc).timestamp())

    @staticmethod
    def _event(payloads, site, umami, path, name, kind, agent, address, screen, language, at):
        if payloads is None:
            return None
        if umami:
            hit = payloads.umami_hit("event", {
                "website": "x", "hostname": SITES[site], "screen": f"{screen[0]}x{screen[1]}",
                "language": language.split(",")[0], "url": path[0], "event_type": kind,
                "event_value": name}, 0, agent, address)
        else:
            hit = payloads.goatcounter_count(MultiDict({
                "p": name, "t": f"{kind}: {name}", "e": "true", "b": "0"}), 0, agent, address,
                language)
        return replace(hit, created_at=at.replace(tzinfo=timezone.utc).timestamp())

    def _bot(self, rng, payloads, date):
        self.counts["bots"] += 1
        at = date + timedelta(seconds=rng.random() * 86400)
        path, _ = self._path(rng, MAIN, (date - self.start).days)
        agent, address = rng.choice(BOTS), self._address(rng, "US")
        if payloads is None:
            return MAIN, None
        hit = payloads.goatcounter_count(MultiDict({"p": path, "b": "0"}), 0, agent, address, "")
        return MAIN, replace(hit, created_at=at.replace(tzinfo=timezone.utc).timestamp())


_COUNTRY_WEIGHTS = list(itertools.accumulate(weight for _, weight in COUNTRIES))


def title(path):
    words = path.strip("/").split("/")[-1].replace("-", " ")
    return (words.capitalize() or "Home") + " — Stats Bench"


def _cumulative(weights):
    return list(itertools.accumulate(weights))


def _site_paths(rng, count, days, docs=False):
    """(path, day it was published) by popularity rank: a few fixed pages, then posts or docs;
    about a third of the posts appear during the year (a blog keeps publishing)."""
    fixed = ["/", "/blog", "/pricing", "/about", "/features", "/contact", "/changelog"]
    if docs:
        fixed = ["/", "/install", "/configuration", "/api"]
    sections = ("guide", "api", "reference", "faq") if docs else ("blog", "blog", "blog", "notes")
    out, seen = [(path, 0) for path in fixed], set(fixed)
    while len(out) < count:
        slug = "-".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5)))
        path = f"/{rng.choice(sections)}/{slug}"
        if path in seen:
            continue
        seen.add(path)
        out.append((path, rng.randrange(days) if rng.random() < 0.35 else 0))
    return out


def _day_shares(rng, days, start):
    """Each day's share of the year: growth, the week's rhythm, noise, a quiet Christmas."""
    shares = []
    for day in range(days):
        date = start + timedelta(days=day)
        share = (0.7 + 0.6 * day / days) * WEEKDAYS[date.weekday()] * math.exp(rng.gauss(0, 0.12))
        if date.month == 12 and date.day >= 23 or date.month == 1 and date.day == 1:
            share *= 0.55
        shares.append(share)
    return shares


def _split(total, shares):
    """``total`` as whole numbers in proportion to ``shares`` (exactly ``total`` in all)."""
    scale = total / sum(shares)
    running, out = 0, []
    for cumulative in itertools.accumulate(share * scale for share in shares):
        value = round(cumulative) - running
        out.append(value)
        running += value
    return out


def _address_pool(rng, samples):
    """Public, GeoIP-placed, non-cloud /24 (IPv4) and /64 (IPv6) bases by country ("*": all)
    from ``samples`` random draws; a visitor gets a host in one of its country's."""
    from app.ingest import cloud
    from app.ingest.geo import geo_for
    geo = geo_for(None)
    pool = {"*": []}
    for n in range(samples):
        if n % 8 == 7:
            base = ipaddress.IPv6Address(((0x2a00 | rng.getrandbits(4)) << 112
                                          | rng.getrandbits(48) << 64))
        else:
            base = ipaddress.IPv4Address(rng.getrandbits(24) << 8)
        if not base.is_global or base.is_multicast:
            continue
        probe = str(base + 1)
        info = geo.lookup(probe)
        if not info.country or cloud.bot_code(probe):
            continue
        pool.setdefault(info.country, []).append(base)
        pool["*"].append(base)
    return pool
