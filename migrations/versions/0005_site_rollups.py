"""site-wide rollups: site_hours and site_stats (daily and monthly rows), filled from the
existing per-path rollups so an upgraded installation reads the same numbers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 17:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# (kind, per-path table, key column, time column): what site_stats sums over paths.
SOURCES = (
    ("p", "hit_counts", "path_id", "hour"), ("r", "ref_counts", "ref_id", "hour"),
    ("b", "browser_stats", "browser_id", "day"), ("s", "system_stats", "system_id", "day"),
    ("l", "location_stats", "location", "day"), ("z", "size_stats", "width", "day"),
    ("g", "language_stats", "language", "day"), ("c", "campaign_stats", "campaign_id", "day"),
)


def upgrade():
    op.create_table('site_hours',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('visitors', sa.Integer(), nullable=False),
    sa.Column('pageviews', sa.Integer(), nullable=False),
    sa.Column('event_visitors', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_hours_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'hour', name=op.f('pk_site_hours'))
    )
    op.create_table('site_stats',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=1), nullable=False),
    sa.Column('span', sa.String(length=1), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('visitors', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_site_stats_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'kind', 'span', 'period', 'key', name=op.f('pk_site_stats'))
    )
    _fill()


def _fill():
    postgresql = op.get_bind().dialect.name == "postgresql"

    def day(column):
        return f"CAST({column} AS DATE)" if postgresql else f"date({column})"

    def month(column):
        return (f"CAST(date_trunc('month', {column}) AS DATE)" if postgresql
                else f"date({column}, 'start of month')")

    op.execute(
        "INSERT INTO site_hours (site_id, hour, visitors, pageviews, event_visitors) "
        "SELECT h.site_id, h.hour, SUM(h.visitors), SUM(h.pageviews), "
        "SUM(CASE WHEN p.event THEN h.visitors ELSE 0 END) "
        "FROM hit_counts h JOIN paths p ON p.id = h.path_id GROUP BY h.site_id, h.hour")
    for kind, table, column, time in SOURCES:
        key = f"CAST({column} AS TEXT)" if column not in ("location", "language") else column
        for span, period in (("d", day(time)), ("m", month(time))):
            op.execute(
                f"INSERT INTO site_stats (site_id, kind, span, period, key, visitors) "
                f"SELECT site_id, '{kind}', '{span}', {period}, {key}, SUM(visitors) "
                f"FROM {table} GROUP BY site_id, {period}, {key} HAVING SUM(visitors) > 0")


def downgrade():
    op.drop_table('site_stats')
    op.drop_table('site_hours')
