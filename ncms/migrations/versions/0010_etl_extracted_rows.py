"""etl_extracted_row: the key and hash of each source row the province compares; etl_watermark.source_rows

``etl_extracted_row`` holds, per county and stream, what the province last received of a
source row: every row of a stream extracted by full compare (``change: compare``), the
boundary rows of a watermark stream. ``etl_watermark.source_rows`` is how many source rows
were at or below a sequence watermark when it was saved, so ``ncms doctor`` can tell when
rows appeared below it later (a column that is not monotonic in practice).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('etl_extracted_row',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('source_key', sa.String(length=200), nullable=False),
    sa.Column('row_hash', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_etl_extracted_row_county_code_county')),
    sa.PrimaryKeyConstraint('county_code', 'stream', 'source_key', name=op.f('pk_etl_extracted_row'))
    )
    with op.batch_alter_table('etl_watermark') as batch:
        batch.add_column(sa.Column('source_rows', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('etl_watermark') as batch:
        batch.drop_column('source_rows')
    op.drop_table('etl_extracted_row')
