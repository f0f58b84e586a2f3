"""``ncms doctor`` checks for real: a connection to every centralised county's database (MariaDB
here, and a closed or silent port on loopback), the tables its mapping reads, and the spool
folders the gateway's accounts leave."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from ncms.config import load_settings
from ncms.doctor import FAIL, OK, WARN, check_county_source, check_county_sources, check_etl_mappings, check_spool
from ncms.ingest.mapping import load_mapping

from .conftest import CONFIG_DIR
from .test_etl import COUNTY, county_db  # noqa: F401  (vendor A's tables in MariaDB)


@pytest.fixture
def doctor_settings(tmp_path):  # type: ignore[no-untyped-def]
    return load_settings({}, data_dir=str(tmp_path / "var"), config_dir=str(CONFIG_DIR))


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return int(listener.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("scheme", ["mysql", "postgresql"])
def test_an_unreachable_county_database_is_a_failure_naming_county_and_url(doctor_settings, closed_port,
                                                                           scheme) -> None:  # type: ignore[no-untyped-def]
    url = f"{scheme}://reader:SECRET@127.0.0.1:{closed_port}/ncms"
    checks = check_county_sources(doctor_settings, None, {f"NCMS_SOURCE_{COUNTY}": url})
    [check] = [c for c in checks if COUNTY in c.name]
    assert check.status == FAIL and check.name == f"county {COUNTY} database"
    assert f"reader:***@127.0.0.1:{closed_port}/ncms" in check.detail and "SECRET" not in check.detail
    assert f"NCMS_SOURCE_{COUNTY}" in check.fix and "reachable" in check.fix


@pytest.mark.parametrize("url, kind", [("reader:SECRET@db/ncms", "not a URL"),
                                       ("oracle2://reader:SECRET@db/ncms", "no driver installed for it")])
def test_a_county_database_url_that_is_no_url_is_a_failure_that_keeps_its_secret(url, kind) -> None:  # type: ignore[no-untyped-def]
    [check] = check_county_source(load_mapping(CONFIG_DIR, COUNTY), url, None)
    assert (check.status, check.detail) == (FAIL, f"NCMS_SOURCE_{COUNTY}: {kind}")
    assert "SECRET" not in check.detail + check.fix


def test_a_county_database_that_never_answers_fails_within_the_timeout(doctor_settings, silent_port) -> None:  # type: ignore[no-untyped-def]
    mapping = load_mapping(CONFIG_DIR, COUNTY)
    started = time.monotonic()
    [check] = check_county_source(mapping, f"mysql://reader@127.0.0.1:{silent_port}/ncms", None, timeout=1)
    assert check.status == FAIL and "timed out" in check.detail
    assert time.monotonic() - started < 10


def test_a_county_database_answers_for_every_table_it_maps(doctor_settings, county_db) -> None:  # type: ignore[no-untyped-def]
    url = county_db.url.render_as_string(hide_password=False)
    env = {f"NCMS_SOURCE_{COUNTY}": url}
    [check] = [c for c in check_county_sources(doctor_settings, None, env) if COUNTY in c.name]
    assert check.status == OK and "5 record types answered" in check.detail

    with county_db.begin() as conn:  # the vendor renames a column the mapping reads
        conn.exec_driver_sql("ALTER TABLE XNH_FYMX CHANGE XMMC XMMC2 VARCHAR(64)")
    [check] = [c for c in check_county_sources(doctor_settings, None, env) if COUNTY in c.name]
    assert check.status == FAIL and "records.claim_item: " in check.detail and "XMMC" in check.detail
    assert f"mappings/{COUNTY}.yaml" in check.fix


def test_the_spool_shows_a_centralised_county_uploading_and_an_account_of_no_county(doctor_settings) -> None:  # type: ignore[no-untyped-def]
    spool = doctor_settings.spool_dir
    (spool / "520122" / "inbox").mkdir(parents=True)  # a gateway county: nothing to say
    (spool / "520122" / "inbox" / "p.zip").write_bytes(b"x")
    assert [c.status for c in check_spool(doctor_settings)] == [OK]

    (spool / COUNTY / "inbox").mkdir(parents=True)
    (spool / COUNTY / "inbox" / ".p.zip.part").write_bytes(b"x")  # not complete: not waiting
    assert [c.status for c in check_spool(doctor_settings)] == [OK]
    (spool / COUNTY / "inbox" / "p.zip").write_bytes(b"x")
    (spool / "999999" / "inbox").mkdir(parents=True)
    checks = {c.name: c for c in check_spool(doctor_settings)}
    assert checks["spool folders"].status == WARN and "999999 not counties of province.yaml" in checks[
        "spool folders"].detail
    uploading = checks["centralised counties uploading"]
    assert uploading.status == WARN and uploading.detail.startswith(f"{COUNTY}: 1 package(s) in ")


def test_ncms_doctor_fails_on_an_unreachable_county_database(cli, closed_port, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for county in ("520121", "520123", "520323"):
        monkeypatch.setenv(f"NCMS_SOURCE_{county}", f"mysql://reader:SECRET@127.0.0.1:{closed_port}/ncms")
    done = cli("db", "upgrade")
    assert done.exit_code == 0, done.output
    done = cli("doctor")
    assert done.exit_code == 1
    failed = [line for line in done.output.splitlines() if "FAIL" in line and "database" in line]
    assert [line.split("] ")[1].split(":")[0] for line in failed] == [
        "county 520121 database", "county 520123 database", "county 520323 database"]
    assert "SECRET" not in done.output


def test_a_sequence_watermark_check_is_skipped_until_an_extract(doctor_settings, county_db, engine) -> None:  # type: ignore[no-untyped-def]
    """No watermark yet: nothing to compare, no line about it."""
    url = county_db.url.render_as_string(hide_password=False)
    checks = check_county_source(load_mapping(CONFIG_DIR, COUNTY), url, engine)
    assert [c.name for c in checks] == [f"county {COUNTY} database"]
    assert checks[0].status == OK


def _centralised_county_sending_packages(tmp_path, delivery: str | None):  # type: ignore[no-untyped-def]
    """A copy of config/ where centralised 520323 has no mapping, with ``delivery`` if given."""
    import shutil

    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "mappings" / "520323.yaml").unlink()
    if delivery:
        text = (config / "province.yaml").read_text(encoding="utf-8")
        start = text.index('code: "520323"')
        end = text.index("    mode: etl\n", start) + len("    mode: etl\n")
        (config / "province.yaml").write_text(text[:end] + f"    delivery: {delivery}\n" + text[end:], encoding="utf-8")
    return load_settings({}, data_dir=str(tmp_path / "var"), config_dir=str(config))


def test_a_centralised_county_without_a_mapping_fails_saying_how_to_declare_it_sends_packages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    check = check_etl_mappings(_centralised_county_sending_packages(tmp_path, None), {})
    assert check.status == FAIL
    assert "county 520323 has no mapping" in check.detail and "delivery: packages" in check.detail


def test_a_centralised_county_that_sends_packages_needs_no_mapping_and_may_upload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _centralised_county_sending_packages(tmp_path, "packages")
    check = check_etl_mappings(settings, {})
    assert check.status in (OK, WARN), check.detail
    assert "sending packages (delivery: packages): 520323" in check.detail
    inbox = settings.spool_dir / "520323" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "p.zip").write_bytes(b"x")
    assert [c.status for c in check_spool(settings)] == [OK]
    assert check_county_sources(settings, None, {"NCMS_SOURCE_520323": "mysql://reader@127.0.0.1:1/x"}) == []


def test_ncms_doctor_passes_the_mappings_of_a_province_whose_centralised_county_sends_packages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from ncms.cli import main

    settings = _centralised_county_sending_packages(tmp_path, "packages")
    base = ["--data-dir", str(settings.data_dir), "--config-dir", str(settings.config_dir)]
    assert CliRunner().invoke(main, [*base, "db", "upgrade"]).exit_code == 0
    done = CliRunner().invoke(main, [*base, "doctor"])
    lines = [line for line in done.output.splitlines() if "mappings" in line or "configuration files" in line]
    assert lines and not any("FAIL" in line for line in lines), done.output
