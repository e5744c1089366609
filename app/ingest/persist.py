"""Persist one buffer batch in one transaction: the ledger row (so a retried batch is never
counted twice), dimension rows, raw hits, the bot log, sessions, visits and every rollup
(aggregated in Python first, then one additive upsert per table)."""
import logging
import uuid as uuid_lib
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from app.clock import utcnow
from app.extensions import db
from app.ingest import language as languages
from app.ingest.enrich import Context, Drop, enrich
from app.ingest.hit_in import HitIn
from app.ingest.paths import bounded_key
from app.ingest.rollups import add_to_rollups
from app.ingest.store import (get_or_create, insert_missing, insert_rows, is_postgresql,
                              upsert_add)
from app.models import (BotHit, Browser, Campaign, City, Hit, IngestBatch, Language, Location,
                        Path, Ref, Site, System, Url, VisitorSession)

log = logging.getLogger("ibex.ingest")
# Path ids known to have a title (filled after commits), so titles are not re-checked per batch;
# bounded (re-checking a path's title is a no-op UPDATE).
_TITLED = set()
_TITLED_MAX = 100_000


@dataclass
class Prepared:
    """A batch decoded and enriched, with its session assignments: everything but the writes."""
    outcome: Counter
    kept: list
    dropped: list
    assignments: list
    dimensions: dict


def prepare_batch(ingest, batch):
    """Decode and enrich ``batch`` and assign its sessions; no database writes (the site
    directory may read the sites), so it can run while another batch is being written."""
    ctx = Context(ingest.secret, ingest.app.config.get("GEOIP_DB"))
    outcome = Counter()
    kept, dropped = [], []
    sites = ingest.sites.snapshot().by_id  # one snapshot for the whole batch
    reloaded = False
    for record in batch.records:
        try:
            hit = HitIn.from_wire(record)
        except (ValueError, TypeError):
            outcome["invalid"] += 1
            continue
        if hit.site_id not in sites and not reloaded:
            # A site created since this process loaded its snapshot, whose hits the web
            # process already accepted: reload (once per batch) rather than drop them.
            ingest.sites.invalidate()
            sites, reloaded = ingest.sites.snapshot().by_id, True
        try:
            kept.append(enrich(hit, sites.get(hit.site_id), ctx))
        except Drop as drop:
            dropped.append((hit, drop))
            outcome[drop.reason] += 1
        except Exception:  # one odd hit must never block its batch: drop it, loudly
            log.exception("dropping a hit that could not be enriched: %.300s", record)
            dropped.append((hit, Drop("invalid")))
            outcome["invalid"] += 1
    assignments = ingest.sessions.assign(
        batch.id, [(e.session_key, ("e:" if e.event else "p:") + e.path_key) for e in kept])
    return Prepared(outcome, kept, dropped, assignments, collect_dimensions(kept))


def persist_batch(ingest, batch, prepared=None):
    """Persist ``batch`` exactly once (``prepared``: its prepare_batch() result, when made
    ahead). Returns a Counter of outcomes ('stored', drop reasons, 'duplicate'). Raises on
    database errors; the caller keeps the batch for a retry."""
    if prepared is None:
        prepared = prepare_batch(ingest, batch)
    outcome, kept, dropped, assignments = (prepared.outcome.copy(), prepared.kept,
                                           prepared.dropped, prepared.assignments)
    db.session.rollback()  # start from a clean transaction
    db.session.add(IngestBatch(id=batch.id, num_hits=len(kept), persisted_at=utcnow()))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        log.info("batch %s was already persisted; skipping it", batch.id)
        return Counter(duplicate=len(batch.records))
    _write_bot_log(dropped)
    titled = _write_hits(kept, assignments, prepared.dimensions) if kept else ()
    db.session.commit()
    if len(_TITLED) + len(titled) > _TITLED_MAX:
        _TITLED.clear()
    _TITLED.update(titled)
    outcome["stored"] += len(kept)
    log.info("persisted batch %s: %s", batch.id, dict(outcome))
    return outcome


def _write_bot_log(dropped):
    rows = []
    for hit, drop in dropped:
        private = drop.reason == "dnt"  # the visitor asked not to be tracked: keep nothing
        rows.append({
            "site_id": hit.site_id if isinstance(hit.site_id, int) else None,
            "reason": drop.reason, "bot": min(max(int(drop.bot or 0), 0), 32767),
            "path": "" if private else hit.path[:2048],
            "user_agent": hit.user_agent[:512] if drop.reason == "bot" else "",
            "referrer": hit.referrer[:2048] if drop.reason in ("bot", "spam") else "",
            "created_at": utcnow()})
    if rows:
        site_ids = {row["site_id"] for row in rows} - {None}
        existing = {sid for (sid,) in db.session.query(Site.id).filter(Site.id.in_(site_ids))}
        for row in rows:
            if row["site_id"] not in existing:
                row["site_id"] = None
        insert_rows(BotHit.__table__, rows)


def _write_hits(kept, assignments, dims):
    ids = _dimension_ids(dims)
    session_ids = _sessions(kept, assignments, ids)
    hit_rows = []
    for e, (session_uuid, first_visit) in zip(kept, assignments):
        hit_rows.append({
            "site_id": e.site.id, "path_id": ids["path"][(e.site.id, e.path_key)],
            "ref_id": ids["ref"][(e.ref_key, e.ref_scheme)],
            "url_id": ids["url"].get((e.url,)) if e.url else None,
            "referrer_url_id": ids["url"].get((e.referrer_url,)) if e.referrer_url else None,
            "session_id": session_ids.get(session_uuid), "first_visit": first_visit,
            "browser_id": ids["browser"].get(e.browser), "system_id": ids["system"].get(e.system),
            "campaign_id": ids["campaign"].get((e.site.id, e.campaign.lower()))
            if e.campaign else None,
            "event_type": e.hit.event_type[:50] or None, "width": e.width or None,
            "location": e.location, "city_id": ids["city"].get((e.location, e.city)),
            "language": e.language, "ip": e.ip, "created_at": e.created_at})
    insert_rows(Hit.__table__, hit_rows)
    for e, row in zip(kept, hit_rows):  # what the rollups need besides the stored row
        row["event"], row["campaign_ref"] = e.event, e.ref
    add_to_rollups(hit_rows)
    _mark_sites(kept)
    return ids["titled"]


def collect_dimensions(kept):
    """The dimension rows a batch refers to, by table, each keyed as get_or_create() wants it
    (pure Python: runs in prepare_batch, off the writing thread)."""
    paths, refs, urls, browsers, systems, campaigns = {}, {}, {}, {}, {}, {}
    locations, langs, cities = {}, {}, {}
    for e in kept:
        site_id = e.site.id
        key = (site_id, e.path_key)
        row = paths.get(key)
        if row is None:
            paths[key] = {"site_id": site_id, "path": e.path, "path_key": e.path_key,
                          "title": e.hit.title[:1024], "event": e.event}
        elif not row["title"] and e.hit.title:  # a path keeps the first title it is seen with
            row["title"] = e.hit.title[:1024]
        e.ref_key = ref_key = bounded_key(e.ref.lower())
        if (ref_key, e.ref_scheme) not in refs:
            refs[(ref_key, e.ref_scheme)] = {"ref": e.ref, "ref_key": ref_key,
                                             "ref_scheme": e.ref_scheme}
        for url in (e.url, e.referrer_url):
            if url and (url,) not in urls:
                urls[(url,)] = {"url": url}
        for target, value in ((browsers, e.browser), (systems, e.system)):
            if value is not None and value not in target:
                target[value] = {"name": value[0], "version": value[1]}
        if e.campaign and (site_id, e.campaign.lower()) not in campaigns:
            campaigns[(site_id, e.campaign.lower())] = {
                "site_id": site_id, "name": e.campaign, "name_key": e.campaign.lower()}
        if e.location not in locations:
            country, _, region = e.location.partition("-")
            locations[e.location] = {"code": e.location, "country": country[:2],
                                     "region": region[:5], "country_name": e.country_name,
                                     "region_name": e.region_name}
        if e.city and (e.location, e.city) not in cities:
            cities[(e.location, e.city)] = {"location": e.location, "name": e.city}
        if e.language not in langs:
            langs[e.language] = {"iso_639_3": e.language,
                                 "name": languages.name(e.language) if e.language else ""}
    return {"path": paths, "ref": refs, "url": urls, "browser": browsers, "system": systems,
            "campaign": campaigns, "location": locations, "language": langs, "city": cities}


def _dimension_ids(dims):
    paths = dims["path"]
    ids = {
        "path": get_or_create(Path.__table__, ("site_id", "path_key"), paths),
        "ref": get_or_create(Ref.__table__, ("ref_key", "ref_scheme"), dims["ref"]),
        "url": get_or_create(Url.__table__, ("url",), dims["url"]),
        "browser": get_or_create(Browser.__table__, ("name", "version"), dims["browser"]),
        "system": get_or_create(System.__table__, ("name", "version"), dims["system"]),
        "campaign": get_or_create(Campaign.__table__, ("site_id", "name_key"), dims["campaign"]),
        "city": get_or_create(City.__table__, ("location", "name"), dims["city"]),
    }
    insert_missing(Location.__table__, ("code",), list(dims["location"].values()))
    insert_missing(Language.__table__, ("iso_639_3",), list(dims["language"].values()))
    ids["titled"] = []
    for key, row in sorted(paths.items()):  # a path keeps the first title it was seen with
        path_id = ids["path"][key]
        if row["title"] and path_id not in _TITLED:
            db.session.execute(update(Path).where(Path.id == path_id, Path.title == "")
                               .values(title=row["title"]))
            ids["titled"].append(path_id)
    return ids


def _sessions(kept, assignments, ids):
    """Create or extend the visitor_sessions rows of this batch; returns {uuid hex: row id}."""
    rows = {}
    for e, (session_uuid, _first) in zip(kept, assignments):
        if session_uuid is None:
            continue
        row = rows.get(session_uuid)
        if row is None:
            rows[session_uuid] = {
                "uuid": uuid_lib.UUID(session_uuid).bytes, "site_id": e.site.id,
                "browser_id": ids["browser"].get(e.browser), "system_id": ids["system"].get(e.system),
                "umami_browser": e.umami_browser, "umami_os": e.umami_os, "device": e.device,
                "screen": e.screen, "language": e.language_tag, "location": e.location or None,
                "hostname": e.hit.hostname[:100] or None,
                "first_seen": e.created_at, "last_seen": e.created_at}
        else:
            row["first_seen"] = min(row["first_seen"], e.created_at)
            row["last_seen"] = max(row["last_seen"], e.created_at)
    if not rows:
        return {}
    table = VisitorSession.__table__
    if is_postgresql():  # one statement: upsert and ids
        found = {bytes(uuid): id_ for id_, uuid in upsert_add(
            table, ("uuid",), list(rows.values()), least=("first_seen",),
            greatest=("last_seen",), returning=("id", "uuid"))}
        return {session_uuid: found[row["uuid"]] for session_uuid, row in rows.items()}
    upsert_add(table, ("uuid",), list(rows.values()), least=("first_seen",), greatest=("last_seen",))
    found = get_or_create(table, ("uuid",), {(row["uuid"],): row for row in rows.values()})
    return {session_uuid: found[(row["uuid"],)] for session_uuid, row in rows.items()}


def _mark_sites(kept):
    earliest = defaultdict(lambda: None)
    for e in kept:
        current = earliest[e.site.id]
        earliest[e.site.id] = e.created_at if current is None else min(current, e.created_at)
    for site_id, first in sorted(earliest.items()):  # row locks in one order (store.py)
        db.session.execute(update(Site).where(Site.id == site_id, Site.received_data.is_(False))
                           .values(received_data=True))
        db.session.execute(update(Site).where(Site.id == site_id, Site.first_hit_at > first)
                           .values(first_hit_at=first))
