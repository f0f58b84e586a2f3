"""on PostgreSQL, claims and members are indexed by national ID

Three rules and an incremental run look people up by national ID: duplicate claim (two
claims of one person on one day), duplicate enrolment (one national ID registered twice),
care after death (the claims of the dead), and an incremental run gathering every claim of
the people with new rows. Without an index each hashed or scanned the whole table; with
one, PostgreSQL groups the index in its order and looks the few people found up. At a
million claims, each query alone: duplicate claim 1.25 -> 0.18 s, duplicate enrolment
0.75 -> 0.20 s, care after death 0.26 -> 0.10 s; loading the province end to end took no
measurably longer (22.2-25.2 s without, 22.8-23.6 s with).

SQLite does without: there the indexes' upkeep made the bulk load about 9 % slower
(40.3-49.3 s against 45.5-47.5 s), where its load stood at 52 % of the raw insert limit
against a floor of 50 %. (Revision 0003 had dropped the member's index when no query used
it; 0006 had done without the claims' for what it cost a load.)

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index('ix_claim_person', 'claim', ['national_id', 'admission_date'], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index('ix_claim_person', table_name='claim')
