"""The build form of the reports page."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

try:  # WTForms 3.3 wants its choices as SelectChoice, earlier ones as pairs
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - WTForms before 3.3
    SelectChoice = None  # type: ignore[assignment,misc]

KINDS = {"monthly": "month", "quarterly": "quarter", "annual": "year"}  # a report's kind: its period's
KIND_LABELS = {"monthly": _l("Monthly operations report"), "quarterly": _l("Quarterly operations report"),
               "annual": _l("Annual fund supervision report")}
LANG_LABELS = {"zh": "中文", "en": "English"}


def choices(pairs) -> list:  # type: ignore[no-untyped-def]
    return [SelectChoice(v, label) if SelectChoice else (v, label) for v, label in pairs]


class BuildForm(FlaskForm):
    kind = SelectField(_l("Report"), choices=choices(KIND_LABELS.items()), default="quarterly")
    period = StringField(_l("Period"), validators=[DataRequired(), Length(max=10)],
                         render_kw={"placeholder": "2011-Q2", "size": 10})
    county = SelectField(_l("Area"), choices=[], default="")
    lang = SelectField(_l("Language"), choices=choices(LANG_LABELS.items()), default="zh")
