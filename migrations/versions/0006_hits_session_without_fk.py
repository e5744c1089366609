"""hits.session_id without a foreign key: deleting old visitor sessions (data retention) made
PostgreSQL look for referring hits with a scan of the whole hits table per session deleted;
the id is a grouping key, and retention deletes a session only after its hits

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_hits_session_id_visitor_sessions'),
                                 type_='foreignkey')


def downgrade():
    # Hits whose session is gone (none, unless something deleted sessions out of order) would
    # refuse the constraint: their session id is cleared first, as ON DELETE SET NULL would.
    op.execute("UPDATE hits SET session_id = NULL WHERE session_id IS NOT NULL AND NOT EXISTS "
               "(SELECT 1 FROM visitor_sessions WHERE visitor_sessions.id = hits.session_id)")
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_hits_session_id_visitor_sessions'),
                                    'visitor_sessions', ['session_id'], ['id'],
                                    ondelete='SET NULL')
