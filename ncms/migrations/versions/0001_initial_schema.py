"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 00:10:44.765061
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogue_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('category', sa.Enum('drug', 'exam', 'lab', 'treatment', 'material', 'bed', 'other', name='item_category', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('price', sa.Numeric(14, 2), nullable=False),
    sa.Column('covered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price >= 0', name=op.f('ck_catalogue_item_price_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_item')),
    sa.UniqueConstraint('code', name=op.f('uq_catalogue_item_code'))
    )
    op.create_table('claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('source_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.Enum('outpatient', 'inpatient', name='claim_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('member_no', sa.String(length=32), nullable=False),
    sa.Column('national_id', sa.String(length=18), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('admission_date', sa.Date(), nullable=False),
    sa.Column('discharge_date', sa.Date(), nullable=True),
    sa.Column('settlement_date', sa.Date(), nullable=False),
    sa.Column('diagnosis_code', sa.String(length=16), nullable=False),
    sa.Column('total_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('eligible_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('compensated_amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('referral', sa.Boolean(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('compensated_amount >= 0', name=op.f('ck_claim_compensated_positive')),
    sa.CheckConstraint('discharge_date IS NULL OR admission_date <= discharge_date', name=op.f('ck_claim_admission_le_discharge')),
    sa.CheckConstraint('eligible_amount >= 0 AND eligible_amount <= total_amount', name=op.f('ck_claim_eligible_le_total')),
    sa.CheckConstraint('settlement_date >= coalesce(discharge_date, admission_date)', name=op.f('ck_claim_settled_after_care')),
    sa.CheckConstraint('total_amount >= 0', name=op.f('ck_claim_total_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim')),
    sa.UniqueConstraint('county_code', 'source_id', name=op.f('uq_claim_county_code_source_id'))
    )
    op.create_table('claim_item',
    sa.Column('claim_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('item_code', sa.String(length=32), nullable=False),
    sa.Column('item_name', sa.String(length=128), nullable=True),
    sa.Column('category', sa.Enum('drug', 'exam', 'lab', 'treatment', 'material', 'bed', 'other', name='item_category', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('quantity', sa.Numeric(12, 3), nullable=False),
    sa.Column('unit_price', sa.Numeric(14, 2), nullable=False),
    sa.Column('amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('unmapped', sa.Boolean(), nullable=False),
    sa.CheckConstraint('line_no > 0', name=op.f('ck_claim_item_line_no_positive')),
    sa.PrimaryKeyConstraint('claim_id', 'line_no', name=op.f('pk_claim_item'))
    )
    op.create_table('county',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('name_en', sa.String(length=64), nullable=True),
    sa.Column('prefecture_code', sa.String(length=4), nullable=False),
    sa.Column('prefecture_name', sa.String(length=64), nullable=True),
    sa.Column('mode', sa.Enum('etl', 'gateway', name='deployment_mode', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('agricultural_population', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('agricultural_population >= 0', name=op.f('ck_county_population_positive')),
    sa.CheckConstraint('length(code) = 6', name=op.f('ck_county_code_length')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_county'))
    )
    op.create_index(op.f('ix_county_prefecture_code'), 'county', ['prefecture_code'], unique=False)
    op.create_table('institution',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('level', sa.Enum('village', 'township', 'county', 'municipal', 'provincial', 'out_of_province', name='institution_level', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('area_code', sa.String(length=6), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_institution')),
    sa.UniqueConstraint('code', name=op.f('uq_institution_code'))
    )
    op.create_index(op.f('ix_institution_area_code'), 'institution', ['area_code'], unique=False)
    op.create_index(op.f('ix_institution_level'), 'institution', ['level'], unique=False)
    op.create_table('restriction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('item', 'diagnosis', name='restriction_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('allowed_sex', sa.Enum('M', 'F', name='sex', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('min_age', sa.Integer(), nullable=True),
    sa.Column('max_age', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('allowed_sex IS NOT NULL OR min_age IS NOT NULL OR max_age IS NOT NULL', name=op.f('ck_restriction_restricts_something')),
    sa.CheckConstraint('min_age IS NULL OR max_age IS NULL OR min_age <= max_age', name=op.f('ck_restriction_age_bounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_restriction')),
    sa.UniqueConstraint('kind', 'code', name=op.f('uq_restriction_kind_code'))
    )
    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('source', sa.Enum('gateway', 'etl', 'api', name='batch_source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('received', 'loading', 'loaded', 'partial', 'rejected', 'failed', name='batch_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('package_seq', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('format_version', sa.String(length=16), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_loaded', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_batch_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch'))
    )
    op.create_index('ix_batch_county_seq', 'batch', ['county_code', 'package_seq'], unique=False)
    op.create_index(op.f('ix_batch_sha256'), 'batch', ['sha256'], unique=False)
    op.create_table('compensation_scheme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('annual_cap', sa.Numeric(14, 2), nullable=False),
    sa.Column('referral_required', sa.Boolean(), nullable=False),
    sa.Column('unreferred_ratio_cut', sa.Numeric(5, 4), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('annual_cap > 0', name=op.f('ck_compensation_scheme_cap_positive')),
    sa.CheckConstraint('unreferred_ratio_cut >= 0 AND unreferred_ratio_cut <= 1', name=op.f('ck_compensation_scheme_cut_range')),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_compensation_scheme_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compensation_scheme')),
    sa.UniqueConstraint('county_code', 'year', name=op.f('uq_compensation_scheme_county_code_year'))
    )
    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_code', sa.String(length=64), nullable=False),
    sa.Column('rule_version', sa.String(length=32), nullable=False),
    sa.Column('subject_key', sa.String(length=128), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('claim_id', sa.Integer(), nullable=True),
    sa.Column('institution_id', sa.Integer(), nullable=True),
    sa.Column('severity', sa.Enum('violation', 'suspicious', name='severity', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'sent_to_county', 'county_responded', 'confirmed', 'dismissed', 'closed', name='finding_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('amount_at_stake', sa.Numeric(14, 2), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=True),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_finding_claim_id_claim'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_finding_county_code_county')),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_finding_institution_id_institution')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding')),
    sa.UniqueConstraint('rule_code', 'subject_key', name=op.f('uq_finding_rule_code_subject_key'))
    )
    op.create_index('ix_finding_county_status', 'finding', ['county_code', 'status'], unique=False)
    op.create_table('fund_financing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('source', sa.Enum('individual', 'central', 'provincial', 'local', 'other', name='funding_source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('amount', sa.Numeric(14, 2), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('month BETWEEN 1 AND 12', name=op.f('ck_fund_financing_month_range')),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_fund_financing_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_financing')),
    sa.UniqueConstraint('county_code', 'year', 'month', 'source', name=op.f('uq_fund_financing_county_code_year_month_source'))
    )
    op.create_table('household',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('household_no', sa.String(length=32), nullable=False),
    sa.Column('head_name', sa.String(length=64), nullable=True),
    sa.Column('township', sa.String(length=64), nullable=True),
    sa.Column('village', sa.String(length=64), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_household_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household')),
    sa.UniqueConstraint('county_code', 'household_no', name=op.f('uq_household_county_code_household_no'))
    )
    op.create_table('report_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=True),
    sa.Column('status', sa.Enum('running', 'done', 'published', 'failed', name='report_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outputs', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_report_run_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_run')),
    sa.UniqueConstraint('kind', 'period_start', 'period_end', 'county_code', name=op.f('uq_report_run_kind_period_start_period_end_county_code'))
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=128), nullable=True),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.Enum('admin', 'auditor', 'county', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(role = 'county') = (county_code IS NOT NULL)", name=op.f('ck_user_account_county_scope')),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_user_account_county_code_county')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_audit_log_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_table('finding_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('raised', 'updated', 'status', 'comment', 'county_response', 'closed', 'reopened', name='finding_event_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('from_status', sa.Enum('open', 'sent_to_county', 'county_responded', 'confirmed', 'dismissed', 'closed', name='from_status', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('to_status', sa.Enum('open', 'sent_to_county', 'county_responded', 'confirmed', 'dismissed', 'closed', name='to_status', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], name=op.f('fk_finding_event_finding_id_finding'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_finding_event_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finding_event'))
    )
    op.create_index(op.f('ix_finding_event_finding_id'), 'finding_event', ['finding_id'], unique=False)
    op.create_table('member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('member_no', sa.String(length=32), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('national_id', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.Enum('M', 'F', name='sex', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('death_date IS NULL OR death_date >= birth_date', name=op.f('ck_member_death_after_birth')),
    sa.CheckConstraint('length(national_id) = 18', name=op.f('ck_member_national_id_length')),
    sa.ForeignKeyConstraint(['county_code'], ['county.code'], name=op.f('fk_member_county_code_county')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_member_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member')),
    sa.UniqueConstraint('county_code', 'member_no', name=op.f('uq_member_county_code_member_no'))
    )
    op.create_index(op.f('ix_member_national_id'), 'member', ['national_id'], unique=False)
    op.create_table('rejected_row',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('record_type', sa.String(length=32), nullable=False),
    sa.Column('file', sa.String(length=255), nullable=True),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('message_zh', sa.Text(), nullable=False),
    sa.Column('message_en', sa.Text(), nullable=False),
    sa.Column('record', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_rejected_row_batch_id_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_row'))
    )
    op.create_index(op.f('ix_rejected_row_batch_id'), 'rejected_row', ['batch_id'], unique=False)
    op.create_table('scheme_level',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scheme_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('outpatient', 'inpatient', name='claim_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('level', sa.Enum('village', 'township', 'county', 'municipal', 'provincial', 'out_of_province', name='institution_level', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('deductible', sa.Numeric(14, 2), nullable=False),
    sa.Column('ratio', sa.Numeric(5, 4), nullable=False),
    sa.Column('per_visit_cap', sa.Numeric(14, 2), nullable=True),
    sa.CheckConstraint('deductible >= 0', name=op.f('ck_scheme_level_deductible_positive')),
    sa.CheckConstraint('ratio > 0 AND ratio <= 1', name=op.f('ck_scheme_level_ratio_range')),
    sa.ForeignKeyConstraint(['scheme_id'], ['compensation_scheme.id'], name=op.f('fk_scheme_level_scheme_id_compensation_scheme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheme_level')),
    sa.UniqueConstraint('scheme_id', 'kind', 'level', name=op.f('uq_scheme_level_scheme_id_kind_level'))
    )
    op.create_table('enrolment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('contribution', sa.Numeric(14, 2), nullable=False),
    sa.Column('enrolled_on', sa.Date(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('contribution >= 0', name=op.f('ck_enrolment_contribution_positive')),
    sa.CheckConstraint('year BETWEEN 2003 AND 2100', name=op.f('ck_enrolment_year_range')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_enrolment_member_id_member'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment')),
    sa.UniqueConstraint('member_id', 'year', name=op.f('uq_enrolment_member_id_year'))
    )
    op.create_index('ix_enrolment_year', 'enrolment', ['year'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_enrolment_year', table_name='enrolment')
    op.drop_table('enrolment')
    op.drop_table('scheme_level')
    op.drop_index(op.f('ix_rejected_row_batch_id'), table_name='rejected_row')
    op.drop_table('rejected_row')
    op.drop_index(op.f('ix_member_national_id'), table_name='member')
    op.drop_table('member')
    op.drop_index(op.f('ix_finding_event_finding_id'), table_name='finding_event')
    op.drop_table('finding_event')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('user_account')
    op.drop_table('report_run')
    op.drop_table('household')
    op.drop_table('fund_financing')
    op.drop_index('ix_finding_county_status', table_name='finding')
    op.drop_table('finding')
    op.drop_table('compensation_scheme')
    op.drop_index(op.f('ix_batch_sha256'), table_name='batch')
    op.drop_index('ix_batch_county_seq', table_name='batch')
    op.drop_table('batch')
    op.drop_table('restriction')
    op.drop_index(op.f('ix_institution_level'), table_name='institution')
    op.drop_index(op.f('ix_institution_area_code'), table_name='institution')
    op.drop_table('institution')
    op.drop_index(op.f('ix_county_prefecture_code'), table_name='county')
    op.drop_table('county')
    op.drop_table('claim_item')
    op.drop_table('claim')
    op.drop_table('catalogue_item')
