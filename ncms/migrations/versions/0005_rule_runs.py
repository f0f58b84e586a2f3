"""rule_run: each supervision rule's run over a county (rows scanned, hits, seconds)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rule_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('rule_code', sa.String(length=64), nullable=False),
    sa.Column('rule_version', sa.String(length=32), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('parameters', sa.JSON(), nullable=True),
    sa.Column('rows_scanned', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('raised', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Double(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_rule_run_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_run'))
    )
    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_run_run_id'), ['run_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_run_run_id'))
    op.drop_table('rule_run')
