"""a county's claims newest first: the index (county_code, id) for the API's claims list

A county officer's ``GET /api/v1/claims`` (and an auditor's with ``county=``) is a page of one
county's claims, newest id first. With only the primary key, PostgreSQL reads the claims
backwards by id and drops the other counties' (its estimate spreads a county evenly over the
ids, but a county's year arrives as one batch): 200,000 rows read for 51 at a million claims,
about 40 ms a page, over 300 ms under 20 clients. The list names the county as a one-value
range and orders by (county_code, id), which only this index delivers in order (bench/api).
Its upkeep on load: a batch is one county's and its ids grow, so each insert lands at the end
of that county's run of the index; at 300,000 claims it cost the claims' insert 0.3-0.45 s of
PostgreSQL CPU, about 4 % of the ingest's wall time (docs/ingestion.md).

Revision ID: 0021
Revises: 0020
"""
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_claim_county_id', 'claim', ['county_code', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_claim_county_id', table_name='claim')
