"""The REST API under ``/api/v1`` (docs/api.md): what a person can do in the console, a system
with a token of the same role can do here, with the same county scoping.

- flask-smorest makes the OpenAPI 3 document (``/api/v1/openapi.json``) from the views' schemas.
- Bearer tokens only (``ncms.tokens``): a session cookie authenticates no one here, and the
  blueprints are exempt from CSRF (no cookie, no cross-site forgery). A token acts as its user,
  so ``ncms.web.scope`` (``scoped``, ``scoped_get_or_404``, the role decorators) reads
  ``current_user`` as on the pages: another county's id is *not found*.
- Deny by default: a view of the API that does not say who may open it is refused (403), as
  the console's gate refuses one (``ncms.web.auth.sessions``).
- Writes (any method but GET, HEAD, OPTIONS) need a token of scope ``write`` (else 403), and
  each one that succeeds is a line of the audit log (``api.<view>``, the token's prefix).
- One error body for every 4xx and 5xx: ``{"status", "code", "message", "errors": {field: [..]}}``.
- Rate limits per token (``limits``): 429 with ``Retry-After`` over the limit.
"""
from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint as Blueprint_, Flask, Response, current_app, g, jsonify, render_template, request
from flask_smorest import Api as _Api, Blueprint as _Blueprint
from flask_smorest.exceptions import NotModified
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from ncms.models import TokenScope

from ..extensions import csrf
from ..scope import POLICY, PUBLIC, policy_of, public

PREFIX = "/api/v1"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_REQUEST = 64 * 2**20  # a data package at most (the gateway's limit is the same order)
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
         500: "server_error"}


class ErrorSchema(Schema):
    """Every error of the API."""

    status = fields.String(required=True, metadata={"description": "the HTTP reason phrase"})
    code = fields.Integer(required=True, metadata={"description": "the HTTP status code"})
    message = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                         metadata={"description": "field-level messages: {field: [message, …]}"})


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """None app-wide: the console keeps its error pages; ``ncms.web.errors`` hands errors of
        paths under /api/ to ``error_response``."""


class ApiBlueprint(_Blueprint):
    """flask-smorest's blueprint (``etag``: an ETag of the answer's data, If-None-Match -> 304),
    whose 304 carries the ETag it matched, as RFC 9110 asks, and no body."""

    def _check_not_modified(self, etag: str) -> None:
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and etag in request.if_none_match:
            response = Response(status=304)
            response.set_etag(etag)
            raise NotModified(response=response)

    @staticmethod
    def etag_of(data: Any, schema: Any) -> str:
        """The ETag ``etag`` gives the answer ``data`` dumped by ``schema`` (for If-Match)."""
        return _Blueprint._generate_etag(schema().dump(data))


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def error_body(code: int, message: str | None = None, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"status": HTTP_STATUS_CODES.get(code, "Error"), "code": code,
            "message": message or _DEFAULT_MESSAGES.get(code, HTTP_STATUS_CODES.get(code, "Error")),
            "errors": errors or {}}


_DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    401: "Send a valid API token: Authorization: Bearer ncms_….",
    403: "The token's role or scope does not allow this.",
    404: "There is no such resource, or it is not yours to see.",
    405: "This resource does not take that method.",
    413: f"The request is larger than the {MAX_REQUEST // 2**20} MiB allowed.",
    422: "Some fields are not valid: see errors.",
    429: "This token made more requests than its limit allows: wait for Retry-After seconds.",
    500: "Something went wrong; the error has been logged.",
}


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs' {location: {field: [msgs] | {…}}} as {field: [msgs]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if prefix == "" and key in ("query", "json", "form", "files", "path", "headers", "view_args"):
                name = ""
            flat.update(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat.setdefault(prefix or "_request", []).extend(messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            flat.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        flat.setdefault(prefix or "_request", []).append(str(messages))
    return flat


def error_response(error: HTTPException) -> Response:
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or (_flatten(data["messages"]) if "messages" in data else None)
    message = data.get("message")
    if code == 429:  # Flask-Limiter's description is the limit ("600 per 1 minute")
        message = f"{_DEFAULT_MESSAGES[429]} The limit: {error.description}."
    elif message is None and error.description and code not in (404, 405, 500) and \
            error.description != type(error).description:
        message = error.description
    response = jsonify(error_body(code, message, errors))
    response.status_code = code
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ncms"'
    return response


def abort(code: int, message: str | None = None, errors: dict[str, list[str]] | None = None) -> None:
    from flask_smorest import abort as _abort

    _abort(code, message=message or _DEFAULT_MESSAGES.get(code), errors=errors or {})


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "NCMS supervision API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = Api(app, spec_kwargs={"servers": [{"url": "/"}], "security": [{"bearer": []}]})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                  "description": "ncms tokens create USER --scope read|write"})
    from . import batches, figures, findings, limits, reference
    from .schemas import Amount

    api.register_field(Amount, "string", "decimal")

    for blp in (findings.blp, reference.blp, batches.blp, figures.blp):
        csrf.exempt(blp)
        api.register_blueprint(blp, url_prefix=PREFIX)
    docs = Blueprint_("api_docs_page", __name__, template_folder="templates")
    docs.add_url_rule(f"{PREFIX}/docs", "docs", _docs_page)
    app.register_blueprint(docs)
    _say_who_may_open(app)
    _own_errors(app)
    app.session_interface = _cookie_untouched(app.session_interface)
    app.extensions["ncms.api"] = api
    app.before_request(gate)
    app.after_request(audit_write)
    limits.init_app(app)  # after the gate: counted by its token
    limits.document(api.spec)


@public
def _docs_page() -> str:
    """The document read by Swagger UI (static/vendor, no script inline)."""
    return render_template("api/docs.html")


def _own_errors(app: Flask) -> None:
    """Errors the console handles by class (a request too large: its page, ncms/web/findings),
    answered in the API's body under /api/."""
    for code, handlers in list(app.error_handler_spec[None].items()):
        for cls, handler in list((handlers or {}).items()):
            if not issubclass(cls, HTTPException):
                continue

            def either(error: HTTPException, handler: Any = handler) -> Any:
                return error_response(error) if is_api_request() else handler(error)

            handlers[cls] = either


def _cookie_untouched(interface: Any) -> Any:
    """The console's session interface, that never sets the session cookie on an API answer: a
    console cookie sent along authenticates no one here, and is not renewed by the API either."""

    class ConsoleOnly(type(interface)):  # type: ignore[misc]
        def should_set_cookie(self, app: Flask, session: Any) -> bool:
            return not is_api_request() and super().should_set_cookie(app, session)

    untouched = ConsoleOnly.__new__(ConsoleOnly)
    untouched.__dict__.update(vars(interface))
    return untouched


def _say_who_may_open(app: Flask) -> None:
    """The document is public (what the API is, no data); a class view's policy is its
    methods' (the gate reads the method's), told on the view too (the roles that may use one of
    its methods), so that the console's check of every route reads it."""
    spec = app.view_functions["api-docs.openapi_json"]
    app.view_functions["api-docs.openapi_json"] = public(wraps(spec)(lambda: spec()))
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        if endpoint.startswith("api_") and view_class is not None:
            policies = {policy_of(getattr(view_class, m.lower(), None)) for m in view_class.methods or ()}
            if None not in policies and PUBLIC not in policies:  # who may use any of its methods
                setattr(view, POLICY, frozenset().union(*policies))


def gate() -> Any:
    """Before every request under /api/: the token, the view's policy, the token's scope."""
    if not is_api_request():
        return None
    g.ncms_api = True
    if request.content_length is not None and request.content_length > MAX_REQUEST:
        abort(413)
    if request.endpoint is None:
        return None  # no such route: 404 (or 405) follows, in the API's shape
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)  # a MethodView: the policy is its method's
    policy = policy_of(getattr(view_class, request.method.lower(), None) if view_class else view)
    if policy is PUBLIC:
        return None
    from ncms import tokens

    from ..database import get_session

    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    found = tokens.authenticate(get_session(), secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        abort(401)
    token, user = found
    g._login_user = user  # Flask-Login's current_user for this request only: nothing in the session
    g.ncms_token = token
    if policy is None:
        current_app.logger.error("API view %s says nothing of who may open it: refused", request.endpoint)
        abort(403)
    if user.role not in policy:
        abort(403, "Your role does not allow this.")
    if request.method not in SAFE_METHODS and token.scope is not TokenScope.WRITE:
        abort(403, "This token may only read: writes need a token of scope write.")
    return None


def audit_write(response: Response) -> Response:
    """Every write through the API that succeeded: one line of the audit log."""
    token = g.get("ncms_token")
    if token is not None and request.method not in SAFE_METHODS and response.status_code < 400:
        from ..audit import record

        record(f"api.{request.endpoint.rsplit('.', 1)[-1]}" if request.endpoint else "api.write",
               request.path[:128], token=token.prefix, method=request.method, status=response.status_code)
    if g.get("ncms_api"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
