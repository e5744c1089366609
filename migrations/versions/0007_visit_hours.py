"""Umami's visit numbers per hour: visits.gap_hours (hours since the session's previous visit)
with an index of the long gaps, the visit_hours table, site_hours.lone_pageviews (pageviews
without a session), and an index of site_stats by visitors for the top entries of long ranges.
Every new value is computed from the rows already stored.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

LONG_GAP = 10  # app/models/hits.py


def upgrade():
    postgresql = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('gap_hours', sa.Integer(), nullable=True))
    with op.batch_alter_table('site_hours', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lone_pageviews', sa.Integer(), server_default='0',
                                      nullable=False))
    op.create_table(
        'visit_hours',
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('hour', sa.DateTime(), nullable=False),
        sa.Column('pageviews', sa.Integer(), nullable=False),
        sa.Column('bounces', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Integer(), nullable=False),
        sa.Column('sessions', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'],
                                name=op.f('fk_visit_hours_site_id_sites'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('site_id', 'hour', name=op.f('pk_visit_hours')))

    # The hours since each visit's previous visit of the same session.
    if postgresql:
        op.execute(
            "UPDATE visits SET gap_hours = g.gap FROM (SELECT session_id, hour, "
            "round(extract(epoch FROM hour - lag(hour) OVER (PARTITION BY session_id "
            "ORDER BY hour)) / 3600)::integer AS gap FROM visits) AS g "
            "WHERE visits.session_id = g.session_id AND visits.hour = g.hour "
            "AND g.gap IS NOT NULL")
    else:
        op.execute(
            "UPDATE visits SET gap_hours = g.gap FROM (SELECT session_id, hour, "
            "CAST(round((julianday(hour) - julianday(lag(hour) OVER (PARTITION BY session_id "
            "ORDER BY hour))) * 24) AS INTEGER) AS gap FROM visits) AS g "
            "WHERE visits.session_id = g.session_id AND visits.hour = g.hour "
            "AND g.gap IS NOT NULL")
    # Each hour's visit numbers (seconds as app/ingest/visits.py computes them).
    seconds = ("floor(extract(epoch FROM last_at - first_at))" if postgresql else
               "CAST(strftime('%s', last_at) AS INTEGER) - CAST(strftime('%s', first_at) "
               "AS INTEGER)")
    op.execute(
        "INSERT INTO visit_hours (site_id, hour, pageviews, bounces, seconds, sessions) "
        "SELECT site_id, hour, sum(pageviews), "
        "sum(CASE WHEN pageviews = 1 THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN pageviews > 1 THEN {seconds} ELSE 0 END), "
        "sum(CASE WHEN gap_hours IS NULL THEN 1 ELSE 0 END) FROM visits GROUP BY site_id, hour")
    # Pageviews without a session, per site and hour (every such hour has a site_hours row).
    hour = ("date_trunc('hour', h.created_at)" if postgresql else
            "strftime('%Y-%m-%d %H:00:00.000000', h.created_at)")
    op.execute(
        "UPDATE site_hours SET lone_pageviews = n.pageviews FROM (SELECT h.site_id, "
        f"{hour} AS hour, count(*) AS pageviews FROM hits AS h JOIN paths AS p "
        "ON p.id = h.path_id WHERE h.session_id IS NULL AND NOT p.event "
        f"GROUP BY h.site_id, {hour}) AS n "
        "WHERE site_hours.site_id = n.site_id AND site_hours.hour = n.hour")

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_site_long_gap', ['site_id', 'hour'], unique=False,
                              postgresql_where=sa.text(f'gap_hours >= {LONG_GAP}'),
                              sqlite_where=sa.text(f'gap_hours >= {LONG_GAP}'))
    with op.batch_alter_table('site_stats', schema=None) as batch_op:
        batch_op.create_index('ix_site_stats_top',
                              ['site_id', 'kind', 'span', 'period', 'visitors'], unique=False)


def downgrade():
    with op.batch_alter_table('site_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_site_stats_top')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_site_long_gap',
                            postgresql_where=sa.text(f'gap_hours >= {LONG_GAP}'),
                            sqlite_where=sa.text(f'gap_hours >= {LONG_GAP}'))
    op.drop_table('visit_hours')
    with op.batch_alter_table('site_hours', schema=None) as batch_op:
        batch_op.drop_column('lone_pageviews')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_column('gap_hours')
