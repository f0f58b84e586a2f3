"""Summary tables of the indicators: claims per county, month, kind and level; enrolment per
county and year; findings per county, month, rule and institution (docs/indicators.md)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

KINDS = ('outpatient', 'inpatient')
LEVELS = ('village', 'township', 'county', 'municipal', 'provincial', 'out_of_province')


def _money(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(14, 2), nullable=False)


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table('county_month_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    _count('year'), _count('month'),
    sa.Column('kind', sa.Enum(*KINDS, name='claim_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('level', sa.Enum(*LEVELS, name='institution_level', native_enum=False, create_constraint=True),
              nullable=False),
    _count('claims'), _count('compensated_claims'), _count('voided'), _count('out_of_county'), _count('referred'),
    _count('bed_days'), _money('total_amount'), _money('eligible_amount'), _money('compensated_amount'),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_county_month_summary')),
    sa.UniqueConstraint('county_code', 'year', 'month', 'kind', 'level',
                        name=op.f('uq_county_month_summary_county_code_year_month_kind_level'))
    )
    op.create_table('county_year_enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    _count('year'), _count('members'), _count('households'), _money('contributions'),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_county_year_enrolment')),
    sa.UniqueConstraint('county_code', 'year', name=op.f('uq_county_year_enrolment_county_code_year'))
    )
    op.create_table('finding_month_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    _count('year'), _count('month'),
    sa.Column('rule_code', sa.String(length=64), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    _count('findings'), _count('undecided'), _count('confirmed'), _count('dismissed'), _count('closed'),
    _money('amount'), _money('money_at_stake'), _money('confirmed_money'),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_month_summary'))
    )
    op.create_index('ix_finding_month_summary_county_year', 'finding_month_summary',
                    ['county_code', 'year', 'month'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_finding_month_summary_county_year', table_name='finding_month_summary')
    op.drop_table('finding_month_summary')
    op.drop_table('county_year_enrolment')
    op.drop_table('county_month_summary')
