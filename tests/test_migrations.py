"""The migration history builds the whole schema on an empty database, and agrees with the
models (autogenerate finds nothing to do) on SQLite and PostgreSQL."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

import config
from app import create_app
from app.extensions import db
from tests.conftest import BACKENDS, new_pg_database


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrate.db"
    else:
        url, drop = new_pg_database()
        yield url
        drop()


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
