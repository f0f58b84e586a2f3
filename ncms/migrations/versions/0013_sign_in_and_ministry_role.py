"""The ministry viewer's role; sign-in attempts, counted per account and address

``user_account.role`` takes 'ministry' (the column grows to its eight characters and the
CHECK constraint is rebuilt: on SQLite by copying the table). ``sign_in_attempt`` holds
every attempt, so that several server processes lock out the same accounts and addresses.

Revision ID: 0013
Revises: 0012
"""
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD_ROLES = ('admin', 'auditor', 'county')
NEW_ROLES = (*OLD_ROLES, 'ministry')


def _role(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='role', native_enum=False, create_constraint=True,
                   length=max(map(len, values)))


# the columns that refer to user_account (both nullable)
REFERRERS = (('audit_log', 'user_id'), ('finding_event', 'user_id'))


@contextmanager
def _references_kept() -> Iterator[None]:
    """SQLite alters user_account by copying it to a new table and dropping the old one, and with
    foreign keys on the drop fails while rows refer to it (PRAGMA foreign_keys cannot be turned
    off inside the migration's transaction): the references are set aside, emptied, and put back
    once the new copy holds the same ids (on PostgreSQL, which alters in place, nothing moves)."""
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for table, column in REFERRERS if sqlite else ():
        op.execute(f"CREATE TEMPORARY TABLE {table}_kept AS SELECT id, {column} FROM {table} "
                   f"WHERE {column} IS NOT NULL")
        op.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} IS NOT NULL")
    yield
    for table, column in REFERRERS if sqlite else ():
        op.execute(f"UPDATE {table} SET {column} = (SELECT k.{column} FROM {table}_kept k "
                   f"WHERE k.id = {table}.id) WHERE id IN (SELECT id FROM {table}_kept)")
        op.execute(f"DROP TABLE {table}_kept")


def _alter_role(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with _references_kept(), op.batch_alter_table('user_account') as batch:
        batch.alter_column('role', existing_type=_role(old), type_=_role(new), existing_nullable=False)


def upgrade() -> None:
    _alter_role(OLD_ROLES, NEW_ROLES)
    op.create_table('sign_in_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.Enum('ok', 'failed', 'refused', name='sign_in_outcome', native_enum=False,
                                 create_constraint=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_attempt'))
    )
    op.create_index('ix_sign_in_attempt_remote_addr_at', 'sign_in_attempt', ['remote_addr', 'at'], unique=False)
    op.create_index('ix_sign_in_attempt_username_at', 'sign_in_attempt', ['username', 'at'], unique=False)


def downgrade() -> None:
    # first: SQLite's DDL is not undone when a later step fails
    ministry = op.get_bind().scalar(sa.text("SELECT count(*) FROM user_account WHERE role = 'ministry'"))
    if ministry:
        raise RuntimeError(f"{ministry} ministry account(s) exist, a role revision 0012 does not know: "
                           "delete them (or keep this revision)")
    op.drop_index('ix_sign_in_attempt_username_at', table_name='sign_in_attempt')
    op.drop_index('ix_sign_in_attempt_remote_addr_at', table_name='sign_in_attempt')
    op.drop_table('sign_in_attempt')
    _alter_role(NEW_ROLES, OLD_ROLES)
