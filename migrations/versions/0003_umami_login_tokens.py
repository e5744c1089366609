"""umami login tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('umami_login_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_stamp', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_umami_login_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_umami_login_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_umami_login_tokens_token_hash'))
    )
    with op.batch_alter_table('umami_login_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_umami_login_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('umami_login_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_umami_login_tokens_user_id'))
    op.drop_table('umami_login_tokens')
