"""The simulation page: the form (GET), and the comparison (POST: the same form, run).

Who may open it: the auditor and the administrator for any county or all; a county officer for
their own county only (another county's code is *not found*, as everywhere, ``county_or_404``);
never the ministry viewer, as the result names the members most affected (masked) — personal
data (``@personal_data``, 403).

The simulation reads every claim of the base year (docs/simulation.md): the request waits for it
(about a second for a demo county). Its temporary tables are the request's and rolled back."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from ncms.config import ConfigError
from ncms.models import CompensationScheme, County, CountyMonth
from ncms.simulation import CURRENT, MAX_CANDIDATES, Candidate, CountyResult, parse_candidates_text, simulate

from ..database import get_session
from ..i18n import current_language
from ..scope import county_or_404, county_scope, personal_data, scoped
from .charts import chart_options
from .forms import MAX_TEXT, SimulationForm
from .present import comparison

bp = Blueprint("simulation", __name__, template_folder="templates")


@dataclass
class Run:
    """A form read and, when it holds, simulated: what the page and the exports show."""

    form: SimulationForm
    candidates: list[Candidate]
    counties: list[str] | None = None
    results: list[CountyResult] | None = None


def build_form() -> SimulationForm:
    session = get_session()
    form = SimulationForm()
    counties = session.execute(scoped(sa.select(County.code, County.name, County.name_en).order_by(County.code),
                                      County.code)).all()
    english = current_language() == "en"
    form.county.choices = ([] if county_scope() else [("", _("Every county"))]) + [
        (code, f"{name_en if english and name_en else name} {code}") for code, name, name_en in counties]
    years = session.scalars(scoped(sa.select(CompensationScheme.year).distinct(), CompensationScheme.county_code)
                            .order_by(CompensationScheme.year.desc())).all()
    form.base_year.choices = [(str(y), str(y)) for y in years]
    if form.base_year.data is None and years:  # the newest year with a scheme and claims settled
        settled = set(session.scalars(scoped(sa.select(CountyMonth.year).distinct(), CountyMonth.county_code)))
        form.base_year.data = str(next((y for y in years if y in settled), years[0]))
    return form


def read_candidates(form: SimulationForm) -> list[Candidate]:
    """Each slot's candidates (a file replaces its slot's text, and is put into it so that the
    exports post the same YAML); a slot's mistake is that slot's error, in the page's language."""
    out: list[Candidate] = []
    for i, text, upload in form.slots():
        data = upload.data
        if data and getattr(data, "filename", ""):
            raw = data.read(MAX_TEXT + 1)
            if len(raw) > MAX_TEXT:
                text.errors = [*text.errors, _("The file is larger than %(kb)s KB.", kb=MAX_TEXT // 1000)]
                continue
            try:
                text.data = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text.errors = [*text.errors, _("The file is not UTF-8 text.")]
                continue
            name = data.filename
        else:
            name = f"candidate-{i}.yaml"
        if not (text.data or "").strip():
            continue
        try:
            found = parse_candidates_text(text.data, name)
        except ConfigError as error:
            text.errors = [*text.errors, _("This candidate cannot be read: %(error)s", error=error)]
            continue
        for c in found:
            if c.name == CURRENT or c.name in {o.name for o in out}:
                text.errors = [*text.errors, _("The name %(name)s is taken: give each candidate its own name.",
                                               name=c.name)]
            else:
                out.append(c)
    if len(out) > MAX_CANDIDATES:
        form.text_1.errors = [*form.text_1.errors, _("At most %(n)s candidates at once; %(given)s given.",
                                                     n=MAX_CANDIDATES, given=len(out))]
    elif not out and not any(t.errors for _i, t, _f in form.slots()):
        form.text_1.errors = [*form.text_1.errors, _("Give at least one candidate scheme.")]
    return out



def run_form() -> Run:
    """The posted form read, checked and simulated (``results`` None when it does not hold)."""
    form = build_form()
    valid = form.validate_on_submit()
    if request.method == "POST" and form.csrf_token.errors:
        abort(400, description=_("The form has expired: reload the page and try again."))
    candidates = read_candidates(form) if request.method == "POST" else []
    run = Run(form, candidates)
    if not valid or any(t.errors for _i, t, _f in form.slots()):
        return run
    code = form.county.data or county_scope()
    if code:
        code = county_or_404(code).code  # another county's: not found
    year = int(form.base_year.data) if (form.base_year.data or "").isdigit() else None
    if year is None or str(year) not in {v for v, _l in form.base_year.choices}:
        form.base_year.errors = [*form.base_year.errors, _("Choose a year with a compensation scheme.")]
        return run
    session = get_session()
    run.counties = [code] if code else None
    try:
        run.results = simulate(session, run.counties, year, candidates,
                               per_head_financing=form.per_head_value, growth=form.growth_value)
    finally:
        session.rollback()  # the simulation's temporary tables are this request's
    return run


@bp.route("/simulation/", methods=["GET", "POST"])
@personal_data
def index():  # type: ignore[no-untyped-def]
    if request.method == "POST":
        run = run_form()
    else:  # ?county= chooses the county (another county's: not found, as on every page)
        run = Run(build_form(), [])
        asked = request.args.get("county", "").strip()
        if asked:
            run.form.county.data = county_or_404(asked).code
    results = run.results or []
    return render_template("simulation/index.html", form=run.form, results=results,
                           tables=[comparison(r) for r in results],
                           options=[chart_options(r) for r in results], max_candidates=MAX_CANDIDATES)
