"""Upgrading a database an earlier release populated keeps everything in it: for every revision
below head, an installation of that release (tests/migration_data.py) is upgraded to head and
compared with what it held, row by row and rollup by rollup, and the statistics Ibex computes at
head are checked against the raw hits. Downgrading one step and upgrading it again keeps every
hit. SQLite and PostgreSQL, a fresh database per test; the revisions come from the migration
history itself, so a new migration is covered without editing this file."""
import shutil
from datetime import datetime, timezone

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select

from app.extensions import db
from tests import migration_data as md
from tests.conftest import make_app

REVISIONS = md.revisions()
HEAD = REVISIONS[-1]
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

# What a migration removes on purpose, by revision: {"table" or "table.column": why nothing of
# value goes}. An upgrade must keep every other table, column, row and value.
DROPPED_BY_UPGRADE = {
    "0002": {"locations.city": "release 0001 had no ingestion, so nothing ever wrote it (the "
                               "dataset holds its default, ''); cities have their own table "
                               "since 0002 (hits.city_id)"},
}

# What downgrading a revision and upgrading it again cannot bring back, by revision; every other
# step must come back unchanged. 0001 is not round-tripped: downgrading the initial schema drops
# every table. 0005 loses nothing: its upgrade refills site_hours and site_stats from the
# per-path rollups the downgrade keeps.
LOST_BY_ROUND_TRIP = {
    "0002": {"cities": "the downgrade drops the cities table",
             "hits.city_id": "and each hit's city with it: the Basic API's city of those "
                             "pageviews is gone (GeoIP ran at ingest, from an IP that is not "
                             "kept in full, so nothing can recompute it)"},
    "0003": {"umami_login_tokens": "the downgrade drops Umami login tokens: Umami API clients "
                                   "must log in again"},
    "0004": {"imported_hits": "the downgrade drops the ledger of imported CSV rows: a file "
                              "imported before the round trip counts twice if imported again"},
}


@pytest.fixture
def app(empty_database, tmp_path):
    """An app on the empty database (this module's own: the suite's ``app`` has a schema)."""
    app = make_app(empty_database, tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def populate_at(revision, dataset):
    """Migrate the empty database to ``revision``, write the dataset; returns its snapshot."""
    upgrade(revision=revision)
    with db.engine.begin() as conn:
        written = md.populate(conn, dataset)
    assert written["hits"] == len(dataset.rows["hits"]) > 300
    return snapshot()


def snapshot(tables=None):
    db.session.remove()  # no transaction of the test's session may hold a table
    with db.engine.connect() as conn:
        return md.snapshot(conn, tables)


def hit_fingerprints(state, columns):
    """{hit id: its values in ``columns``}."""
    return {row["id"]: tuple(row[c] for c in columns) for row in state["hits"].rows}


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_upgrading_a_populated_database_keeps_every_row(app, revision):
    dataset = md.build()
    before = populate_at(revision, dataset)
    upgrade()
    after = snapshot()

    dropped = {key for later in REVISIONS[REVISIONS.index(revision) + 1:]
               for key in DROPPED_BY_UPGRADE.get(later, {})}
    lost = [str(d) for d in md.compare(before, after) if d.key not in dropped]
    assert not lost, "the upgrade lost or changed data:\n" + "\n".join(lost)
    columns = before["hits"].columns
    assert len(after["hits"].rows) == len(dataset.rows["hits"])
    assert hit_fingerprints(after, columns) == hit_fingerprints(before, columns)

    old_totals, new_totals = md.rollup_totals(before), md.rollup_totals(after)
    assert {key: new_totals.get(key) for key in old_totals} == old_totals
    for site_id in (1, 2):  # also those of rollups the upgrade created
        hits, visitors = len(dataset.hits(site_id)), dataset.first_visits(site_id)
        for table in ("hit_counts", "ref_counts", "site_hours"):
            assert new_totals[(table, site_id)] == (visitors, hits), table
    check_head_statistics(app, dataset)


@pytest.mark.parametrize("revision", REVISIONS[1:])
def test_downgrading_one_step_and_upgrading_again_keeps_every_hit(app, revision):
    before = populate_at(revision, md.build())
    downgrade(revision=REVISIONS[REVISIONS.index(revision) - 1])
    below = snapshot()
    # The downgrade drops what this step added (tables, columns); every other value stays.
    changed = [str(d) for d in md.compare(before, below)
               if d.kind not in ("table dropped", "column dropped")]
    assert not changed, "the downgrade changed data:\n" + "\n".join(changed)

    upgrade(revision=revision)
    differences = md.compare(before, snapshot())
    lost = LOST_BY_ROUND_TRIP.get(revision, {})
    assert {d.key for d in differences} == set(lost), "\n".join(map(str, differences))
    kept = [c for c in before["hits"].columns if f"hits.{c}" not in lost]
    assert hit_fingerprints(snapshot(), kept) == hit_fingerprints(before, kept)


def test_the_dataset_is_what_the_application_would_have_written(app):
    """Written at head, the dataset's rollups and visits are what Ibex computes from its hits
    and every statistic agrees: what differs after an upgrade is the migration's doing."""
    dataset = md.build()
    populate_at(HEAD, dataset)
    check_head_statistics(app, dataset)


# A revision after head that alters tables others refer to, as a future migration may.
PROBE = '''"""probe

Revision ID: probe
Revises: {head}
"""
from alembic import op
import sqlalchemy as sa

revision = "probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    # On SQLite, batch mode makes such a change by copying the table, dropping the old one and
    # renaming the copy (forced here; changing a type or a constraint needs it anyway).
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    for table in ("sites", "paths"):
        with op.batch_alter_table(table, recreate=recreate) as batch_op:
            batch_op.add_column(sa.Column("probe", sa.Integer(), nullable=True))


def downgrade():
    for table in ("sites", "paths"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("probe")
'''


def test_a_migration_altering_a_table_others_refer_to_keeps_their_rows(app, tmp_path):
    """The next migration that alters sites, users, paths, … must not empty the tables that
    refer to them. A copy of the migration history plus one such revision runs through the
    project's own env.py."""
    directory = tmp_path / "migrations"
    shutil.copytree(md.MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    (directory / "versions" / "9999_probe.py").write_text(PROBE.format(head=HEAD))
    upgrade(directory=str(directory), revision=HEAD)
    with db.engine.begin() as conn:
        md.populate(conn, md.build())
    before = snapshot()
    upgrade(directory=str(directory))
    differences = [str(d) for d in md.compare(before, snapshot())]
    assert not differences, "altering sites and paths lost data:\n" + "\n".join(differences)


def check_head_statistics(app, dataset):
    """At head: the statistics of the GoatCounter and Umami families agree with the raw hits,
    an API token of the old release still works, the rollups are what rebuilding them from
    the hits gives, and new hits are stored after the old ones."""
    from app.ingest.rollups import rebuild
    from app.stats import service, umami
    from app.stats.query import StatsQuery

    for site_id in (1, 2):
        visitors = dataset.first_visits(site_id)
        q = StatsQuery(site_id=site_id, start=md.START, end=md.END, limit=100)
        totals = service.totals(q)
        assert (totals.total, totals.total_events, totals.total_utc) == (
            visitors, dataset.first_visits(site_id, events=True), visitors)
        assert sum(day.daily for day in totals.stats) == visitors
        assert {p.path_id: p.count for p in service.hits(q).hits} == \
            dataset.first_visits_per_path(site_id)
        assert service.path_counts(site_id, None, None, None) == (
            visitors, len(dataset.hits(site_id)))
        # Umami's pageviews are the hits on page paths (events are not pageviews).
        assert umami.summary(q) == dataset.umami_summary(site_id)

    response = app.test_client().get(
        "/api/v0/stats/total", headers={"Authorization": f"Bearer {md.TOKEN_SECRET}"},
        query_string={"start": "2026-06-01T00:00:00Z", "end": "2026-10-31T23:59:59Z"})
    assert response.status_code == 200, response.data
    assert response.json["total"] == dataset.first_visits(1)  # the token's one site

    migrated = snapshot(md.ROLLUPS)
    for site in dataset.rows["sites"]:
        rebuild(site["id"])
    differences = [str(d) for d in md.compare(migrated, snapshot(md.ROLLUPS))]
    assert not differences, "rebuilt from the hits, the rollups differ:\n" + "\n".join(differences)

    store_new_hits(dataset)


def store_new_hits(dataset):
    """Two hits through the real pipeline: they get ids after the old rows' (PostgreSQL's
    sequences were where the old release left them) and count on top of the old ones."""
    from app.ingest import ingest
    from app.ingest.hit_in import HitIn
    from app.models import Hit, Path, VisitorSession
    from app.stats import service

    when = datetime(2026, 10, 31, 12, tzinfo=timezone.utc).timestamp()
    ingest().push(*(HitIn(site_id=1, path="/after-upgrade", user_agent=FIREFOX,
                          ip="192.0.2.99", created_at=when + n) for n in range(2)))
    assert ingest().flush() == 2
    db.session.rollback()
    old = len(dataset.rows["hits"])
    assert db.session.scalar(select(func.count()).select_from(Hit)) == old + 2
    new = db.session.execute(select(Hit.id, Hit.path_id, Hit.session_id).where(Hit.id > old)).all()
    assert len(new) == 2 and {path for _, path, _ in new} == {
        db.session.scalar(select(Path.id).where(Path.path == "/after-upgrade"))}
    assert min(path for _, path, _ in new) > len(dataset.rows["paths"])
    assert min(session for _, _, session in new) > len(dataset.rows["visitor_sessions"])
    assert db.session.get(VisitorSession, new[0].session_id) is not None
    assert service.path_counts(1, "/after-upgrade", None, None) == (1, 2)
    assert service.path_counts(1, None, None, None) == (
        dataset.first_visits(1) + 1, len(dataset.hits(1)) + 2)
