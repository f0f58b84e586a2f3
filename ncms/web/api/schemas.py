"""The API's request and response schemas (marshmallow), and the checks every text input passes."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, jsonify
from marshmallow import Schema, ValidationError, fields, validate

from ncms.models import AnswerKind, FindingEventKind, FindingStatus, Severity
from ncms.review.workflow import MAX_TEXT


def _printable(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters")


def Text(max_length: int = 200, **kwargs):  # type: ignore[no-untyped-def]  # noqa: N802
    """A string that a database can hold (no NUL) of at most ``max_length`` characters."""
    return fields.String(validate=[validate.Length(max=max_length), _printable], **kwargs)


def Money(**kwargs):  # type: ignore[no-untyped-def]  # noqa: N802
    """An amount of yuan as text, to the fen: 1250, 1250.5, 1250.50 (never a float)."""
    return fields.String(validate=validate.Regexp(r"^-?[0-9]{1,11}(\.[0-9]{1,2})?$",
                                                  error="not an amount of yuan (1250.50)"),
                         metadata={"example": "1250.50", **kwargs.pop("metadata", {})}, **kwargs)


class Amount(fields.Decimal):
    """Money or a quantity in an answer: a decimal as text ("1250.50"), exact; documented as a
    string of format decimal (``ncms.web.api.init_app`` registers it)."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(as_string=True, **kwargs)


def exchanged(record: type, names: tuple[str, ...], enums: dict[str, type] | None = None) -> dict[str, fields.Field]:
    """The API's fields for fields of an exchange record (``ncms.exchange.schemas``) that the API
    answers as they were sent: the type read from the record's spec, its description, and empty
    where the format lets it be. The record parses a file's text; these dump the stored row."""
    from ncms.exchange.fields import BOOLEAN, CODE, DATE, DECIMAL, INTEGER

    made: dict[str, fields.Field] = {}
    for name in names:
        spec = record.specs()[name]
        options = {"required": True, "allow_none": not spec.required and spec.kind != BOOLEAN,
                   "metadata": {"description": spec.description}}
        if spec.kind == CODE and enums and name in enums:
            made[name] = fields.Enum(enums[name], by_value=True, **options)
        else:
            kind = {DECIMAL: Amount, DATE: fields.Date, BOOLEAN: fields.Boolean, INTEGER: fields.Integer}
            made[name] = kind.get(spec.kind, fields.String)(**options)
    return made


def Values(enum_cls):  # type: ignore[no-untyped-def]  # noqa: N802
    return [m.value for m in enum_cls]


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "pass as ?cursor= for the next page; null on the last"})


def row_dumper(schema: Schema) -> Callable[[Any], dict[str, Any]]:
    """``schema.dump`` of one row of a list, in half the time: each field's own conversion
    (``_serialize``: the same output) applied to the row's attribute, without marshmallow's
    per-field lookup (a page of 50 findings 1.46 -> 0.74 ms, of 50 claims 1.12 -> 0.58 ms; the
    pages under load are bound by the server's CPU, bench/api). For ORM rows, whose attributes
    are all there: a missing one raises instead of being left out of the answer."""
    plan = [(field.data_key or name, field.attribute or name, field._CHECK_ATTRIBUTE, field._serialize)
            for name, field in schema.dump_fields.items()]

    def dump(row: Any) -> dict[str, Any]:
        return {key: convert(getattr(row, attribute) if read else None, attribute, row)
                for key, attribute, read, convert in plan}
    return dump


def page_response(dump: Callable[[Any], dict[str, Any]], rows: Iterable[Any], cursor: str | None) -> Response:
    """A list's page as JSON, the rows dumped by ``dump`` (``row_dumper``): the view returns it
    whole, and flask-smorest, which documents the page's schema, passes a response through."""
    return jsonify({"items": [dump(row) for row in rows], "next_cursor": cursor})


class PageQuery(Schema):
    cursor = Text(400, metadata={"description": "the next_cursor of the previous page"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class FindingQuery(PageQuery):
    """The workbench's filters (docs/web.md, "The workbench"), with the same names."""

    rule = fields.List(Text(64))
    county = Text(6)
    institution = fields.List(Text(32))
    severity = fields.List(fields.String(validate=validate.OneOf(Values(Severity))))
    status = fields.List(fields.String(validate=validate.OneOf(Values(FindingStatus))))
    period = Text(16, metadata={"description": "2011, 2011-Q3 or 2011-07"})
    min = Money(metadata={"description": "money at stake, at least"})
    max = Money(metadata={"description": "money at stake, at most"})
    age_min = fields.Integer(validate=validate.Range(0, 99_999))
    age_max = fields.Integer(validate=validate.Range(0, 99_999))
    seen_from = fields.Date()
    seen_to = fields.Date()
    assignee = fields.String(validate=validate.Regexp(r"^(mine|unassigned|[0-9]{1,9})$"))
    overdue = fields.Boolean()
    sort = fields.String(load_default="first_seen",
                         validate=validate.OneOf(["id", "rule", "county", "severity", "status", "amount",
                                                  "first_seen", "institution", "assignee", "due"]),
                         metadata={"description": "institution (its code), assignee (the auditor's user name) and "
                                                  "due may be empty: those findings come last either way"})
    dir = fields.String(validate=validate.OneOf(["asc", "desc"]),
                        metadata={"description": "default: desc by first_seen and amount, asc otherwise"})


class FindingSchema(Schema):
    id = fields.Integer(required=True)
    version = fields.Integer(required=True, metadata={"description": "send it back with a step (409 if stale)"})
    rule_code = fields.String(required=True)
    county_code = fields.String(required=True)
    institution_id = fields.Integer(allow_none=True)
    claim_id = fields.Integer(allow_none=True)
    subject_key = fields.String(required=True)
    severity = fields.Enum(Severity, by_value=True, required=True)
    status = fields.Enum(FindingStatus, by_value=True, required=True)
    amount_at_stake = Amount(required=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    first_seen_at = fields.DateTime(required=True)
    last_seen_at = fields.DateTime(required=True)
    assignee_id = fields.Integer(allow_none=True)
    due_on = fields.Date(allow_none=True)
    pushed_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    amount_to_recover = Amount(allow_none=True)
    amount_recovered = Amount(allow_none=True)
    send_backs = fields.Integer()


class FindingPageSchema(PageSchema):
    items = fields.List(fields.Nested(FindingSchema), required=True)


class AttachmentSchema(Schema):
    """A file a step carried (a county's answer): GET /findings/attachments/{id} downloads it."""

    id = fields.Integer(required=True)
    file_name = fields.String(required=True)
    media_type = fields.String(required=True, metadata={"description": "the type found in its content"})
    size = fields.Integer(required=True)
    sha256 = fields.String(required=True)


class EventSchema(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    user_id = fields.Integer(allow_none=True)
    kind = fields.Enum(FindingEventKind, by_value=True, required=True)
    from_status = fields.Enum(FindingStatus, by_value=True, allow_none=True)
    to_status = fields.Enum(FindingStatus, by_value=True, allow_none=True)
    text = fields.String(allow_none=True)
    amount = Amount(allow_none=True)
    due_on = fields.Date(allow_none=True)
    answer_kind = fields.Enum(AnswerKind, by_value=True, allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), required=True)


class FindingDetailSchema(FindingSchema):
    evidence = fields.Dict(allow_none=True)
    parameters = fields.Dict(allow_none=True)
    events = fields.List(fields.Nested(EventSchema), required=True)


# --- the steps of the review (ncms.review.workflow) ----------------------------------------------

class Step(Schema):
    version = fields.Integer(validate=validate.Range(1, 2**31 - 1),
                             metadata={"description": "the finding's version the client read (409 if stale); "
                                                      "or send its ETag as If-Match (412 if stale); one of them"})


class AssignStep(Step):
    assignee_id = fields.Integer(allow_none=True, required=True, validate=validate.Range(1, 2**31 - 1),
                                 metadata={"description": "an auditor's user id, or null for no one"})


class PushStep(Step):
    note = Text(MAX_TEXT, load_default="")
    due_on = fields.Date(allow_none=True)


class TextStep(Step):
    text = Text(MAX_TEXT, required=True)


class AnswerStep(TextStep):
    kind = fields.String(required=True, validate=validate.OneOf(Values(AnswerKind)))


class AnswerFiles(Schema):
    files = fields.List(fields.Raw(metadata={"type": "string", "format": "binary"}), required=True,
                        metadata={"description": "the files of the answer, as the console takes them (PDF, images, "
                                                 "Excel, CSV; at most 10 of 10 MiB, 64 MiB a request)"})


class SendBackStep(TextStep):
    due_on = fields.Date(allow_none=True)


class AmountStep(Step):
    amount = Money(required=True)
    text = Text(MAX_TEXT, load_default="")


class CommentStep(Schema):
    text = Text(MAX_TEXT, required=True)
