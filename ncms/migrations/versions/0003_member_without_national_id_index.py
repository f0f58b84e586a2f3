"""member loses its national ID index

No query of the platform looks members up by national ID one at a time: the rules that
compare people across counties (the same person enrolled twice, care after death) join
or group whole tables, which a hash join does without an index. Kept, it was the most
expensive of the member table's three indexes to maintain while loading, since national
IDs arrive in no order: loading one county's 103,504 members on PostgreSQL took
0.92-1.24 s with it and 0.65-0.84 s without (three runs, two). A page that looks a person
up by national ID should bring its own index, measured.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_member_national_id', table_name='member')


def downgrade() -> None:
    op.create_index('ix_member_national_id', 'member', ['national_id'], unique=False)
