"""indexes for the institution, member and claim pages: a member's claims, an institution's
claims of a period, the findings of a claim and of an institution

A page reads by primary key, by member or by institution and period, never the whole table
(docs/web.md). Claims had no index by person or by institution (the monitor reads them set-wise);
the member index also serves the recompute of a claim's compensation (what the member received
earlier that year).

Revision ID: 0015
Revises: 0014
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_claim_member', 'claim', ['member_no', 'county_code'], unique=False)
    op.create_index('ix_claim_institution_admission', 'claim', ['institution_id', 'admission_date'], unique=False)
    op.create_index('ix_finding_claim_id', 'finding', ['claim_id'], unique=False)
    op.create_index('ix_finding_institution_id', 'finding', ['institution_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_finding_institution_id', table_name='finding')
    op.drop_index('ix_finding_claim_id', table_name='finding')
    op.drop_index('ix_claim_institution_admission', table_name='claim')
    op.drop_index('ix_claim_member', table_name='claim')
