"""An index of hit_counts' and ref_counts' hours (BRIN on PostgreSQL): a dashboard range in a
time zone with an offset reads the edge hours of every path, which the primary keys (site,
path, …) could only serve by reading the whole table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 00:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

TABLES = ('hit_counts', 'ref_counts')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_hour', ['hour'], unique=False,
                                  postgresql_using='brin')


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_hour', postgresql_using='brin')
