"""institution_month: the window each row sums (month, quarter or year to date) and the
features of the institution-level patterns (cost per visit and per stay, short cheap stays,
long cheap stays, cost per bed day, admissions per enrolled member of the area and per outpatient visit)

A township health centre with 10-40 stays a year is judged over a quarter or the year to
date instead of a month: ``window`` says which, ``months`` how many months it spans from
(``year``, ``month``); ``visits`` the outpatient visits of it.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

FEATURES = ('cost_per_visit', 'cost_per_stay', 'short_cheap_share', 'long_cheap_share', 'cost_per_bed_day',
            'admissions_per_member', 'admissions_per_visit')


def upgrade() -> None:
    with op.batch_alter_table('institution_month') as batch:
        batch.add_column(sa.Column('time_window', sa.String(length=8), server_default='month', nullable=False))
        batch.add_column(sa.Column('months', sa.Integer(), server_default='1', nullable=False))
        batch.add_column(sa.Column('visits', sa.Integer(), server_default='0', nullable=False))
        for name in FEATURES:
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('institution_month') as batch:
        for name in reversed(FEATURES):
            batch.drop_column(name)
        batch.drop_column('visits')
        batch.drop_column('months')
        batch.drop_column('time_window')
