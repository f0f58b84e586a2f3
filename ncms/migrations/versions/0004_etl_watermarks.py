"""etl_watermark: how far each stream of a centralised county's database has been extracted

One row per county and stream (member, enrolment, claim, financing), moved by the ETL only
after the batch that reached it has loaded.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('etl_watermark',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_etl_watermark_batch_id_batch'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_etl_watermark_county_code_county')),
    sa.PrimaryKeyConstraint('county_code', 'stream', name=op.f('pk_etl_watermark'))
    )


def downgrade() -> None:
    op.drop_table('etl_watermark')
