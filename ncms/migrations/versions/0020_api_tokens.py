"""bearer tokens of the REST API (/api/v1): per user or service account, hashed at rest

Only the SHA-256 of a token's secret (256 random bits) is kept, unique, so a request's token is
found by one index read; the prefix names the token in lists and the audit log. A token acts as
its user (role, county); ``scope`` read or write; it ends at ``expires_at`` or when revoked.

Revision ID: 0020
Revises: 0019
"""
from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id', name='fk_api_token_user_id_user_account'),
                  nullable=False),
        sa.Column('name', sa.String(128), nullable=False),
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=False),
        sa.Column('scope', sa.Enum('read', 'write', name='token_scope', native_enum=False, create_constraint=True,
                                   length=5), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
        sa.UniqueConstraint('secret_hash', name=op.f('uq_api_token_secret_hash')),
    )
    op.create_index('ix_api_token_user_id', 'api_token', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_api_token_user_id', table_name='api_token')
    op.drop_table('api_token')
