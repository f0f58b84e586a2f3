"""The web application: the auditors' console and, later, the REST API.

``create_app`` only wires things together: no database connection, no migration,
no file read. The caller (``ncms serve``, ``ncms.web.wsgi``, a test) builds the settings.
How the console is put together, and how to add a page: docs/web.md.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import Flask, Response, g, request

from ncms import __version__, log
from ncms.config import Settings

from . import database, errors, formatting, i18n, layout, security
from .extensions import csrf


def create_app(settings: Settings, test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        NCMS_SETTINGS=settings,
        BABEL_DEFAULT_LOCALE=settings.locale,
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        SESSION_COOKIE_NAME="ncms_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime),
        WTF_CSRF_TIME_LIMIT=settings.session_lifetime,
    )
    if test_config:
        app.config.update(test_config)
    register_extensions(app, settings)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_log(app)
    app.jinja_env.globals["ncms_version"] = __version__
    return app


def register_extensions(app: Flask, settings: Settings) -> None:
    database.init_app(app, settings.database_url)
    i18n.init_app(app)
    csrf.init_app(app)
    security.init_app(app)
    formatting.init_app(app)
    layout.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import auth, data, health, province

    auth.init_app(app)  # sign-in, sign-out, and the gate every request passes
    app.register_blueprint(province.bp)
    from . import claim, institution, member
    claim.init_app(app)  # /claim/<id>, and the helpers the institution and member pages share
    app.register_blueprint(institution.bp)  # /institution/<code>
    app.register_blueprint(member.bp)  # /member/<id>
    from . import county
    county.init_app(app)  # /county/<code>, a county officer's home
    app.register_blueprint(health.bp)
    app.register_blueprint(data.bp)
    from . import reports
    reports.init_app(app)  # /reports/: the reports to the ministry, their files and sends
    from . import findings
    findings.init_app(app)  # /findings/ (workbench, a finding), /inbox/ (a county's), the audit notice
    from . import simulation
    simulation.init_app(app)  # /simulation/: candidate schemes tested on a year's claims, PDF and Excel
    from . import tokens
    tokens.init_app(app)  # /tokens/: an administrator makes and revokes the API's tokens
    from . import api
    api.init_app(app)  # /api/v1: the REST API, bearer tokens, its OpenAPI document


def register_errorhandlers(app: Flask) -> None:
    errors.init_app(app)


def register_request_log(app: Flask) -> None:
    """One structured line per request: method, path, status, milliseconds."""
    logger = logging.getLogger("ncms.web.request")

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        elapsed = time.perf_counter() - g.pop("request_started", time.perf_counter())
        log.event(logger, "http.request", method=request.method, path=request.path,
                  status=response.status_code, ms=round(elapsed * 1000, 1),
                  remote=request.remote_addr)
        return response
