"""Simplified Chinese by default, English on request (``?lang=en``, remembered in the session)."""
from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import Babel, get_locale

LANGUAGES = {"zh_Hans_CN": "中文", "en": "English"}


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    return session.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.context_processor(lambda: {"ui_lang": current_language()})
    app.jinja_env.filters["in_language"] = in_language


def current_language() -> str:
    """The key of LANGUAGES in use, for templates that switch more than strings."""
    return "en" if get_locale().language == "en" else "zh_Hans_CN"


def in_language(message: object) -> str:
    """A message of ``ncms.review`` (a ``ReviewError`` or a ``Said``, which carry their Chinese as
    ``zh``) in the page's language; any other message as it is."""
    zh = getattr(message, "zh", None)
    return zh if zh and current_language() != "en" else str(message)
