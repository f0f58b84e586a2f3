"""a member's claims by a hash index of the member number (PostgreSQL), not a B-tree

Every query that asks for a member's claims names the member number (and the county) with an
equality: the member and claim pages, a claim's compensation recomputed, the not-enrolled rule.
None reads the index in order. Claims arrive in no order of member number, so each insert into
the B-tree (member_no, county_code) descended to a random leaf: a plain ``COPY`` of 1,000,000
claims took 10.3 s with the primary and the unique key, 15.3 s with this B-tree too, 13.2 s
with a hash index of the member number instead (docs/ingestion.md). The county is then checked
on the few rows a number finds (a member number belongs to one county in practice). SQLite has
no hash index: it gets a B-tree of the member number.

Revision ID: 0022
Revises: 0021
"""
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_claim_member', table_name='claim')
    op.create_index('ix_claim_member', 'claim', ['member_no'], unique=False, postgresql_using='hash')


def downgrade() -> None:
    op.drop_index('ix_claim_member', table_name='claim')
    op.create_index('ix_claim_member', 'claim', ['member_no', 'county_code'], unique=False)
