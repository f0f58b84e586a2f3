"""Incremental monitoring: rule_run.through_batch and .incremental, monitor_scope(_claim)

An incremental ``ncms monitor run`` re-examines the people whose rows arrived after the
batch its last run had seen: their national IDs go to monitor_scope, all their claims' ids
to monitor_scope_claim (one scan of the claims), and the rules read those claims by id.
An index of the claims by person would have served too, but it cost a tenth of a bulk load
(PostgreSQL: 1,000,000 claims loaded end to end in 16.7 s with it, 15.1 s without).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('monitor_scope',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('national_id', sa.String(length=18), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'national_id', name=op.f('pk_monitor_scope'))
    )
    op.create_table('monitor_scope_claim',
    sa.Column('run_id', sa.String(length=32), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'claim_id', name=op.f('pk_monitor_scope_claim'))
    )
    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('through_batch', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('incremental', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.drop_column('incremental')
        batch_op.drop_column('through_batch')
    op.drop_table('monitor_scope_claim')
    op.drop_table('monitor_scope')
