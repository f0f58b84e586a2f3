"""households, members and enrolments lose their foreign keys; enrolment loses its year index

The loader is the only writer of these tables and resolves every reference by a join, as
it already did for claims. Measured on 1.45 million rows on PostgreSQL: the per-row
foreign-key triggers took 5 of 32 seconds of ingestion. The year index on enrolment served
no query and made PostgreSQL probe it row by row while loading (the load's anti-join
chose it over the unique key): 46 s instead of 2 s.

Revision ID: 0002
Revises: 0001
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

DROPPED = [
    ('household', 'fk_household_county_code_county', ['county_code'], 'county', ['code'], None),
    ('member', 'fk_member_county_code_county', ['county_code'], 'county', ['code'], None),
    ('member', 'fk_member_household_id_household', ['household_id'], 'household', ['id'], None),
    ('enrolment', 'fk_enrolment_member_id_member', ['member_id'], 'member', ['id'], 'CASCADE'),
]


def upgrade() -> None:
    op.drop_index('ix_enrolment_year', table_name='enrolment')
    for table, name, *_ in DROPPED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_='foreignkey')


def downgrade() -> None:
    for table, name, local, remote, remote_cols, ondelete in reversed(DROPPED):
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, remote, local, remote_cols, ondelete=ondelete)
    op.create_index('ix_enrolment_year', 'enrolment', ['year'], unique=False)
