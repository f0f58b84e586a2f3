"""indexes for the findings workbench (/findings/): a page of findings sorted by when they were
first seen (the default: newest first) or by money at stake, either way

The workbench cuts a page of 50 out of every finding the filter keeps (100,000 in the bench),
sorted with the id as the tie-break in the same direction; with an index on (column, id) a page
is read in order instead of sorting every finding (docs/web.md, "The workbench"). The other
columns are small sets (status, severity, county, rule) or joined names, sorted after the filter.
``ix_finding_workbench`` holds the columns the filters and counts read, so that the counts per
status (one GROUP BY over what the filter keeps) are an index-only scan of a narrow index instead
of a scan of the table's wide rows (evidence and parameters): 18 ms against 47 ms at 100,000;
with the institution and the id in it too, a page's 50 ids are cut from it alone under any filter
but the period's and any sort but by a name.

Revision ID: 0018
Revises: 0017
"""
from alembic import op


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_finding_first_seen_at', 'finding', ['first_seen_at', 'id'], unique=False)
    op.create_index('ix_finding_amount_at_stake', 'finding', ['amount_at_stake', 'id'], unique=False)
    op.create_index('ix_finding_workbench', 'finding', ['status', 'severity', 'county_code', 'rule_code',
                                                        'amount_at_stake', 'first_seen_at', 'assignee_id', 'due_on',
                                                        'institution_id', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_finding_workbench', table_name='finding')
    op.drop_index('ix_finding_amount_at_stake', table_name='finding')
    op.drop_index('ix_finding_first_seen_at', table_name='finding')
