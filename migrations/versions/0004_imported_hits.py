"""imported hits ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('imported_hits',
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('row_key', sa.LargeBinary(length=16), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_imported_hits_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('site_id', 'row_key', name=op.f('pk_imported_hits'))
    )


def downgrade():
    op.drop_table('imported_hits')
