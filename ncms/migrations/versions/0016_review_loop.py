"""The review loop of findings (疑点推送 → 说明/申诉 → 复核 → 认定/追回, docs/review.md)

``finding`` gains who has it (``assignee_id``), when it was pushed to the county and by when the
county must answer, the send-backs, the decision (who, when, money to recover, money recovered),
whether a rerun found it no longer holds while the county had it, and a ``version`` that grows
at every change (two people deciding at once: one wins). ``finding_event`` gains the step's
amount, deadline, kind of answer and assignee, and its ``kind`` the loop's steps.
``finding_attachment``: the files of a step; ``rule_exception``: accepted practice, honoured by
the runs (``rule_run.excepted``); ``saved_filter``: the workbench's named filters.

On SQLite the new columns of ``finding`` are added in place (``ALTER TABLE … ADD COLUMN``):
copying the table, as a batch alteration does, would drop the old one and with it, through
``ON DELETE CASCADE``, every event of every finding.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OLD_KINDS = ('raised', 'updated', 'status', 'comment', 'county_response', 'closed', 'reopened')
NEW_KINDS = (*OLD_KINDS, 'assigned', 'pushed', 'sent_back', 'determined', 'recovered', 'dismissed', 'exception')


def _kind(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name='finding_event_kind', native_enum=False, create_constraint=True,
                   length=max(map(len, values)))


def _finding_columns() -> list[sa.Column]:
    return [
        sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
        sa.Column('assignee_id', sa.Integer(), sa.ForeignKey('user_account.id',
                  name='fk_finding_assignee_id_user_account'), nullable=True),
        sa.Column('pushed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('due_on', sa.Date(), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('send_backs', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.Integer(), sa.ForeignKey('user_account.id',
                  name='fk_finding_decided_by_user_account'), nullable=True),
        sa.Column('amount_to_recover', sa.Numeric(14, 2), nullable=True),
        sa.Column('amount_recovered', sa.Numeric(14, 2), server_default=sa.text('0'), nullable=False),
        sa.Column('stopped_holding_at', sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    op.create_table('saved_filter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_saved_filter_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filter')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_saved_filter_user_id_name'))
    )
    op.create_table('rule_exception',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_code', sa.String(length=64), nullable=False),
    sa.Column('subject_kind', sa.Enum('institution', 'item', 'diagnosis', name='exception_subject', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('subject_code', sa.String(length=64), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_rule_exception_county_code_county')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_rule_exception_created_by_user_account')),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_rule_exception_finding_id_finding'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by'], ['user_account.id'], name=op.f('fk_rule_exception_revoked_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_exception'))
    )
    with op.batch_alter_table('rule_exception', schema=None) as batch_op:
        batch_op.create_index('ix_rule_exception_rule_code', ['rule_code', 'subject_kind'], unique=False)

    # before finding_attachment refers to it: SQLite alters it by copying
    with op.batch_alter_table('finding_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.Numeric(14, 2), nullable=True))
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('answer_kind', sa.Enum('explanation', 'appeal', name='answer_kind', native_enum=False, create_constraint=True), nullable=True))
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_finding_event_assignee_id_user_account'), 'user_account', ['assignee_id'], ['id'])
        batch_op.alter_column('kind', existing_type=_kind(OLD_KINDS), type_=_kind(NEW_KINDS), existing_nullable=False)

    op.create_table('finding_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=128), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by', sa.Integer(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['finding_event.id'], name=op.f('fk_finding_attachment_event_id_finding_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_finding_attachment_finding_id_finding'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by'], ['user_account.id'], name=op.f('fk_finding_attachment_uploaded_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_attachment'))
    )
    with op.batch_alter_table('finding_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_attachment_event_id'), ['event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finding_attachment_finding_id'), ['finding_id'], unique=False)

    sqlite = op.get_bind().dialect.name == 'sqlite'
    for column in _finding_columns():  # in place on both databases (see above)
        if sqlite and column.foreign_keys:  # Alembic would add the constraint apart, which SQLite cannot
            op.execute(f"ALTER TABLE finding ADD COLUMN {column.name} INTEGER REFERENCES user_account (id)")
        else:
            op.add_column('finding', column)
    op.create_index('ix_finding_assignee_id', 'finding', ['assignee_id'], unique=False)
    op.create_index('ix_finding_status_due_on', 'finding', ['status', 'due_on'], unique=False)

    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excepted', sa.Integer(), server_default=sa.text('0'), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('rule_run', schema=None) as batch_op:
        batch_op.drop_column('excepted')

    kinds = ', '.join(f"'{k}'" for k in NEW_KINDS[len(OLD_KINDS):])
    op.execute(f"DELETE FROM finding_event WHERE kind IN ({kinds})")  # steps 0015 cannot name
    with op.batch_alter_table('finding_event', schema=None) as batch_op:
        batch_op.alter_column('kind', existing_type=_kind(NEW_KINDS), type_=_kind(OLD_KINDS), existing_nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_finding_event_assignee_id_user_account'), type_='foreignkey')
        batch_op.drop_column('assignee_id')
        batch_op.drop_constraint('answer_kind', type_='check')
        batch_op.drop_column('answer_kind')
        batch_op.drop_column('due_on')
        batch_op.drop_column('amount')

    op.drop_index('ix_finding_status_due_on', table_name='finding')
    op.drop_index('ix_finding_assignee_id', table_name='finding')
    sqlite = op.get_bind().dialect.name == 'sqlite'
    for column in reversed(_finding_columns()):
        if column.foreign_keys and not sqlite:
            op.drop_constraint(next(iter(column.foreign_keys)).name, 'finding', type_='foreignkey')
        op.drop_column('finding', column.name)  # SQLite 3.35+ drops a column in place

    with op.batch_alter_table('finding_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_attachment_finding_id'))
        batch_op.drop_index(batch_op.f('ix_finding_attachment_event_id'))

    op.drop_table('finding_attachment')
    with op.batch_alter_table('rule_exception', schema=None) as batch_op:
        batch_op.drop_index('ix_rule_exception_rule_code')

    op.drop_table('rule_exception')
    op.drop_table('saved_filter')
