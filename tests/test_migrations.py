"""The migration history builds the whole schema on an empty database, and agrees with the
models (autogenerate finds nothing to do) on SQLite and PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

import config
from app import create_app
from app.extensions import db


def test_upgrade_builds_schema_that_matches_the_models(empty_database, tmp_path):
    app = create_app(config.TestingConfig(env={"DATABASE_URL": empty_database,
                                               "IBEX_INSTANCE_DIR": str(tmp_path)}))
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == []

        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_every_table_of_the_design_exists():
    expected = {
        "users", "sites", "api_tokens", "ignored_ips", "paths", "refs", "urls", "browsers",
        "systems", "locations", "languages", "campaigns", "hits", "hit_counts", "ref_counts",
        "browser_stats", "system_stats", "location_stats", "size_stats", "language_stats",
        "campaign_stats", "visitor_sessions", "visits", "bot_hits", "exports", "imports",
        "ingest_batches", "app_state"}
    assert expected <= set(db.metadata.tables)


def test_site_rollups_migration_fills_them_from_the_per_path_rollups(empty_database, tmp_path):
    """Upgrading an installation with data (0004 → 0005) gives the site-wide rollups exactly
    what the persister would have written."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from app.ingest import ingest
    from app.ingest.hit_in import HitIn
    from app.models import SiteHour, SiteStat
    from app import accounts

    app = create_app(config.TestingConfig(env={"DATABASE_URL": empty_database,
                                               "IBEX_INSTANCE_DIR": str(tmp_path)}))
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:80.0) Gecko/20100101 Firefox/80.0"

    def snapshot():
        return {table.__tablename__: sorted(tuple(row) for row in db.session.execute(
            select(*table.__table__.c))) for table in (SiteHour, SiteStat)}

    with app.app_context():
        upgrade()
        site = accounts.create_site("example.com")
        ingest().push(*[HitIn(site_id=site.id, path=f"/p{n % 4}", kind="event" if n % 5 == 0
                              else "pageview", user_agent=firefox, ip=f"192.0.2.{n % 3}",
                              referrer="https://ref.example/" if n % 2 else "", width=390 * n,
                              query="utm_campaign=c&utm_source=s" if n == 3 else "",
                              created_at=datetime(2026, 10 + n % 2, 1 + n, n,
                                                  tzinfo=timezone.utc).timestamp())
                        for n in range(12)])
        ingest().flush()
        db.session.rollback()
        written = snapshot()
        assert written["site_hours"] and {row[1] for row in written["site_stats"]} == set("prbszlgc")
        db.session.commit()  # no open transaction may hold the tables the downgrade drops
        downgrade(revision="0004")
        upgrade()
        assert snapshot() == written
        db.session.commit()
        downgrade(revision="base")  # PostgreSQL: the database is dropped by the fixture
        db.session.remove()
        db.engine.dispose()
