"""What the institution, member and claim pages share: a finding's rule named in the user's
language, and links to pages another blueprint may not have registered yet."""
from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import get_locale, gettext as _

from ncms.monitor.anomaly import MODEL
from ncms.monitor.catalogue import RULES

from ..scope import may_link


def english() -> bool:
    return str(get_locale() or "zh").startswith("en")


def rule_title(code: str) -> str:
    """The rule's title in the user's language (the anomaly model's too); its code otherwise."""
    rule = RULES.get(code)
    if rule is not None:
        return rule.title_en if english() else rule.title_zh
    if code == MODEL.code:
        return _("Unusual against its peers (anomaly model)")
    return code


def link(endpoint: str, **values: Any) -> str | None:
    """The URL of ``endpoint`` when it exists and the user may open it, else None (no link)."""
    return url_for(endpoint, **values) if may_link(endpoint) else None


def init_app(app: Any) -> None:
    app.jinja_env.globals.update(page_link=link, rule_title=rule_title)
