"""WSGI entry point for a production server: ``waitress-serve --call ncms.web.wsgi:make_app``."""
from flask import Flask

from ncms.config import load_settings
from ncms.web import create_app


def make_app() -> Flask:
    return create_app(load_settings().with_secret_key())
