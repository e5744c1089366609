"""An Ibex installation's data written straight into the schema of any migration revision, for
tests/test_migrations_upgrade.py: the dataset (users, sites, tokens, dimension rows, a few hundred
hits in sessions over five months, the rollups and visits those hits make, the bot log, exports,
imports), the writing of it into the tables as reflected at a revision, and snapshots of every
table to compare before and after a migration.

The dataset names every table and column Ibex has had; a table or column a revision lacks is
left out, and one the dataset does not know (a future migration's) gets generic values by its
type, so populating keeps working as the schema grows. Give a new column a deliberate value
here when the statistics depend on it."""
import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
START, END = datetime(2026, 6, 1), datetime(2026, 10, 31, 23, 59, 59)  # every hit is in here
TOKEN_SECRET = "migrationtest0secret0of0an0all0permission0token"
ROLLUPS = ("hit_counts", "ref_counts", "browser_stats", "system_stats", "location_stats",
           "size_stats", "language_stats", "campaign_stats", "visits", "site_hours", "site_stats",
           "visit_hours")
# Per-path daily rollups: the hit column each counts (first visits only).
_DAILY = (("browser_stats", "browser_id"), ("system_stats", "system_id"),
          ("location_stats", "location"), ("size_stats", "width"), ("language_stats", "language"))
# site_stats kinds and the hit column each counts; b, s and c only when the hit has one.
_SITE_KINDS = (("p", "path_id"), ("r", "ref_id"), ("b", "browser_id"), ("s", "system_id"),
               ("l", "location"), ("z", "width"), ("g", "language"), ("c", "campaign_id"))


def revisions():
    """The migration history's revision ids, oldest first (one head, no branches)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, "the migration history has more than one head"
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


# --- the dataset -------------------------------------------------------------------------------

_USER_SETTINGS = {"twenty_four_hours": True, "sunday_starts_week": False, "language": "en-GB",
                  "date_format": "2 Jan ’06", "number_format": 8239, "timezone": ".UTC",
                  "widgets": [], "email_reports": 0, "fewer_numbers": False, "theme": "",
                  "views": [{"name": "default", "filter": "", "group": 0, "period": "week"}]}
_SITE_SETTINGS = {"public": "private", "secret": "", "allow_counter": False,
                  "allow_bosmang": False, "data_retention": 0, "collect": 190,
                  "collect_regions": ["US", "RU", "CN"], "allow_embed": [],
                  "ip_mode": "anonymised", "dnt": False}
# (browser id, system id, umami browser, umami os, device, screen, width): one per visitor kind;
# the last is a hit without a User-Agent or screen (the count API, collect flags off).
_PROFILES = ((1, 1, "firefox", "Linux", "desktop", "1920x1080", 1920),
             (2, 2, "chrome", "Windows 10", "laptop", "1366x768", 1366),
             (3, 3, "ios", "iOS", "mobile", "390x844", 390),
             (None, None, None, None, None, None, None))
# (location, city id, language, BCP 47 tag)
_PLACES = (("NL", 2, "nld", "nl-NL"), ("US-TX", 1, "eng", "en-US"), ("DE-BE", None, "deu", "de"),
           ("", None, "", None))
_PAGES = {1: [1, 2, 3, 4, 5, 6], 2: [9, 10]}      # pageview path ids per site
_EVENTS = {1: [7, 8], 2: [11]}                     # event path ids per site
_IPS = {1: "192.0.2.0", 2: "198.51.100.7"}          # site 1 anonymises, site 2 keeps full IPs


@dataclass
class Dataset:
    rows: dict  # table name -> list of row dicts (a superset of any revision's columns)

    def hits(self, site_id):
        return [hit for hit in self.rows["hits"] if hit["site_id"] == site_id]

    def is_event(self, hit):
        return self._events[hit["path_id"]]

    @cached_property
    def _events(self):
        return {path["id"]: path["event"] for path in self.rows["paths"]}

    def first_visits(self, site_id, events=None):
        """Hits that are first visits (GoatCounter's visitors); ``events`` True/False: only
        those on event paths / page paths."""
        return sum(1 for hit in self.hits(site_id) if hit["first_visit"]
                   and (events is None or self.is_event(hit) == events))

    def first_visits_per_path(self, site_id):
        return dict(Counter(hit["path_id"] for hit in self.hits(site_id) if hit["first_visit"]))

    def umami_summary(self, site_id):
        """Umami's summary from the raw hits: pageviews are hits on page paths; a visit is a
        session within one UTC hour (a hit without a session is a visit of its own)."""
        visits, sessions, sessionless = defaultdict(list), set(), 0
        for n, hit in enumerate(self.hits(site_id)):
            if self.is_event(hit):
                continue
            session = hit["session_id"]
            if session is None:
                sessionless += 1
            else:
                sessions.add(session)
            visits[(session or -n - 1, _hour(hit["created_at"]))].append(hit["created_at"])
        return {"pageviews": sum(len(times) for times in visits.values()),
                "uniques": len(sessions) + sessionless,
                "bounces": sum(1 for times in visits.values() if len(times) == 1),
                "totaltime": sum(int((max(t) - min(t)).total_seconds()) for t in visits.values())}


def build(seed=20261130):
    """The dataset; the same for the same seed."""
    rng = random.Random(seed)
    rows = _accounts() | _dimensions()
    rows["hits"], rows["visitor_sessions"] = _hits(rng)
    for site in rows["sites"]:
        times = [hit["created_at"] for hit in rows["hits"] if hit["site_id"] == site["id"]]
        site["first_hit_at"] = min(times, default=site["created_at"])
        site["received_data"] = bool(times)
    rows.update(rollups(rows))
    rows.update(_records(rng, rows["hits"]))
    return Dataset(rows)


def _accounts():
    def user(id_, name, role, email):
        return {"id": id_, "username": name, "email": email, "role": role,
                "password_hash": f"$argon2id$v=19$m=65536,t=3,p=4${name}salt${name}hash",
                "session_token": hashlib.sha256(name.encode()).hexdigest()[:43],
                "settings": _USER_SETTINGS, "created_at": datetime(2026, 5, 20, 9, id_),
                "updated_at": None, "login_at": datetime(2026, 10, 30, 8, id_)}

    def site(id_, code, cname, owner, parent=None, ip_mode="anonymised"):
        return {"id": id_, "uuid": f"5e1f0000-0000-4000-8000-00000000000{id_}", "code": code,
                "cname": cname, "cname_setup_at": datetime(2026, 5, 21) if cname else None,
                "link_domain": cname or "", "name": code.title(), "parent_id": parent,
                "owner_id": owner, "share_id": f"share-{code}" if id_ == 1 else None,
                "settings": _SITE_SETTINGS | {"ip_mode": ip_mode}, "user_defaults": {},
                "state": "a", "created_at": datetime(2026, 5, 20, 10, id_),
                "updated_at": datetime(2026, 9, 1) if id_ == 1 else None}

    def token(id_, user_id, name, permissions, sites, secret, revoked=None):
        return {"id": id_, "user_id": user_id, "name": name, "permissions": permissions,
                "sites": sites, "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
                "prefix": secret[:6], "created_at": datetime(2026, 5, 22, id_),
                "last_used_at": datetime(2026, 10, 31, 7), "revoked_at": revoked}

    return {
        "users": [user(1, "alice", "a", "alice@example.org"), user(2, "root", "*", None),
                  user(3, "reader", "r", "reader@example.org")],
        "sites": [site(1, "example", "example.com", 1), site(2, "blog", "blog.example.org", 2,
                                                              ip_mode="full"),
                  site(3, "docs", None, 1, parent=1)],
        "api_tokens": [token(1, 1, "dashboard script", 126, [1], TOKEN_SECRET),
                       token(2, 2, "old counter", 2, [-1], "revoked0secret",
                             revoked=datetime(2026, 8, 1))],
        "umami_login_tokens": [{"id": 1, "user_id": 1, "user_stamp": "f" * 64,
                                "token_hash": hashlib.sha256(b"umami login").hexdigest(),
                                "created_at": datetime(2026, 10, 30, 8, 1),
                                "expires_at": datetime(2027, 10, 30, 8, 1)}],
        "app_state": [{"key": "setup", "value": {}, "created_at": datetime(2026, 5, 20, 9)},
                      {"key": "bootstrap-token", "value": {"user_id": 1},
                       "created_at": datetime(2026, 5, 22)}],
        "ignored_ips": [{"id": 1, "site_id": None, "network": "203.0.113.0/24",
                         "created_at": datetime(2026, 6, 2)},
                        {"id": 2, "site_id": 1, "network": "192.0.2.55/32",
                         "created_at": datetime(2026, 6, 3)}],
    }


def _dimensions():
    def path(id_, site, name, event=False, title=""):
        return {"id": id_, "site_id": site, "path": name, "path_key": name.lower(),
                "title": title, "event": event}

    def named(id_, name, version):
        return {"id": id_, "name": name, "version": version}

    return {
        "paths": [path(1, 1, "/", title="Example"), path(2, 1, "/about", title="About us"),
                  path(3, 1, "/blog/post-1", title="First post"), path(4, 1, "/blog/post-2"),
                  path(5, 1, "/pricing", title="Pricing"), path(6, 1, "/Contact"),
                  path(7, 1, "signup-click", event=True), path(8, 1, "download", event=True),
                  path(9, 2, "/", title="Blog"), path(10, 2, "/2026/10/hello", title="Hello"),
                  path(11, 2, "subscribe", event=True)],
        "refs": [{"id": id_, "ref": ref, "ref_key": ref.lower(), "ref_scheme": scheme}
                 for id_, ref, scheme in ((1, "", "o"), (2, "news.ycombinator.com/item", "h"),
                                          (3, "Google", "g"), (4, "newsletter", "c"),
                                          (5, "android-app://com.Slack", "o"))],
        "urls": [{"id": 1, "url": "https://blog.example.org/"},
                 {"id": 2, "url": "https://blog.example.org/2026/10/hello"},
                 {"id": 3, "url": "https://news.ycombinator.com/item?id=1"}],
        "browsers": [named(1, "Firefox", "128"), named(2, "Chrome", "126"),
                     named(3, "Safari", "17.5")],
        "systems": [named(1, "Linux", ""), named(2, "Windows", "10"), named(3, "iOS", "17.5")],
        # city: a column of release 0001 only, which nothing wrote (its default, "").
        "locations": [{"code": code, "country": code[:2], "region": code[3:], "city": "",
                       "country_name": country, "region_name": region}
                      for code, country, region in (("", "", ""), ("NL", "Netherlands", ""),
                                                    ("US-TX", "United States", "Texas"),
                                                    ("DE-BE", "Germany", "Berlin"))],
        "cities": [{"id": 1, "location": "US-TX", "name": "Austin"},
                   {"id": 2, "location": "NL", "name": "Amsterdam"}],
        "languages": [{"iso_639_3": code, "name": name} for code, name in (
            ("", ""), ("eng", "English"), ("nld", "Dutch"), ("deu", "German"))],
        "campaigns": [{"id": 1, "site_id": 1, "name": "Autumn-Sale", "name_key": "autumn-sale"}],
    }


def _hits(rng):
    """Hits of 90 visitor sessions (1–6 hits each, seconds to half an hour apart, so some
    visits span two UTC hours) and 30 hits without a session; ids in time order."""
    hits, sessions = [], []
    span = int((END - START).total_seconds()) - 4 * 3600
    for n in range(90):
        site = 2 if n % 5 == 0 else 1
        browser, system, ubrowser, uos, device, screen, width = rng.choice(_PROFILES)
        location, city, language, tag = rng.choice(_PLACES)
        at = START + timedelta(seconds=rng.randrange(span))
        campaign = site == 1 and n % 11 == 0
        seen, times = set(), []
        for step in range(rng.randint(1, 6)):
            path = rng.choice(_EVENTS[site] if rng.random() < 0.15 else _PAGES[site])
            ref = (4 if campaign else rng.choice((1, 2, 3, 5))) if step == 0 else 1
            hits.append(_hit(site, path, at, ref, session=n + 1, first=path not in seen,
                             browser=browser, system=system, width=width, location=location,
                             city=city, language=language, campaign=1 if campaign and step == 0
                             else None))
            seen.add(path)
            times.append(at)
            at += timedelta(seconds=rng.randint(5, 1800))
        sessions.append({"id": n + 1, "uuid": rng.randbytes(16), "site_id": site,
                         "browser_id": browser, "system_id": system, "umami_browser": ubrowser,
                         "umami_os": uos, "device": device, "screen": screen, "language": tag,
                         "location": location or None,
                         "hostname": "blog.example.org" if site == 2 else "example.com",
                         "first_seen": min(times), "last_seen": max(times)})
    for _ in range(30):  # GoatCounter's no_sessions: each hit is a visit of its own
        site = rng.choice((1, 1, 2))
        path = rng.choice(_PAGES[site] + _EVENTS[site])
        hits.append(_hit(site, path, START + timedelta(seconds=rng.randrange(span)), 1,
                         session=None, first=True, browser=None, system=None, width=None,
                         location="", city=None, language="", campaign=None))
    hits.sort(key=lambda hit: hit["created_at"])
    for id_, hit in enumerate(hits, start=1):
        hit["id"] = id_
    return hits, sessions


def _hit(site, path, at, ref, session, first, browser, system, width, location, city, language,
         campaign):
    event = path in _EVENTS[site]
    return {"site_id": site, "path_id": path, "ref_id": ref,
            "url_id": (1 if path == 9 else 2) if site == 2 and not event else None,
            "referrer_url_id": 3 if ref == 2 else None, "session_id": session,
            "first_visit": first, "browser_id": browser, "system_id": system,
            "campaign_id": campaign, "event_type": "click" if event and site == 2 else None,
            "width": width, "location": location, "city_id": city, "language": language,
            "ip": _IPS[site] if session else None, "created_at": at}


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def rollups(rows):
    """Every rollup and the visits, as the definitions say (models/rollups.py): hour tables
    count first visits as visitors and every hit as a pageview; day tables count first visits;
    visits are session × UTC hour over page paths; site_stats has a day and a month row."""
    event = {path["id"]: path["event"] for path in rows["paths"]}
    ref_text = {ref["id"]: ref["ref"] for ref in rows["refs"]}
    counts = {name: Counter() for name in ROLLUPS}
    visits = {}
    for hit in rows["hits"]:
        site, path, first = hit["site_id"], hit["path_id"], int(hit["first_visit"])
        hour, day = _hour(hit["created_at"]), hit["created_at"].date()
        for key in ((site, path, hour), (site, path, hit["ref_id"], hour)):
            table = "hit_counts" if len(key) == 3 else "ref_counts"
            counts[table][key + ("visitors",)] += first
            counts[table][key + ("pageviews",)] += 1
        counts["site_hours"][(site, hour, "visitors")] += first
        counts["site_hours"][(site, hour, "pageviews")] += 1
        counts["site_hours"][(site, hour, "event_visitors")] += first and event[path]
        counts["site_hours"][(site, hour, "lone_pageviews")] += (
            not hit["session_id"] and not event[path])
        if first:
            for table, column in _DAILY:
                value = hit[column] or 0 if column == "width" else hit[column]
                if value is not None:
                    counts[table][(site, path, day, value, "visitors")] += 1
            if hit["campaign_id"]:
                counts["campaign_stats"][(site, path, day, hit["campaign_id"],
                                          ref_text[hit["ref_id"]], "visitors")] += 1
            for kind, column in _SITE_KINDS:
                value = hit[column] or 0 if column == "width" else hit[column]
                if value is not None:
                    for span, period in (("d", day), ("m", day.replace(day=1))):
                        counts["site_stats"][(site, kind, span, period, str(value),
                                              "visitors")] += 1
        if hit["session_id"] and not event[path]:
            visit = visits.setdefault((hit["session_id"], hour), {
                "session_id": hit["session_id"], "hour": hour, "site_id": site, "pageviews": 0,
                "first_at": hit["created_at"], "last_at": hit["created_at"]})
            visit["pageviews"] += 1
            visit["last_at"] = max(visit["last_at"], hit["created_at"])
    keys = {"hit_counts": ("site_id", "path_id", "hour"),
            "ref_counts": ("site_id", "path_id", "ref_id", "hour"),
            "site_hours": ("site_id", "hour"),
            "campaign_stats": ("site_id", "path_id", "day", "campaign_id", "ref"),
            "site_stats": ("site_id", "kind", "span", "period", "key")}
    keys |= {table: ("site_id", "path_id", "day", column) for table, column in _DAILY}
    result = {"visits": list(visits.values()), "visit_hours": _visit_hours(visits)}
    for table, columns in keys.items():
        merged = defaultdict(dict)
        for (*key, measure), n in counts[table].items():
            merged[tuple(key)][measure] = n
        result[table] = [dict(zip(columns, key)) | measures for key, measures in merged.items()]
    return result


def _visit_hours(visits):
    """Each visit's hours since its session's previous visit (set on the visits), and Umami's
    numbers per site and hour as app/ingest/visits.py keeps them."""
    previous, hours = {}, defaultdict(Counter)
    for (session, hour), visit in sorted(visits.items()):
        before = previous.get(session)
        visit["gap_hours"] = None if before is None else int((hour - before) / timedelta(hours=1))
        previous[session] = hour
        numbers = hours[(visit["site_id"], hour)]
        numbers["pageviews"] += visit["pageviews"]
        numbers["bounces"] += visit["pageviews"] == 1
        numbers["seconds"] += int((visit["last_at"] - visit["first_at"]).total_seconds()) \
            if visit["pageviews"] > 1 else 0
        numbers["sessions"] += before is None
    return [{"site_id": site, "hour": hour, "pageviews": n["pageviews"], "bounces": n["bounces"],
             "seconds": n["seconds"], "sessions": n["sessions"]}
            for (site, hour), n in sorted(hours.items())]


def _records(rng, hits):
    """The bot log, the batch ledger, exports, imports and the imported-rows ledger."""
    bots = [(1, "bot", 3, "/", "Mozilla/5.0 (compatible; Googlebot/2.1)", ""),
            (1, "ignored-ip", 0, "/pricing", "", ""), (2, "spam", 0, "/", "", "http://spam.test/"),
            (1, "dnt", 0, "", "", ""), (None, "invalid", 0, "/x", "", "")]
    return {
        "bot_hits": [{"id": n, "site_id": site, "reason": reason, "bot": bot, "path": path,
                      "user_agent": agent, "referrer": referrer,
                      "created_at": datetime(2026, 10, 20 + n, 12)}
                     for n, (site, reason, bot, path, agent, referrer) in enumerate(bots, 1)],
        "ingest_batches": [{"id": rng.randbytes(16).hex(), "num_hits": 40 + n,
                            "persisted_at": datetime(2026, 10, 31, 12, n)} for n in range(5)],
        "exports": [{"id": 1, "site_id": 1, "user_id": 1, "format": "csv",
                     "start_from_hit_id": 0, "start_from_day": None, "last_hit_id": hits[-1]["id"],
                     "path": "1-goatcounter-export-example.csv.gz",
                     "created_at": datetime(2026, 10, 31, 9), "finished_at":
                     datetime(2026, 10, 31, 9, 1), "num_rows": len(hits), "size": "0.1",
                     "hash": "sha256-" + "0" * 64, "error": None},
                    {"id": 2, "site_id": 2, "user_id": None, "format": "json",
                     "start_from_hit_id": 0, "start_from_day": datetime(2026, 9, 1),
                     "last_hit_id": None, "path": "2-goatcounter-export-blog.zip",
                     "created_at": datetime(2026, 10, 31, 10), "finished_at": None,
                     "num_rows": None, "size": None, "hash": None, "error": "disk full"}],
        "imports": [{"id": 1, "site_id": 1, "user_id": 1, "filename": "export.csv.gz",
                     "file_hash": hashlib.sha256(b"export").hexdigest(), "path": "1-export.csv.gz",
                     "state": "done", "num_rows": 12, "num_imported": 10, "num_skipped": 2,
                     "error": None, "created_at": datetime(2026, 7, 1),
                     "finished_at": datetime(2026, 7, 1, 0, 1)}],
        "imported_hits": [{"site_id": 1, "row_key": rng.randbytes(16)} for _ in range(10)],
    }


# --- writing it into a revision's schema -------------------------------------------------------

def populate(conn, dataset):
    """Write ``dataset`` into the tables ``conn``'s database has, then move PostgreSQL's id
    sequences past the ids written (as an installation's would be). Returns the rows written
    per table."""
    metadata = sa.MetaData()
    metadata.reflect(conn)
    written = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        known = table.name in dataset.rows  # else a table of a later release: generic rows
        rows = [{k: v for k, v in row.items() if k in table.c}
                for row in dataset.rows[table.name]] if known else [{} for _ in range(3)]
        rows = [_complete(table, row, n, written) for n, row in enumerate(rows)]
        rows = [row for row in rows if row is not None]
        if rows:
            conn.execute(table.insert(), rows)
        written[table.name] = rows
    if conn.dialect.name == "postgresql":
        _advance_sequences(conn, metadata)
    return {name: len(rows) for name, rows in written.items()}


def _complete(table, row, n, written):
    """``row`` with a value for every column it lacks: the same referenced row for each
    foreign key, else a value of the column's type unique to ``n``. None when a required
    foreign key has nothing to point at."""
    row = dict(row)
    for fk in table.foreign_key_constraints:
        missing = [c for c in fk.columns if c.name not in row]
        if not missing:
            continue
        targets = written.get(fk.referred_table.name) or []
        if not targets:
            if any(not c.nullable for c in missing):
                return None
            continue
        target = targets[n % len(targets)]
        for column, element in zip(fk.columns, fk.elements):
            row.setdefault(column.name, target.get(element.column.name))
    for column in table.c:
        if column.name not in row:
            row[column.name] = _value(table.name, column, n)
    return row


def _value(table, column, n):
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return n % 2 == 0
    if isinstance(kind, sa.Integer | sa.Numeric):
        return n + 1
    if isinstance(kind, sa.DateTime):
        return START + timedelta(hours=n)
    if isinstance(kind, sa.Date):
        return START.date() + timedelta(days=n)
    if isinstance(kind, sa.JSON):
        return {"n": n}
    if isinstance(kind, sa.LargeBinary):
        return n.to_bytes(16, "big")
    if isinstance(kind, sa.String):
        text = f"{table}-{column.name}-{n}"
        return text[-kind.length:] if kind.length else text
    return None if column.nullable else str(n)


def _advance_sequences(conn, metadata):
    for table in metadata.sorted_tables:
        (column, *more) = table.primary_key.columns
        if more or not isinstance(column.type, sa.Integer):
            continue
        sequence = conn.scalar(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": table.name, "c": column.name})
        if sequence:
            conn.execute(sa.text(
                f'SELECT setval(CAST(:s AS regclass), COALESCE(MAX("{column.name}"), 1), '
                f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'), {"s": sequence})


# --- snapshots and their differences -----------------------------------------------------------

@dataclass
class TableState:
    columns: tuple
    key: tuple     # primary key columns
    rows: list     # row dicts, values normalised (JSON as sorted text, binary as bytes)


@dataclass(frozen=True)
class Difference:
    key: str       # "table" or "table.column"
    kind: str      # "table dropped", "column dropped", "rows" (missing or new), "values"
    detail: str

    def __str__(self):
        return f"{self.key}: {self.kind}: {self.detail}"


def snapshot(conn, tables=None):
    """Every row of every table (or of ``tables``) but alembic_version."""
    metadata = sa.MetaData()
    metadata.reflect(conn, only=tables)
    state = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        rows = [{name: _normal(value) for name, value in row._mapping.items()}
                for row in conn.execute(sa.select(table))]
        state[table.name] = TableState(tuple(table.c.keys()),
                                       tuple(c.name for c in table.primary_key.columns), rows)
    return state


def _normal(value):
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def compare(before, after):
    """What of ``before`` is not in ``after``, row by row (by primary key) and column by
    column. Tables and columns new in ``after`` are not differences."""
    differences = []
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            differences.append(Difference(name, "table dropped", f"it had {len(old.rows)} rows"))
            continue
        differences += [Difference(f"{name}.{c}", "column dropped", "") for c in old.columns
                        if c not in new.columns]
        if not set(old.key) <= set(new.columns):
            differences.append(Difference(name, "rows", "the primary key columns are gone"))
            continue
        old_rows = {tuple(row[c] for c in old.key): row for row in old.rows}
        new_rows = {tuple(row[c] for c in old.key): row for row in new.rows}
        missing, added = old_rows.keys() - new_rows.keys(), new_rows.keys() - old_rows.keys()
        if missing or added:
            differences.append(Difference(name, "rows", (
                f"{len(missing)} of {len(old_rows)} missing (e.g. {_few(missing)}), "
                f"{len(added)} new (e.g. {_few(added)})")))
        common = old_rows.keys() & new_rows.keys()
        for column in old.columns:
            if column in new.columns and column not in old.key:
                changed = sorted((k for k in common if old_rows[k][column] != new_rows[k][column]),
                                 key=repr)
                if changed:
                    k = changed[0]
                    differences.append(Difference(f"{name}.{column}", "values", (
                        f"{len(changed)} rows changed, e.g. {k}: {old_rows[k][column]!r} → "
                        f"{new_rows[k][column]!r}")))
    return differences


def _few(keys):
    return ", ".join(repr(key) for key in sorted(keys, key=repr)[:3]) or "none"


def rollup_totals(state):
    """{(table, site id): (sum of visitors, sum of pageviews)} of every rollup in ``state``."""
    totals = defaultdict(lambda: [0, 0])
    for name in ROLLUPS:
        for row in state[name].rows if name in state else ():
            sums = totals[(name, row["site_id"])]
            sums[0] += row.get("visitors") or 0
            sums[1] += row.get("pageviews") or 0
    return {key: tuple(sums) for key, sums in totals.items()}
