"""institution_month: each institution's features per month and the anomaly model's scores

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('institution_month',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('level', sa.Enum('village', 'township', 'county', 'municipal', 'provincial', 'out_of_province', name='institution_level', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('cases', sa.Integer(), nullable=False),
    sa.Column('stays', sa.Integer(), nullable=False),
    sa.Column('total_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('compensated_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('cost_per_case', sa.Double(), nullable=True),
    sa.Column('length_of_stay', sa.Double(), nullable=True),
    sa.Column('drug_share', sa.Double(), nullable=True),
    sa.Column('exam_share', sa.Double(), nullable=True),
    sa.Column('readmission_rate', sa.Double(), nullable=True),
    sa.Column('under_cap_share', sa.Double(), nullable=True),
    sa.Column('compensation_ratio', sa.Double(), nullable=True),
    sa.Column('growth', sa.Double(), nullable=True),
    sa.Column('out_of_county_share', sa.Double(), nullable=True),
    sa.Column('diagnosis_concentration', sa.Double(), nullable=True),
    sa.Column('robust_score', sa.Double(), nullable=True),
    sa.Column('model_score', sa.Double(), nullable=True),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('model_version', sa.String(length=32), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_institution_month_county_code_county')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_institution_month_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institution_month')),
    sa.UniqueConstraint('institution_id', 'year', 'month', name=op.f('uq_institution_month_institution_id_year_month'))
    )


def downgrade() -> None:
    op.drop_table('institution_month')
