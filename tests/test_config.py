"""Settings come from defaults, an instance file and the environment, read only when asked."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ncms.config import ConfigError, load_settings


def test_defaults_live_in_the_data_folder(tmp_path):
    s = load_settings({}, cwd=tmp_path)
    assert s.data_dir == tmp_path / "var"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'ncms.db'}"
    assert (s.spool_dir, s.archive_dir, s.reports_dir) == (
        tmp_path / "var" / "spool", tmp_path / "var" / "archive", tmp_path / "var" / "reports")
    assert s.config_dir == tmp_path / "config"
    assert s.locale == "zh_Hans_CN" and s.port == 5000


def test_environment_wins_over_file_and_overrides_win_over_environment(tmp_path):
    (tmp_path / "ncms.toml").write_text('[ncms]\nport = 6000\nlog_level = "debug"\nlocale = "en"\n')
    env = {"NCMS_CONFIG_FILE": "ncms.toml", "NCMS_PORT": "7000",
           "NCMS_DATABASE_URL": "postgresql://x@127.0.0.1/ncms"}
    s = load_settings(env, cwd=tmp_path)
    assert s.port == 7000  # environment over file
    assert s.log_level == "DEBUG" and s.locale == "en"  # from the file
    assert s.database_url == "postgresql://x@127.0.0.1/ncms"
    assert s.source_file == tmp_path / "ncms.toml"
    assert load_settings(env, cwd=tmp_path, port=8000).port == 8000


@pytest.mark.parametrize("content, message", [
    ("port = ", "not valid TOML"),
    ("colour = 'blue'", r"ncms.toml:1: colour: no such setting; allowed: data_dir"),
])
def test_bad_instance_file_says_what_is_wrong(tmp_path, content, message):
    (tmp_path / "ncms.toml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_settings({"NCMS_CONFIG_FILE": str(tmp_path / "ncms.toml")})


def test_missing_instance_file_and_bad_port_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"NCMS_CONFIG_FILE": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match="NCMS_PORT: 'http' is not allowed; allowed: a whole number"):
        load_settings({"NCMS_PORT": "http"})


def test_loading_jobs_one_on_sqlite_per_core_on_postgresql(tmp_path, monkeypatch):
    pg = "postgresql://ncms@db/ncms"
    assert load_settings({}, cwd=tmp_path).loading_jobs() == 1
    assert load_settings({"NCMS_INGEST_JOBS": "3"}, cwd=tmp_path).loading_jobs() == 1  # one writer
    assert load_settings({}, cwd=tmp_path).loading_jobs(3) == 1  # whatever a command asks
    assert load_settings({"NCMS_INGEST_JOBS": "3", "NCMS_DATABASE_URL": pg}, cwd=tmp_path).loading_jobs() == 3
    assert load_settings({"NCMS_INGEST_JOBS": "3", "NCMS_DATABASE_URL": pg}, cwd=tmp_path).loading_jobs(2) == 2
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert load_settings({"NCMS_DATABASE_URL": pg}, cwd=tmp_path).loading_jobs() == 2
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert load_settings({"NCMS_DATABASE_URL": pg}, cwd=tmp_path).loading_jobs() == 4
    with pytest.raises(ConfigError, match="NCMS_INGEST_JOBS: .-1. is not allowed; allowed: a whole number, 0 or more"):
        load_settings({"NCMS_INGEST_JOBS": "-1"}, cwd=tmp_path)


def test_rule_jobs_one_per_core_but_one_on_an_in_memory_sqlite(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert load_settings({}, cwd=tmp_path).rule_jobs() == 2  # a SQLite file: readers side by side
    assert load_settings({"NCMS_MONITOR_JOBS": "3"}, cwd=tmp_path).rule_jobs() == 3
    assert load_settings({"NCMS_DATABASE_URL": "sqlite://"}, cwd=tmp_path).rule_jobs() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert load_settings({"NCMS_DATABASE_URL": "postgresql://ncms@db/ncms"}, cwd=tmp_path).rule_jobs() == 4
    with pytest.raises(ConfigError, match="NCMS_MONITOR_JOBS: .-1. is not allowed; allowed: a whole number, 0 or more"):
        load_settings({"NCMS_MONITOR_JOBS": "-1"}, cwd=tmp_path)


def test_secret_key_is_generated_once_private_and_stable(tmp_path):
    s = load_settings({}, cwd=tmp_path)
    first = s.with_secret_key()
    key_file = tmp_path / "var" / "secret_key"
    assert len(first.secret_key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert s.with_secret_key().secret_key == first.secret_key
    assert load_settings({}, cwd=tmp_path / "other").with_secret_key().secret_key != first.secret_key
    assert "secret" not in repr(first) or first.secret_key not in repr(first)


def test_importing_the_code_reads_no_environment(tmp_path):
    """Every module imports cleanly with a broken environment: nothing is read until asked."""
    code = (
        "import importlib, pkgutil, ncms, gateway, reports\n"
        "for pkg in (ncms, gateway, reports):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if '.migrations' not in m.name and not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "print('imported')\n"
    )
    env = dict(os.environ, NCMS_PORT="not-a-port", NCMS_CONFIG_FILE=str(tmp_path / "missing.toml"),
               NCMS_DATA_DIR="/proc/forbidden")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "imported"
    assert list(tmp_path.iterdir()) == []


def test_create_app_does_no_io(tmp_path):
    """The factory wires things up; it neither connects nor creates files."""
    from ncms.web import create_app

    missing = tmp_path / "nowhere"
    s = load_settings({}, data_dir=str(missing), database_url=f"sqlite:///{missing / 'db.sqlite'}")
    app = create_app(s)
    assert app.extensions["ncms.engine"].pool.checkedout() == 0
    assert not missing.exists()
    pg = load_settings({}, database_url="postgresql://nobody@127.0.0.1:1/none")
    create_app(pg)  # an unreachable server is fine until the first request


def test_core_never_imports_gateway_reports_or_dags():
    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in (root / "ncms").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and words[1].split(".")[0] in ("gateway", "reports", "dags"):
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    for path in (root / "gateway").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and words[1].split(".")[0] == "ncms":
                offenders.append(f"{path.relative_to(root)}: {line.strip()}")
    assert offenders == []
