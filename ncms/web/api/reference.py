"""Claims, members (masked, as the console shows them by default) and institutions: read only,
through the console's scope (another county's row is *not found*), a page at a time by id."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from ncms.exchange.schemas import ClaimItemRecord, ClaimRecord, MemberRecord
from ncms.models import Claim, ClaimKind, Institution, InstitutionLevel, ItemCategory, Member, Sex

from ..database import get_session
from ..masking import mask_name, mask_national_id
from ..scope import county_or_404, county_scope, personal_data, scoped, scoped_get_or_404, signed_in
from . import ApiBlueprint as Blueprint, abort, paging
from .schemas import PageQuery, PageSchema, Text, Values, exchanged, page_response, row_dumper

blp = Blueprint("api_reference", __name__, description="Claims, members and institutions (read only)")
ID = "int(max=2147483647)"


def _page(stmt: sa.Select, id_column: Any, args: dict[str, Any], leading: Any = None,
          dump: Callable[[Any], dict[str, Any]] | None = None) -> Any:
    """Newest first (id descending), ``limit`` rows after the cursor's; ``leading``: a column
    the statement holds to one value, ordered on first (the same order), so that an index on
    (``leading``, id) serves it."""
    if args.get("cursor"):
        _, ident = paging.decode(args["cursor"], "id", True, "int")
        stmt = stmt.where(id_column < ident)
    order = [id_column.desc()] if leading is None else [leading.desc(), id_column.desc()]
    rows = list(get_session().scalars(stmt.order_by(*order).limit(args["limit"] + 1)))
    more = len(rows) > args["limit"]
    rows = rows[:args["limit"]]
    cursor = paging.encode("id", True, rows[-1].id, rows[-1].id) if more else None
    return {"items": rows, "next_cursor": cursor} if dump is None else page_response(dump, rows, cursor)


def _county(args: dict[str, Any]) -> str | None:
    if args.get("county"):
        county_or_404(args["county"])  # another county's (for a county officer), or none: 404
        return args["county"]
    return None


# --- institutions ------------------------------------------------------------------------------

class InstitutionSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.Enum(InstitutionLevel, by_value=True, required=True)
    area_code = fields.String(required=True)
    active = fields.Boolean(required=True)


class InstitutionPage(PageSchema):
    items = fields.List(fields.Nested(InstitutionSchema), required=True)


class InstitutionQuery(PageQuery):
    county = Text(6, metadata={"description": "the area (county) code"})
    level = fields.String(validate=validate.OneOf(Values(InstitutionLevel)))


@blp.route("/institutions")
class Institutions(MethodView):
    @signed_in
    @blp.arguments(InstitutionQuery, location="query", as_kwargs=True)
    @blp.response(200, InstitutionPage)
    def get(self, **args: Any) -> dict[str, Any]:
        """Designated institutions: of the token's county for a county officer, else every one."""
        stmt = scoped(sa.select(Institution), Institution.area_code)
        if (county := _county(args)) is not None:
            stmt = stmt.where(Institution.area_code == county)
        if args.get("level"):
            stmt = stmt.where(Institution.level == InstitutionLevel(args["level"]))
        return _page(stmt, Institution.id, args)


@blp.route("/institutions/<code>")
class InstitutionOne(MethodView):
    @signed_in
    @blp.etag
    @blp.response(200, InstitutionSchema)
    def get(self, code: str) -> Institution:
        """An institution by its code (another county's: 404)."""
        if len(code) > 32 or "\x00" in code:
            abort(404)
        found = get_session().scalar(scoped(sa.select(Institution).where(Institution.code == code),
                                            Institution.area_code))
        if found is None:
            abort(404)
        return found


# --- claims ------------------------------------------------------------------------------------

ClaimItemSchema = Schema.from_dict(exchanged(ClaimItemRecord, ("line_no", "item_code", "item_name", "category",
                                                                "quantity", "unit_price", "amount"),
                                              {"category": ItemCategory}), name="ClaimItemSchema")


class ClaimSchema(Schema.from_dict(exchanged(ClaimRecord, (
        "kind", "member_no", "admission_date", "discharge_date", "settlement_date", "diagnosis_code", "total_amount",
        "eligible_amount", "compensated_amount", "referral", "voided"), {"kind": ClaimKind}), name="ClaimRecordFields")):
    """A claim: the fields of the exchange format's claim record as the county sent them, with
    the province's ids (its own, the institution's, the batch's) and the national id masked."""

    id = fields.Integer(required=True)
    county_code = fields.String(required=True)
    source_id = fields.String(required=True, metadata={"description": "the county's claim_id"})
    national_id = fields.Function(lambda c: mask_national_id(c.national_id), required=True,
                                  metadata={"description": "masked, as the console shows it"})
    institution_id = fields.Integer(required=True)
    batch_id = fields.Integer(allow_none=True)


_dump_claim = row_dumper(ClaimSchema())


class ClaimDetailSchema(ClaimSchema):
    items = fields.List(fields.Nested(ClaimItemSchema), required=True)


class ClaimPage(PageSchema):
    items = fields.List(fields.Nested(ClaimSchema), required=True)


class ClaimQuery(PageQuery):
    county = Text(6)
    institution = Text(32, metadata={"description": "an institution's code"})
    member_no = Text(32)
    kind = fields.String(validate=validate.OneOf(Values(ClaimKind)))
    settled_from = fields.Date()
    settled_to = fields.Date()


@blp.route("/claims")
class Claims(MethodView):
    @personal_data
    @blp.arguments(ClaimQuery, location="query", as_kwargs=True)
    @blp.response(200, ClaimPage)
    def get(self, **args: Any) -> dict[str, Any]:
        """Claims, newest first, of the token's county for a county officer."""
        # One county's (the officer's own, or the ?county= one may read: ``_county`` 404s another)
        # as a one-value range, ordered by county then id: PostgreSQL reads it through
        # ix_claim_county_id (migration 0021). Said as an equality, here or by ``scoped``, the
        # planner drops the county from the order and reads every county's claims backwards by id.
        one_county = _county(args) or county_scope()
        stmt = sa.select(Claim)
        if one_county is not None:
            stmt = stmt.where(Claim.county_code.between(one_county, one_county))
        if args.get("institution"):
            stmt = stmt.where(Claim.institution_id.in_(sa.select(Institution.id)
                                                       .where(Institution.code == args["institution"])))
        if args.get("member_no"):
            stmt = stmt.where(Claim.member_no == args["member_no"])
        if args.get("kind"):
            stmt = stmt.where(Claim.kind == ClaimKind(args["kind"]))
        if args.get("settled_from"):
            stmt = stmt.where(Claim.settlement_date >= args["settled_from"])
        if args.get("settled_to"):
            stmt = stmt.where(Claim.settlement_date <= args["settled_to"])
        return _page(stmt, Claim.id, args, leading=Claim.county_code if one_county is not None else None,
                     dump=_dump_claim)


@blp.route(f"/claims/<{ID}:claim_id>")
class ClaimOne(MethodView):
    @personal_data
    @blp.etag
    @blp.response(200, ClaimDetailSchema)
    def get(self, claim_id: int) -> Claim:
        """A claim with its items (another county's: 404)."""
        claim = scoped_get_or_404(Claim, claim_id)
        claim.items  # noqa: B018  (loaded for the schema)
        return claim


# --- members -----------------------------------------------------------------------------------

class MemberSchema(Schema.from_dict(exchanged(MemberRecord, ("member_no", "death_date")), name="MemberRecordFields")):
    """A member: the exchange record's member number and date of death, and the province's
    reading of the rest (its id, the household's, sex and birth from the national id), the
    national id and the name masked."""

    id = fields.Integer(required=True)
    county_code = fields.String(required=True)
    household_id = fields.Integer(allow_none=True)
    national_id = fields.Function(lambda m: mask_national_id(m.national_id), required=True,
                                  metadata={"description": "masked, as the console shows it"})
    name = fields.Function(lambda m: mask_name(m.name), required=True, metadata={"description": "masked"})
    sex = fields.Enum(Sex, by_value=True, required=True)
    birth_date = fields.Date(required=True)


class MemberPage(PageSchema):
    items = fields.List(fields.Nested(MemberSchema), required=True)


class MemberQuery(PageQuery):
    county = Text(6)
    member_no = Text(32)


@blp.route("/members")
class Members(MethodView):
    @personal_data
    @blp.arguments(MemberQuery, location="query", as_kwargs=True)
    @blp.response(200, MemberPage)
    def get(self, **args: Any) -> dict[str, Any]:
        """Members (national id and name masked), of the token's county for a county officer."""
        stmt = scoped(sa.select(Member), Member.county_code)
        if (county := _county(args)) is not None:
            stmt = stmt.where(Member.county_code == county)
        if args.get("member_no"):
            stmt = stmt.where(Member.member_no == args["member_no"])
        return _page(stmt, Member.id, args)


@blp.route(f"/members/<{ID}:member_id>")
class MemberOne(MethodView):
    @personal_data
    @blp.etag
    @blp.response(200, MemberSchema)
    def get(self, member_id: int) -> Member:
        """A member, masked (another county's: 404)."""
        return scoped_get_or_404(Member, member_id)
