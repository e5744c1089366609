"""GoatCounter's JSON export, format 1.0 (spec/goatcounter.md §13.2): a ZIP of info.json and
JSON-lines files of the site's dimensions and rollups, streamed row by row into the archive."""
import json
import os
import zipfile

from sqlalchemy import select

from app.clock import rfc3339, utcnow
from app.extensions import db
from app.jobs.exports import download_name
from app.models import (Browser, BrowserStat, Language, LanguageStat, Location, LocationStat,
                        Path, Ref, RefCount, SizeStat, System, SystemStat, User)

EXPORT_VERSION = "1.0"
CHUNK = 5000
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


DAY_TABLES = (("browser_stats", BrowserStat, "browser_id"), ("system_stats", SystemStat, "system_id"),
              ("location_stats", LocationStat, "location"), ("size_stats", SizeStat, "width"),
              ("language_stats", LanguageStat, "language"))


def _day_stats(site_id, since):
    """(file name, query, encoder) for each per-day statistics file, oldest day first."""
    files = []
    for name, table, key in DAY_TABLES:
        column = getattr(table, key)
        query = (select(table.day, table.path_id, column.label("key"), table.visitors)
                 .where(table.site_id == site_id).order_by(table.day, table.path_id, column))
        if since is not None:
            query = query.where(table.day >= since.date())
        files.append((name, query, lambda row, key=key: {
            "day": row.day.isoformat(), "path_id": row.path_id, key: row.key,
            "count": row.visitors}))
    return files


def write_zip(export, site, path):
    """Write the ZIP for ``export`` of ``site`` to ``path``."""
    since = export.start_from_day
    folder = os.path.splitext(download_name(export, site))[0]  # the archive's one directory
    user = db.session.get(User, export.user_id) if export.user_id else None
    info = {"export_version": EXPORT_VERSION, "goatcounter_version": "ibex",
            "created_for": site.cname or site.code,
            "created_by": f"user_id={user.id} {user.email or user.username}" if user else "",
            "created_at": rfc3339(utcnow())}
    used_refs = select(RefCount.ref_id).where(RefCount.site_id == site.id).distinct()
    files = [
        ("paths", select(Path.id, Path.path, Path.title, Path.event)
         .where(Path.site_id == site.id).order_by(Path.id),
         lambda r: {"id": r.id, "path": r.path, "title": r.title, **({"event": True} if r.event else {})}),
        ("refs", select(Ref.id, Ref.ref, Ref.ref_scheme).where(Ref.id.in_(used_refs)).order_by(Ref.id),
         lambda r: {"id": r.id, "ref": r.ref, "ref_scheme": r.ref_scheme}),
        ("browsers", select(Browser.id, Browser.name, Browser.version).order_by(Browser.id),
         lambda r: {"id": r.id, "name": r.name, "version": r.version}),
        ("systems", select(System.id, System.name, System.version).order_by(System.id),
         lambda r: {"id": r.id, "name": r.name, "version": r.version}),
        ("locations", select(Location).order_by(Location.code),
         lambda r: {"country": r[0].country, "region": r[0].region,
                    "country_name": r[0].country_name, "region_name": r[0].region_name}),
        ("languages", select(Language.iso_639_3, Language.name).order_by(Language.iso_639_3),
         lambda r: {"iso_639_3": r.iso_639_3, "name": r.name}),
        *_day_stats(site.id, since),
        ("hit_stats", select(RefCount.hour, RefCount.path_id, RefCount.ref_id, RefCount.visitors)
         .where(RefCount.site_id == site.id, *((RefCount.hour >= since,) if since else ()))
         .order_by(RefCount.hour, RefCount.path_id, RefCount.ref_id),
         lambda r: {"hour": rfc3339(r.hour), "path_id": r.path_id, "ref_id": r.ref_id,
                    "count": r.visitors}),
    ]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(f"{folder}/info.json", json.dumps(info, indent=2) + "\n")
        for name, query, encode in files:
            with archive.open(f"{folder}/{name}.jsonl", "w") as out:
                result = db.session.execute(query.execution_options(yield_per=CHUNK))
                for rows in result.partitions():
                    out.write("".join(_compact(encode(row)) + "\n" for row in rows).encode())
                result.close()
