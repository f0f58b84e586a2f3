"""Error pages in the reader's language (and JSON for a client that asked for it)."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    401: (_l("Sign in first"), _l("Please sign in to open this page.")),
    403: (_l("Not allowed"), _l("Your role does not allow this page.")),
    404: (_l("Not found"), _l("There is no such page, or it is not yours to see.")),
    405: (_l("Not allowed"), _l("This page does not take that kind of request.")),
    429: (_l("Too many attempts"), _l("Wait a little, then try again.")),
    500: (_l("Something went wrong"), _l("The error has been logged; try again, or tell the administrator.")),
}
CSRF_MESSAGE = _l("The form had expired or was not sent from this site: reload the page and try again.")


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(HTTPException, _http)  # an unhandled exception arrives as a 500


def _page(code: int, message: Any = None) -> Any:
    title, text = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return jsonify(error=str(message or text)), code
    return render_template("errors/error.html", code=code, title=title, message=message or text), code


def _csrf(_error: CSRFError) -> Any:
    return _page(400, CSRF_MESSAGE)


def _http(error: HTTPException) -> Any:
    if error.code is None or error.code < 400:
        return error
    from .api import error_response, is_api_request

    if is_api_request():
        return error_response(error)  # the API's one error body (ncms/web/api)
    return _page(error.code)

