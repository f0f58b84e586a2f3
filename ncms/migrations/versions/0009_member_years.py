"""member_year: each member's year of care summed up (claims, stays, institutions, money)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('member_year',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('member_no', sa.String(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('stays', sa.Integer(), nullable=False),
    sa.Column('stay_days', sa.Integer(), nullable=False),
    sa.Column('institutions', sa.Integer(), nullable=False),
    sa.Column('out_of_county', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('compensated_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('largest_claim', sa.Numeric(14, 2), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_year')),
    sa.UniqueConstraint('member_no', 'county_code', 'year', name=op.f('uq_member_year_member_no_county_code_year'))
    )


def downgrade() -> None:
    op.drop_table('member_year')
