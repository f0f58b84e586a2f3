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

from .conftest import CONFIG_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(cli, settings):
    yield from served_demo(cli, settings)


@pytest.fixture
def unreviewed_server(cli, settings):
    """The demo with every finding still open (``--no-review``): for tests that count the loop's figures."""
    yield from served_demo(cli, settings, "--no-review")


def served_demo(cli, settings, *options: str):  # type: ignore[no-untyped-def]
    demo = cli("demo", "--claims", "3000", *options)
    assert demo.exit_code == 0
    from ncms.cli.demo import DEMO_ACCOUNTS

    listed = demo.output.split("and sign in as one of:")[1]
    for username, role, county, password in DEMO_ACCOUNTS:  # the demo prints whom to sign in as
        assert f"{username:<10} password {password}" in listed
    yield from serving(settings.database_url, Path(settings.data_dir))


def serving(database_url: str, data_dir: Path):  # type: ignore[no-untyped-def]
    """``ncms serve`` of ``database_url`` in a child process until the generator closes; yields the
    site's URL. Its output goes to ``data_dir/serve.log``, not a pipe: unread, a pipe fills with
    the request lines (64 KiB) and stalls the server."""
    port = free_port()
    env = dict(os.environ, NCMS_DATA_DIR=str(data_dir), NCMS_DATABASE_URL=database_url,
               NCMS_CONFIG_DIR=str(CONFIG_DIR))
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    ncms = Path(sys.executable).with_name("ncms")
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(ncms), "serve", "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(300):  # a loaded machine (CI beside other work) may take a while to start Python
                try:
                    urllib.request.urlopen(url + "healthz", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None:
                        pytest.fail(f"ncms serve exited: {log_path.read_text(errors='replace')}")
                    time.sleep(0.1)
            else:
                pytest.fail("ncms serve did not answer within 30 s")
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
        yield browser.new_page(viewport={"width": 1366, "height": 768})
        browser.close()


SHOTS = os.environ.get("NCMS_SCREENSHOTS")  # a folder: write the README's screenshots there too
ROLES = {  # demo account: the role's label in Chinese and English, and the counties it sees (None: it
    # lands on its own county's page, not the province's)
    "admin": ("系统管理员", "Administrator", 6),
    "auditor": ("省级审计员", "Provincial auditor", 6),
    "kaiyang": ("县级经办人员", "County officer", None),
    "ministry": ("部级查阅人员", "Ministry viewer", 6),
}
PROVINCE = ("全省概览", "The province at a glance")  # the start page's heading


def demo_password(username: str) -> str:
    from ncms.cli.demo import DEMO_ACCOUNTS

    return next(password for name, _, _, password in DEMO_ACCOUNTS if name == username)


def shoot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def no_serious_accessibility_violations(page, server: str) -> None:  # type: ignore[no-untyped-def]
    """axe-core, served by the app (the content security policy lets no other script in)."""
    page.add_script_tag(url=server + "static/vendor/axe.min.js")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == [], page.url


def sign_in(page, server: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server)
    assert "/sign-in" in page.url  # anonymous: sent to sign in first
    page.locator("#username").fill(username)
    page.locator("#password").fill(demo_password(username))
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_each_role_signs_in_sees_its_role_switches_language_and_signs_out(server, page, tmp_path):
    refused = []  # what the content security policy blocked: nothing may be
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    page.goto(server + "sign-in")
    assert page.locator("h1").inner_text() == "登录"
    no_serious_accessibility_violations(page, server)
    shoot(page, tmp_path, "sign-in-zh")
    for username, (chinese, english, counties) in ROLES.items():
        sign_in(page, server, username)
        if counties is None:  # a county officer lands on their county, whatever page they started from
            assert page.url.split("?")[0].endswith("/county/520121"), page.url
            assert page.locator("h1").inner_text().startswith("开阳县")
        else:
            assert page.locator("h1").inner_text() == PROVINCE[0], username
            assert page.locator("#counties tbody tr").count() == counties, username
        assert page.locator("#who .role").inner_text().startswith(chinese)
        if username == "auditor":
            # the CJK font is really there: a Chinese heading renders wider than a box of tofu would
            assert page.locator("h1").bounding_box()["width"] > 60
            no_serious_accessibility_violations(page, server)
            shoot(page, tmp_path, "province-zh")
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state()
        if counties is not None:
            assert page.locator("h1").inner_text() == PROVINCE[1]
        assert page.locator("#who .role").inner_text().startswith(english)
        if username == "auditor":
            assert "Money at stake" in page.locator("#counties").inner_text()
            shoot(page, tmp_path, "province-en")
        page.goto(server)  # the choice is remembered
        assert "Sign out" in page.locator("header").inner_text(), username
        if counties is not None:
            assert page.locator("h1").inner_text() == PROVINCE[1]
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert "/sign-in" in page.url and page.locator("h1").inner_text() == "Sign in"
        if username == "ministry":
            shoot(page, tmp_path, "sign-in-en")
        page.get_by_role("link", name="中文").click()
        page.wait_for_load_state()
        page.goto(server)
        assert "/sign-in" in page.url  # signed out for good
    assert refused == []


def test_a_phone_reads_the_province_page(server, page):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(page, server, "auditor")
    assert page.locator("#who .role").is_visible()
    header = page.locator(".topbar").bounding_box()
    assert header["width"] <= 390  # the header wraps instead of widening the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1


def test_a_taken_port_is_one_clear_line(server, cli):
    port = server.rsplit(":", 1)[1].strip("/")
    result = cli("serve", "--port", port)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output


@pytest.fixture
def chart_server(request, settings, loaded_engine):  # type: ignore[no-untyped-def]
    """The app in this process with a page of two charts (one inline, one from a JSON view), as
    a page builder writes them; settings changed by the test's parameter."""
    import threading
    from dataclasses import replace

    from flask import Blueprint, jsonify, render_template_string
    from werkzeug.serving import make_server

    from ncms.web import create_app
    from ncms.web.scope import signed_in

    from .webauth import add_accounts

    add_accounts(loaded_engine)
    bp = Blueprint("chartprobe", __name__)
    option = {"xAxis": {"type": "category", "data": ["1月", "2月", "3月"]}, "yAxis": {"type": "value"},
              "series": [{"type": "bar", "name": "补偿", "data": [1200.5, 980, 1430]}], "ncms": {"format": "money"}}

    @bp.get("/chart-probe")
    @signed_in
    def page():  # type: ignore[no-untyped-def]
        return render_template_string(
            '{% extends "base.html" %}{% set charts = true %}{% from "_macros.html" import chart %}'
            '{% block content %}<h1>Charts</h1><div class="charts">{{ chart("inline", option=option) }}'
            '{{ chart("fetched", url=url_for("chartprobe.data")) }}</div>{% endblock %}', option=option)

    @bp.get("/chart-probe.json")
    @signed_in
    def data():  # type: ignore[no-untyped-def]
        return jsonify(option)

    app = create_app(replace(settings, secret_key="test", **getattr(request, "param", {})))
    app.register_blueprint(bp)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join(timeout=10)


def sign_in_as_auditor(page, url: str) -> None:  # type: ignore[no-untyped-def]
    from .webauth import PASSWORD

    page.goto(url)
    page.locator("#username").fill("auditor")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_charts_are_drawn_from_json_under_the_content_security_policy(chart_server, page):
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in_as_auditor(page, chart_server + "sign-in?next=/chart-probe")
    page.wait_for_selector("[data-chart-url][data-chart-drawn]")
    drawn = page.locator("[data-chart-drawn] canvas")
    assert drawn.count() == 2
    box = drawn.first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a tooltip
    page.wait_for_timeout(300)
    assert problems == []


@pytest.mark.parametrize("chart_server", [{"session_idle": 2}], indirect=True)
def test_an_idle_session_ends_and_the_page_asks_to_sign_in_again(chart_server, page):
    sign_in_as_auditor(page, chart_server + "sign-in?next=/chart-probe")
    assert page.locator("h1").inner_text() == "Charts"
    page.wait_for_timeout(2500)
    page.reload()
    assert "/sign-in?next=/chart-probe" in page.url
    assert "会话已过期" in page.locator(".flash").inner_text()
    sign_in_as_auditor(page, page.url)
    assert page.locator("h1").inner_text() == "Charts"  # back where the session ended
