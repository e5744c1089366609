"""Storage of a stats dataset, bytes per stored hit: on PostgreSQL ``pg_total_relation_size``
(heap + indexes + TOAST) of hits, the rollups and sessions/visits, with a breakdown by table;
on SQLite the database file (and its WAL)."""
import os

from bench.ingest.persist import DIMENSIONS, RAW, ROLLUPS, SESSIONS

SITE_ROLLUPS = ("site_hours", "site_stats")   # site-wide rollups of the stats engine
COUNTED = RAW + ROLLUPS + SITE_ROLLUPS + SESSIONS


def measure(url, backend):
    if backend == "sqlite":
        return _sqlite(url)
    import psycopg
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
        rows = conn.execute("""
            SELECT c.relname, c.reltuples::bigint, pg_relation_size(c.oid), pg_indexes_size(c.oid),
                   pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'""").fetchall()
    tables = sorted(({"table": name, "rows": max(count, 0), "heap": heap, "indexes": indexes,
                      "total": total, "per_hit": round(total / hits, 1)}
                     for name, count, heap, indexes, total in rows), key=lambda t: -t["total"])
    sizes = {t["table"]: t["total"] for t in tables}

    def group(names):
        return sum(sizes.get(name, 0) for name in names)
    groups = {"hits (heap + indexes)": RAW, "rollups": ROLLUPS + SITE_ROLLUPS,
              "sessions and visits": SESSIONS,
              "dimensions": DIMENSIONS}
    counted = [name for name in sizes if name in COUNTED]
    return {"hits": hits, "tables": tables,
            "groups": {label: {"bytes": group(names), "per_hit": round(group(names) / hits, 1)}
                       for label, names in groups.items()},
            "counted_tables": counted,
            "bytes_per_pageview": round(group(COUNTED) / hits, 1),
            "bytes_per_pageview_with_dimensions": round(group(COUNTED + DIMENSIONS) / hits, 1),
            "database_bytes": sum(sizes.values())}


def _sqlite(url):
    import sqlite3
    path = url[len("sqlite:///"):]
    with sqlite3.connect(path) as conn:
        hits = conn.execute("SELECT count(*) FROM hits").fetchone()[0]
    size = sum(os.path.getsize(path + suffix) for suffix in ("", "-wal")
               if os.path.exists(path + suffix))
    per_hit = round(size / hits, 1)
    return {"hits": hits, "tables": [], "database_bytes": size, "bytes_per_pageview": per_hit,
            "bytes_per_pageview_with_dimensions": per_hit,
            "note": "the whole SQLite file (every table, index and dimension)"}
