"""``ncms users create`` knows the ministry viewer's role, and refuses names a sign-in form cannot take."""
from __future__ import annotations

import pytest

from ncms.accounts import AccountError, create_user
from ncms.models import Role


def test_a_ministry_viewer_is_created_from_the_command_line(cli):
    assert cli("db", "upgrade").exit_code == 0
    made = cli("users", "create", "weisheng", "--role", "ministry", env={"NCMS_NEW_PASSWORD": "long-enough-secret"})
    assert made.exit_code == 0 and "created ministry weisheng" in made.output
    assert "weisheng             ministry  province" in cli("users", "list").output


@pytest.mark.parametrize("name", ["wang fang", " wang", "wang\t", "", "x" * 65])
def test_usernames_with_spaces_or_too_long_are_refused(cli, name):
    assert cli("db", "upgrade").exit_code == 0
    refused = cli("users", "create", name, env={"NCMS_NEW_PASSWORD": "long-enough-secret"})
    assert refused.exit_code == 1 and "no spaces" in refused.output


def test_a_ministry_viewer_has_no_county(session):
    with pytest.raises(AccountError, match="only for it"):
        create_user(session, "weisheng", Role.MINISTRY, "long-enough-secret", county_code="520121")
