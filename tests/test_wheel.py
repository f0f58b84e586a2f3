"""A wheel built from the repository installs a working platform.

`pip install .` (not `-e`) once left out the migrations and the compiled translations: the
installed `ncms db upgrade` found no revisions and the UI spoke English. The wheel is built
here as an operator's `pip install .` builds it (isolated, its build requirements from the
configured package index; the working tree copied without any compiled `.mo`, so the build
must compile them), installed into a new virtual environment that sees the test environment's
packages only as its dependencies, and run from outside the repository: `ncms db upgrade`,
then `ncms serve`, whose sign-in page and, once signed in, province page must be in Chinese."""
from __future__ import annotations

import os
import shutil
import site
import socket
import subprocess
import sys
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from .conftest import CONFIG_DIR, ROOT

pytestmark = pytest.mark.slow

# what a working tree holds that a build never reads (and the compiled translations, which the
# build must make itself)
NOT_SOURCES = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "*.mo", ".pytest_cache",
               ".hypothesis", "out")


def run(*args: str | Path, cwd: Path, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCMS_") and k != "PYTHONPATH"} | extra
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a virtual environment with the wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", ".", cwd=source)
    wheel, = (work / "dist").glob("ncms_supervision-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work).stdout.strip()
    # the dependencies: this environment's packages, as a plain path (its .pth files, the
    # editable install of the repository among them, are not read)
    (Path(purelib) / "ncms_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index", "--no-deps",
        "--ignore-installed", wheel, cwd=work)
    where = run(python, "-c", "import ncms; print(ncms.__file__)", cwd=work).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed package, not the repository
    return venv / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BROWSER = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the session cookie


def get(url: str, deadline: float, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    while True:
        try:
            with BROWSER.open(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_installed_wheel_migrates_a_database_and_serves_the_chinese_page(  # type: ignore[no-untyped-def]
        installed, database_url, tmp_path):
    base = [installed / "ncms", "--data-dir", tmp_path / "var", "--database-url", database_url,
            "--config-dir", CONFIG_DIR]
    upgraded = run(*base, "db", "upgrade", cwd=tmp_path)
    assert "database at revision" in upgraded.stdout and "(was empty)" in upgraded.stdout
    assert "up to date" in run(*base, "db", "current", cwd=tmp_path).stdout
    run(*base, "db", "load-config", cwd=tmp_path)
    run(*base, "users", "create", "wang", "--role", "auditor", cwd=tmp_path, NCMS_NEW_PASSWORD="long-enough-secret")
    # `ncms report`, found through its entry point, with its templates and schema from the wheel
    built = run(*base, "report", "build", "--kind", "monthly", "--period", "2011-01", cwd=tmp_path)
    assert "revision 1" in built.stdout and list((tmp_path / "var" / "reports").rglob("*-2011-01-zh.pdf"))

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCMS_") and k != "PYTHONPATH"}
    server = subprocess.Popen([str(a) for a in (*base, "serve", "--port", port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, sign_in = get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)  # sent to sign in
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', sign_in).group(1)
        form = urllib.parse.urlencode({"username": "wang", "password": "long-enough-secret", "csrf_token": token})
        status, page = get(f"http://127.0.0.1:{port}/sign-in", time.monotonic() + 10, form.encode())
        css, _ = get(f"http://127.0.0.1:{port}/static/ncms.css", time.monotonic() + 10)
        charts, _ = get(f"http://127.0.0.1:{port}/static/vendor/echarts.min.js", time.monotonic() + 10)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert status == 200, output[-3000:]
    assert "用户名" in sign_in  # a blueprint's template (ncms/web/auth/templates), translated
    assert "全省统筹县" in page and "Counties of the province" not in page  # the compiled translation
    assert "开阳县" in page  # a county of config/province.yaml, loaded by the installed package
    assert css == 200 and charts == 200
