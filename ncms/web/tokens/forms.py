"""The form that makes a token."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from ncms.models import TokenScope
from ncms.tokens import MAX_DAYS

from ..reports.forms import choices

SCOPE_LABELS = {TokenScope.READ.value: _l("Read"), TokenScope.WRITE.value: _l("Read and write")}


class CreateForm(FlaskForm):
    user = SelectField(_l("Acts as"), coerce=int, choices=[], validators=[DataRequired()])
    name = StringField(_l("Used by"), validators=[DataRequired(), Length(max=128)],
                       render_kw={"placeholder": _l("a county's HIS, the data centre…"), "size": 32})
    scope = SelectField(_l("Scope"), choices=choices(SCOPE_LABELS.items()), default=TokenScope.READ.value)
    expires_days = IntegerField(_l("Expires after (days)"), default=90,
                                validators=[DataRequired(), NumberRange(1, MAX_DAYS)],
                                render_kw={"type": "text", "inputmode": "numeric", "size": 5})
