"""The simulation form: where and when, the next year's assumptions, and up to four candidate
schemes, each typed as YAML or uploaded as a file (read by ``ncms.simulation.parse_candidates_text``,
the code that reads candidate files for ``ncms scheme simulate``)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from ncms.simulation import MAX_CANDIDATES

SLOTS = range(1, MAX_CANDIDATES + 1)
MAX_TEXT = 64_000  # characters of one candidate's YAML: a scheme is a few hundred


def _number(text: str | None, percent: bool = False) -> Decimal | None:
    """``300.00``; for a share also ``5%`` (0.05) or ``0.05``. None when empty."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    scale = 100 if percent and text.endswith("%") else 1
    try:
        value = Decimal(text.rstrip("%")) / scale
    except InvalidOperation:
        raise ValidationError(_l("Not a number: give e.g. 300.00 (growth: 0.05 or 5%)."))
    if not value.is_finite():
        raise ValidationError(_l("Not a number: give e.g. 300.00 (growth: 0.05 or 5%)."))
    return value


class SimulationForm(FlaskForm):
    county = SelectField(_l("County"), choices=[], validate_choice=False)
    base_year = SelectField(_l("Base year"), choices=[], validate_choice=False)
    per_head = StringField(_l("Per-head financing next year (yuan)"), validators=[Optional(), Length(max=20)],
                           render_kw={"placeholder": "300.00", "inputmode": "decimal", "size": 10})
    growth = StringField(_l("Utilisation growth"), validators=[Optional(), Length(max=12)],
                         render_kw={"placeholder": "5%", "size": 8})

    def validate_per_head(self, field: StringField) -> None:
        value = _number(field.data)
        if value is not None and value < 0:
            raise ValidationError(_l("Per-head financing cannot be negative."))

    def validate_growth(self, field: StringField) -> None:
        value = _number(field.data, percent=True)
        if value is not None and value <= -1:
            raise ValidationError(_l("Growth must be above -100%."))

    @property
    def per_head_value(self) -> Decimal | None:
        return _number(self.per_head.data)

    @property
    def growth_value(self) -> Decimal | None:
        return _number(self.growth.data, percent=True)

    def slots(self) -> list[tuple[int, TextAreaField, FileField]]:
        return [(i, getattr(self, f"text_{i}"), getattr(self, f"file_{i}")) for i in SLOTS]


for _i in SLOTS:
    setattr(SimulationForm, f"text_{_i}", TextAreaField(
        _l("Candidate %(n)s (YAML)", n=_i), validators=[Optional(), Length(max=MAX_TEXT)],
        render_kw={"rows": 12, "spellcheck": "false", "wrap": "off"}))
    setattr(SimulationForm, f"file_{_i}", FileField(_l("or a file")))
