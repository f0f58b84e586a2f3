"""National IDs and names are masked unless the role and the page need them (domain.md §5).

Templates mask by default (``|mask_id``, ``|mask_name``). A page that needs a person's whole
identity asks ``identity(...)`` with ``reveal=True``: it is shown only to a role that may see
personal data in that county, and every such view is written to the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user

from ncms.ids import mask_name, mask_national_id
from ncms.models import Role

from .audit import record_personal_view
from .scope import PERSONAL_DATA_ROLES, in_scope

__all__ = ["Identity", "identity", "mask_name", "mask_national_id", "may_unmask"]


def may_unmask(county_code: str | None) -> bool:
    """Administrators and auditors anywhere, a county officer in their county; never the ministry."""
    if not current_user.is_authenticated or current_user.role not in PERSONAL_DATA_ROLES:
        return False
    return current_user.role != Role.COUNTY or in_scope(county_code)


@dataclass(frozen=True)
class Identity:
    national_id: str
    name: str
    masked: bool


def identity(subject: str, county_code: str | None, national_id: str, name: str, *,
             reveal: bool = False) -> Identity:
    """What a page may show of a person: masked, unless ``reveal`` (the page needs it) and the
    user may (``may_unmask``); an unmasked identity is logged (``personal.view``)."""
    if reveal and may_unmask(county_code):
        record_personal_view(subject, county_code, ("national_id", "name"))
        return Identity(national_id, name, masked=False)
    return Identity(mask_national_id(national_id), mask_name(name), masked=True)
