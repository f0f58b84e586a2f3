"""A real browser against a real ``ncms serve``: what an auditor sees first."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(cli, settings):
    assert cli("demo", "--claims", "3000").exit_code == 0
    port = free_port()
    env = dict(os.environ, NCMS_DATA_DIR=str(settings.data_dir), NCMS_DATABASE_URL=settings.database_url,
               NCMS_CONFIG_DIR=str(settings.config_dir))
    ncms = Path(sys.executable).with_name("ncms")
    proc = subprocess.Popen([str(ncms), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "healthz", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"ncms serve exited: {proc.stdout.read().decode()}")
                time.sleep(0.1)
        else:
            pytest.fail("ncms serve did not answer within 10 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make test` as root, or apt-get install chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser.new_page(viewport={"width": 1280, "height": 800})
        browser.close()


def test_auditor_sees_the_counties_and_switches_language(server, page, tmp_path):
    page.goto(server)
    assert page.locator("h1").inner_text() == "全省统筹县"
    rows = page.locator("#counties tbody tr")
    assert rows.count() == 6
    assert rows.nth(0).locator("td").nth(1).inner_text() == "开阳县"
    # the CJK font is really there: a Chinese heading renders wider than a box of tofu would
    assert page.locator("h1").bounding_box()["width"] > 60
    page.screenshot(path=str(tmp_path / "province-zh.png"), full_page=True)

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Counties of the province"
    assert "Centralised (ETL)" in page.locator("#counties").inner_text()
    page.goto(server)  # the choice is remembered
    assert page.locator("h1").inner_text() == "Counties of the province"


def test_a_taken_port_is_one_clear_line(server, cli):
    port = server.rsplit(":", 1)[1].strip("/")
    result = cli("serve", "--port", port)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
