"""Revision 0013 keeps every account and what refers to them, forwards and backwards."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from ncms import migrate


def test_role_constraint_rebuilt_with_accounts_and_their_audit_rows(bare_engine):
    migrate.upgrade(bare_engine, "0012")
    with bare_engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO user_account (id, username, password_hash, role, active, created_at, updated_at) "
            "VALUES (7, 'wang', 'x', 'auditor', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(sa.text("INSERT INTO audit_log (at, user_id, actor, action) "
                             "VALUES (CURRENT_TIMESTAMP, 7, 'wang', 'sign_in')"))
    migrate.upgrade(bare_engine, "0013")
    with bare_engine.begin() as conn:
        assert conn.execute(sa.text("SELECT username, role FROM user_account")).all() == [("wang", "auditor")]
        assert conn.scalar(sa.text("SELECT user_id FROM audit_log")) == 7
        conn.execute(sa.text(
            "INSERT INTO user_account (username, password_hash, role, active, created_at, updated_at) "
            "VALUES ('min', 'x', 'ministry', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with pytest.raises(sa.exc.IntegrityError), bare_engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO user_account (username, password_hash, role, active, created_at, updated_at) "
            "VALUES ('bad', 'x', 'nobody', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with pytest.raises(RuntimeError, match="ministry account"):
        migrate.downgrade(bare_engine, "0012")
    with bare_engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM user_account WHERE role = 'ministry'"))
    migrate.downgrade(bare_engine, "0012")
    with bare_engine.begin() as conn:
        assert conn.scalar(sa.text("SELECT user_id FROM audit_log")) == 7
        assert conn.execute(sa.text("SELECT username, role FROM user_account")).all() == [("wang", "auditor")]
    with pytest.raises((sa.exc.IntegrityError, sa.exc.DataError)), bare_engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO user_account (username, password_hash, role, active, created_at, updated_at) "
            "VALUES ('min', 'x', 'ministry', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
