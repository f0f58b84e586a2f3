"""Scheme terms per level (the referral cut), an outpatient annual cap; claims a rule could not judge

``scheme_level.unreferred_ratio_cut`` replaces the one number per scheme: the cut each level
takes off its ratio for an admission without a referral. Existing schemes keep their meaning:
their cut moves to their inpatient municipal, provincial and out-of-province levels.
``compensation_scheme.outpatient_annual_cap``: a member's outpatient compensation in a year, at
most (门诊统筹年度封顶), where a county has one. ``rule_run.unchecked`` and
``unchecked_reasons``: the claims a rule read but could not judge, and why.

Revision ID: 0012
Revises: 0011
"""
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

OUT_OF_COUNTY = "('municipal', 'provincial', 'out_of_province')"


@contextmanager
def _levels_kept() -> Iterator[None]:
    """SQLite alters compensation_scheme by copying it to a new table and dropping the old one,
    and the drop deletes its scheme levels (ON DELETE CASCADE, foreign keys on): they are kept
    aside and put back (on PostgreSQL, which alters in place, nothing is missing to put back)."""
    op.execute("CREATE TEMPORARY TABLE scheme_level_kept AS SELECT * FROM scheme_level")
    yield
    op.execute("INSERT INTO scheme_level SELECT * FROM scheme_level_kept "
               "WHERE id NOT IN (SELECT id FROM scheme_level)")
    op.execute("DROP TABLE scheme_level_kept")


def upgrade() -> None:
    with op.batch_alter_table('scheme_level') as batch:
        batch.add_column(sa.Column('unreferred_ratio_cut', sa.Numeric(precision=5, scale=4),
                                   server_default=sa.text('0'), nullable=False))
        batch.create_check_constraint('cut_range', 'unreferred_ratio_cut >= 0 AND unreferred_ratio_cut <= 1')
    op.execute(
        "UPDATE scheme_level SET unreferred_ratio_cut = (SELECT s.unreferred_ratio_cut FROM compensation_scheme s "
        "WHERE s.id = scheme_level.scheme_id) "
        f"WHERE kind = 'inpatient' AND level IN {OUT_OF_COUNTY}")
    with _levels_kept():
        with op.batch_alter_table('compensation_scheme') as batch:
            batch.drop_constraint(op.f('ck_compensation_scheme_cut_range'), type_='check')
            batch.drop_column('unreferred_ratio_cut')
            batch.add_column(sa.Column('outpatient_annual_cap', sa.Numeric(precision=14, scale=2), nullable=True))
            batch.create_check_constraint('outpatient_cap_positive', 'outpatient_annual_cap > 0')
    with op.batch_alter_table('rule_run') as batch:
        batch.add_column(sa.Column('unchecked', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch.add_column(sa.Column('unchecked_reasons', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule_run') as batch:
        batch.drop_column('unchecked_reasons')
        batch.drop_column('unchecked')
    with _levels_kept():
        with op.batch_alter_table('compensation_scheme') as batch:
            batch.drop_constraint(op.f('ck_compensation_scheme_outpatient_cap_positive'), type_='check')
            batch.drop_column('outpatient_annual_cap')
            batch.add_column(sa.Column('unreferred_ratio_cut', sa.Numeric(precision=5, scale=4),
                                       server_default=sa.text('0'), nullable=False))
            batch.create_check_constraint('cut_range', 'unreferred_ratio_cut >= 0 AND unreferred_ratio_cut <= 1')
    # one number per scheme again: the largest cut of its levels
    op.execute("UPDATE compensation_scheme SET unreferred_ratio_cut = COALESCE((SELECT MAX(l.unreferred_ratio_cut) "
               "FROM scheme_level l WHERE l.scheme_id = compensation_scheme.id), 0)")
    with op.batch_alter_table('scheme_level') as batch:
        batch.drop_constraint(op.f('ck_scheme_level_cut_range'), type_='check')
        batch.drop_column('unreferred_ratio_cut')
