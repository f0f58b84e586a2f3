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


def test_serve_says_when_no_account_can_sign_in(cli, settings):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    assert cli("db", "upgrade").exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ncms = Path(sys.executable).with_name("ncms")
    env = dict(os.environ, NCMS_DATA_DIR=str(settings.data_dir), NCMS_DATABASE_URL=settings.database_url)
    server = subprocess.Popen([str(ncms), "serve", "--port", str(port)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        lines = [server.stdout.readline() for _ in range(2)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert lines[0].startswith(f"serving on http://127.0.0.1:{port}/")
    assert "`ncms users create NAME --role admin`" in lines[1]
