"""reports to the ministry: revisions of a report, what each supersedes, its package; every send

``report_run`` was one row per kind, period and county. A report is now built again as a
correction: each build is a revision (``revision``, numbered per kind, period, province or
county — ``scope`` — and language) that names the one it supersedes, with the package the
ministry receives (name, SHA-256, size). ``report_send``: every push of a package to the
ministry's SFTP endpoint, with its time, checksum (sent and read back) and outcome, and when a
failed one is retried (docs/reports.md).

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OUTCOMES = ('sending', 'sent', 'already_sent', 'failed')


def upgrade() -> None:
    with op.batch_alter_table('report_run') as batch:
        batch.drop_constraint('uq_report_run_kind_period_start_period_end_county_code', type_='unique')
        batch.add_column(sa.Column('scope', sa.String(length=16), server_default='province', nullable=False))
        batch.add_column(sa.Column('lang', sa.String(length=8), server_default='zh', nullable=False))
        batch.add_column(sa.Column('revision', sa.Integer(), server_default=sa.text('1'), nullable=False))
        batch.add_column(sa.Column('supersedes_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('requested_by', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('folder', sa.String(length=255), nullable=True))
        batch.add_column(sa.Column('package', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('package_sha256', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('package_bytes', sa.BigInteger(), nullable=True))
        batch.create_foreign_key(op.f('fk_report_run_supersedes_id_report_run'), 'report_run',
                                 ['supersedes_id'], ['id'])
    op.execute("UPDATE report_run SET scope = county_code WHERE county_code IS NOT NULL")
    with op.batch_alter_table('report_run') as batch:
        batch.create_unique_constraint(
            op.f('uq_report_run_kind_period_start_period_end_scope_lang_revision'),
            ['kind', 'period_start', 'period_end', 'scope', 'lang', 'revision'])
    op.create_table('report_send',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=255), nullable=False),
    sa.Column('remote_path', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('verified_sha256', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.Enum(*OUTCOMES, name='report_send_outcome', native_enum=False, create_constraint=True,
                                 length=max(map(len, OUTCOMES))), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bytes_sent', sa.BigInteger(), nullable=False),
    sa.Column('resumed_from', sa.BigInteger(), nullable=False),
    sa.Column('connections', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['report_run.id'], name=op.f('fk_report_send_run_id_report_run'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_send')),
    sa.UniqueConstraint('run_id', 'attempt', name=op.f('uq_report_send_run_id_attempt'))
    )
    op.create_index('ix_report_send_outcome', 'report_send', ['outcome'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_report_send_outcome', table_name='report_send')
    op.drop_table('report_send')
    # every revision but the newest of each report goes: the old table held one row per report
    op.execute("UPDATE report_run SET supersedes_id = NULL")
    op.execute("DELETE FROM report_run WHERE id IN (SELECT r.id FROM report_run r JOIN report_run n "
               "ON n.kind = r.kind AND n.period_start = r.period_start AND n.period_end = r.period_end "
               "AND n.scope = r.scope AND (n.revision > r.revision OR (n.revision = r.revision AND n.id > r.id)))")
    with op.batch_alter_table('report_run') as batch:
        batch.drop_constraint('uq_report_run_kind_period_start_period_end_scope_lang_revision', type_='unique')
        batch.drop_constraint('fk_report_run_supersedes_id_report_run', type_='foreignkey')
        for column in ('package_bytes', 'package_sha256', 'package', 'folder', 'requested_by', 'supersedes_id',
                       'revision', 'lang', 'scope'):
            batch.drop_column(column)
        batch.create_unique_constraint('uq_report_run_kind_period_start_period_end_county_code',
                                       ['kind', 'period_start', 'period_end', 'county_code'])
